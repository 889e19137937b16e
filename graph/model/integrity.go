package model

import "github.com/auditlogd/auditlogd/internal/integrity"

// NewAuditLogVerification maps a verification onto the API's type.
func NewAuditLogVerification(v integrity.Verification) *AuditLogVerification {
	out := &AuditLogVerification{Ok: v.OK, CheckedEvents: int(v.CheckedEvents), Head: &v.Head,
		Problems: make([]IntegrityProblem, len(v.Problems))}
	if v.FirstSequence != nil {
		n := int(*v.FirstSequence)
		out.FirstSequence = &n
	}
	if v.LastSequence != nil {
		n := int(*v.LastSequence)
		out.LastSequence = &n
	}
	for i, p := range v.Problems {
		out.Problems[i] = IntegrityProblem{Kind: p.Kind, Sequence: int(p.Sequence), Detail: p.Detail}
		if p.EventID != "" {
			id := p.EventID
			out.Problems[i].EventID = &id
		}
	}
	return out
}
