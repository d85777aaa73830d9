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
// they stop guessing one shopper's password from many addresses.
type Limits struct {
	PerIP      Limit
	PerAccount Limit
}

// DefaultLimits are the limits of a Service whose Config names none.
func DefaultLimits() Limits {
	return Limits{PerIP: Limit{Max: 60, Window: time.Minute}, PerAccount: Limit{Max: 10, Window: time.Minute}}
}

// allow counts one attempt against a bucket and fails with a identity.RateLimitError when the
// bucket is over its limit.
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
