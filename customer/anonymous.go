package customer

// The bound on anonymous shopper tokens (tenant setting ratelimit.anonymous_per_client).

import (
	"context"
	"time"

	"github.com/custodian-id/custodian/identity"
)

// AllowAnonymous counts one new anonymous token for a client against the tenant's
// ratelimit.anonymous_per_client (0: no limit) and fails with an
// identity.RateLimitError past it. The bucket is the client at the caller's address:
// a bucket per client alone would let one bot use up every shopper's tokens of the
// storefront, the failure the per-address limits exist to prevent.
func (s *Service) AllowAnonymous(ctx context.Context, t *identity.Tenant, clientID string) error {
	n := t.Settings.RateLimitAnonymousPerClient
	if n <= 0 {
		return nil
	}
	ip := identity.RequestMetaFromContext(ctx).IP
	return s.allow(ctx, "anon:client:"+t.Name+":"+clientID+":"+ip, Limit{Max: n, Window: time.Minute})
}
