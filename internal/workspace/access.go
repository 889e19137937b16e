package workspace

import (
	"context"

	"github.com/auditlogd/auditlogd/internal/apperr"
)

// CheckLogAccess reports whether userID may read the workspace's audit log
// now: an ADMIN of a BUSINESS workspace. It answers FORBIDDEN (also for a
// workspace that does not exist) or BUSINESS_PLAN_REQUIRED, like the
// directives; exports call it when they are requested and again when they
// are downloaded.
func (s *Service) CheckLogAccess(ctx context.Context, userID, workspaceID string) error {
	if !validID(workspaceID) {
		return apperr.New(apperr.Forbidden, "only an admin of this workspace may do this")
	}
	acc, err := s.store.GetAccess(ctx, workspaceID, userID)
	if err != nil {
		return err
	}
	if !acc.IsAdmin() {
		return apperr.New(apperr.Forbidden, "only an admin of this workspace may do this")
	}
	if acc.Plan != PlanBusiness {
		return apperr.New(apperr.BusinessPlanRequired, "the audit log is available on the Business plan")
	}
	return nil
}
