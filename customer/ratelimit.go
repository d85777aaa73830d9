package customer

// Rate limits of the credential endpoints, counted in the store's fixed-window buckets
// (storage/ratelimit.go) so that every node agrees.

import (
	"context"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/identity"
)

// Limit is one rate limit: at most Max events per Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// Limits of the credential endpoints. Per client IP they stop spraying; per account
// they stop guessing one shopper's password from many addresses; sign-ups per IP stop
// bots from creating accounts (each an argon2id hash and rows) and from mailing
// strangers through reset requests and opt-in resends.
type Limits struct {
	PerIP       Limit
	PerAccount  Limit
	SignupPerIP Limit
}

// LimitsOf are a tenant's limits, from its settings ratelimit.login_per_ip,
// ratelimit.login_per_account and ratelimit.signup_per_ip (per minute; 0: off).
func LimitsOf(t *identity.Tenant) Limits {
	st := t.Settings
	return Limits{
		PerIP:       Limit{Max: st.LoginPerIP, Window: time.Minute},
		PerAccount:  Limit{Max: st.LoginPerAccount, Window: time.Minute},
		SignupPerIP: Limit{Max: st.SignupPerIP, Window: time.Minute},
	}
}

// limitsOf are the limits that apply to a tenant: the tenant's settings, unless the
// Service was built with fixed Limits (Config.Limits).
func (s *Service) limitsOf(t *identity.Tenant) Limits {
	if s.limits != (Limits{}) {
		return s.limits
	}
	return LimitsOf(t)
}

// allow counts one attempt against a bucket and fails with a identity.RateLimitError when the
// bucket is over its limit. A limit of 0 is off and counts nothing.
func (s *Service) allow(ctx context.Context, bucket string, l Limit) error {
	if s.guard == nil || l.Max <= 0 {
		return nil
	}
	n, end, err := s.guard.Hit(ctx, bucket, l.Window)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if n > l.Max {
		return &identity.RateLimitError{RetryAfter: max(end.Sub(s.now()), time.Second)}
	}
	return nil
}
