package customer

// The audit trail as the customer rules write it.

import (
	"context"
	"fmt"

	"github.com/custodian-id/custodian/identity"
)

// Events of the second-factor step.
const (
	EventTwoFactorChallenged = "twofactor.challenged"
	EventTwoFactorVerified   = "twofactor.verified"
	EventTwoFactorFailed     = "twofactor.failed"
	EventDeviceNew           = "device.new"
	EventDeviceForgotten     = "device.forgotten"
	EventNotMe               = "account.not_me"
	EventTOTPEnrolled        = "twofactor.totp_enrolled"
	EventTOTPRemoved         = "twofactor.totp_removed"
)

// event records a security event; failing to record is logged, never fatal to the
// request.
func (s *Service) event(ctx context.Context, tenant, kind string, customerID *int64, detail map[string]any) {
	if s.events == nil {
		return
	}
	meta := identity.RequestMetaFromContext(ctx)
	e := &identity.SecurityEvent{Tenant: tenant, Kind: kind, CustomerID: customerID, IP: meta.IP, UserAgent: meta.UserAgent,
		Detail: detail, CreatedAt: s.now().UTC()}
	if customerID != nil {
		e.Subject = fmt.Sprint(*customerID)
	}
	if c, ok := ctx.Value(clientKey{}).(string); ok {
		e.ClientID = c
	}
	if err := s.events.RecordEvent(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "record security event", "kind", kind, "err", err)
	}
}

// Events reads a tenant's audit trail, newest first; customerID filters when set.
func (s *Service) Events(ctx context.Context, tenant string, customerID *int64, limit int) ([]*identity.SecurityEvent, error) {
	if s.events == nil {
		return nil, nil
	}
	return s.events.ListEvents(ctx, tenant, customerID, limit)
}

type clientKey struct{}

// WithClient notes the calling client of a request for the audit trail.
func WithClient(ctx context.Context, clientID string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientID)
}
