package twofactor

// Devices a customer signed in from, as the policy sees them (by a keyed hash of the
// fingerprint): seen, trusted for a while after a second factor, forgotten.

import (
	"context"
	"fmt"
	"time"
)

// Seen is a sign-in from a device.
type Seen struct {
	Tenant     string
	CustomerID int64
	Attempt    Attempt
	UserAgent  string
	// TrustFor, when positive, trusts the device for this long (rememberDevice).
	TrustFor time.Duration
}

// Touch records a sign-in from a device and returns it (nil without a fingerprint) and
// whether it is new to the account.
func (s *Service) Touch(ctx context.Context, in Seen) (*Device, bool, error) {
	if in.Attempt.FingerprintHash == "" {
		return nil, false, nil
	}
	now := s.now().UTC()
	d := &Device{Tenant: in.Tenant, CustomerID: in.CustomerID, FingerprintHash: in.Attempt.FingerprintHash,
		Region: in.Attempt.Region, UserAgent: truncate(in.UserAgent, 256), CreatedAt: now, LastSeenAt: now}
	var trust *time.Time
	if in.TrustFor > 0 {
		until := now.Add(in.TrustFor)
		trust, d.TrustedUntil = &until, &until
	}
	created, err := s.store.TouchDevice(ctx, d, trust)
	if err != nil {
		return nil, false, fmt.Errorf("record device: %w", err)
	}
	return d, created, nil
}

// Devices lists a customer's devices, most recently used first.
func (s *Service) Devices(ctx context.Context, tenant string, customerID int64) ([]Device, error) {
	return s.store.ListDevices(ctx, tenant, customerID)
}

// Forget removes a device.
func (s *Service) Forget(ctx context.Context, tenant string, customerID int64, id string) error {
	return s.store.DeleteDevice(ctx, tenant, customerID, id)
}

// ForgetAll removes every device of a customer and returns their ids.
func (s *Service) ForgetAll(ctx context.Context, tenant string, customerID int64) ([]string, error) {
	return s.store.DeleteDevices(ctx, tenant, customerID)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
