package workspace

import (
	"context"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
)

// Throttle limits attempts per key; ratelimit.Limiter implements it.
type Throttle interface {
	// Allow takes one attempt from key's allowance; when none is left it
	// returns false and when to try again.
	Allow(key string) (bool, time.Duration)
	// Refund gives back an attempt that Allow took.
	Refund(key string)
}

// SetInviteThrottle limits failed attempts per user and per client address:
// acceptInvite with a token that leads nowhere, and addMember with an address
// that finds nobody (each kind has its own allowance). Without one, attempts
// are not limited.
func (s *Service) SetInviteThrottle(t Throttle) { s.inviteThrottle = t }

// throttleKeys are the allowances an attempt of kind counts against.
func (s *Service) throttleKeys(ctx context.Context, kind string, actor auth.Principal) []string {
	keys := []string{kind + ":user:" + actor.Subject}
	if ip := reqinfo.From(ctx).IPAddress; ip != "" {
		keys = append(keys, kind+":ip:"+ip)
	}
	return keys
}

// takeAttempt takes one attempt from the allowance of every key, all or
// none. Taking before trying (and refunding attempts that turn out not to
// fail) is what keeps concurrent attempts from all passing a check before
// any of them is counted.
func (s *Service) takeAttempt(keys []string, what string) error {
	if s.inviteThrottle == nil {
		return nil
	}
	for i, k := range keys {
		if ok, wait := s.inviteThrottle.Allow(k); !ok {
			s.refundAttempt(keys[:i])
			return apperr.Throttled(wait, "%s; try again in %s", what, wait.Round(time.Second))
		}
	}
	return nil
}

// refundAttempt gives back an attempt that did not fail.
func (s *Service) refundAttempt(keys []string) {
	if s.inviteThrottle == nil {
		return
	}
	for _, k := range keys {
		s.inviteThrottle.Refund(k)
	}
}
