package workspace

import (
	"context"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
)

// Throttle counts failures per key; ratelimit.Limiter implements it.
type Throttle interface {
	// Check reports whether key may try again, and if not, when.
	Check(key string) (bool, time.Duration)
	// Allow takes one attempt from key's allowance.
	Allow(key string) (bool, time.Duration)
}

// SetInviteThrottle limits failed acceptInvite attempts per user and per
// client address. Without one, attempts are not limited.
func (s *Service) SetInviteThrottle(t Throttle) { s.inviteThrottle = t }

func (s *Service) throttleKeys(ctx context.Context, actor auth.Principal) []string {
	keys := []string{"user:" + actor.Subject}
	if ip := audit.RequestInfoFrom(ctx).IPAddress; ip != "" {
		keys = append(keys, "ip:"+ip)
	}
	return keys
}

func (s *Service) checkThrottle(keys []string) error {
	if s.inviteThrottle == nil {
		return nil
	}
	for _, k := range keys {
		if ok, wait := s.inviteThrottle.Check(k); !ok {
			return apperr.Throttled(wait, "too many failed invite attempts; try again in %s", wait.Round(time.Second))
		}
	}
	return nil
}

func (s *Service) chargeThrottle(keys []string) {
	if s.inviteThrottle == nil {
		return
	}
	for _, k := range keys {
		s.inviteThrottle.Allow(k)
	}
}
