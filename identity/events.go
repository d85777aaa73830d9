package identity

import (
	"context"
	"time"
)

// Security event kinds recorded in the audit trail.
const (
	EventLoginSucceeded  = "login.succeeded"
	EventLoginFailed     = "login.failed"
	EventAccountLocked   = "account.locked"
	EventAccountUnlocked = "account.unlocked"
	EventRefreshReuse    = "refresh.reuse_detected"
	EventCodeReuse       = "code.reuse_detected"
	EventLogout          = "logout"
	EventTokenRevoked    = "token.revoked"
)

// SecurityEvent is one line of the audit trail.
type SecurityEvent struct {
	ID         int64          `json:"id"`
	Tenant     string         `json:"tenant"`
	Kind       string         `json:"kind"`
	CustomerID *int64         `json:"customerId,omitempty"`
	ClientID   string         `json:"clientId,omitempty"`
	Subject    string         `json:"subject,omitempty"`
	IP         string         `json:"ip,omitempty"`
	UserAgent  string         `json:"userAgent,omitempty"`
	Detail     map[string]any `json:"detail,omitempty"`
	CreatedAt  time.Time      `json:"createdAt"`
}

// EventStore records and reads security events.
type EventStore interface {
	RecordEvent(ctx context.Context, e *SecurityEvent) error
	// ListEvents returns a tenant's events, newest first; customerID filters when set.
	ListEvents(ctx context.Context, tenant string, customerID *int64, limit int) ([]*SecurityEvent, error)
}

type requestMetaKey struct{}

// RequestMeta is what the audit trail records about the caller.
type RequestMeta struct {
	IP        string
	UserAgent string
	RequestID string
}

// WithRequestMeta returns a context carrying the caller's metadata.
func WithRequestMeta(ctx context.Context, m RequestMeta) context.Context {
	return context.WithValue(ctx, requestMetaKey{}, m)
}

// RequestMetaFromContext returns the caller's metadata, or the zero value.
func RequestMetaFromContext(ctx context.Context) RequestMeta {
	m, _ := ctx.Value(requestMetaKey{}).(RequestMeta)
	return m
}
