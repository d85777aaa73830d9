package twofactor_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

func TestFailureOf(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		kind      twofactor.FailureKind
		reason    string
		remaining int // -1: none
		wait      time.Duration
	}{
		{"wrong code", &twofactor.WrongCodeError{Remaining: 3}, twofactor.Rejected, "wrong_code", 3, 0},
		{"replayed code", &twofactor.WrongCodeError{Replayed: true}, twofactor.Rejected, "code_already_used", 0, 0},
		{"wrapped wrong code", fmt.Errorf("verify: %w", &twofactor.WrongCodeError{Remaining: 1}), twofactor.Rejected, "wrong_code", 1, 0},
		{"cooldown", &twofactor.CooldownError{RetryAfter: 20 * time.Second}, twofactor.TooSoon, "resend_cooldown", -1, 20 * time.Second},
		{"expired", twofactor.ErrCodeExpired, twofactor.Rejected, "code_expired", -1, 0},
		{"no attempts", twofactor.ErrNoAttempts, twofactor.Rejected, "no_attempts_left", -1, 0},
		{"challenge", twofactor.ErrChallenge, twofactor.Rejected, "invalid_challenge", -1, 0},
		{"too many codes", twofactor.ErrTooManyCodes, twofactor.Rejected, "too_many_codes", -1, 0},
		{"method", twofactor.ErrMethod, twofactor.Invalid, "method_not_available", -1, 0},
		{"not enrolled", twofactor.ErrNotEnrolled, twofactor.Conflict, "not_enrolled", -1, 0},
		{"already enrolled", twofactor.ErrAlreadyEnrolled, twofactor.Conflict, "already_enrolled", -1, 0},
		{"second factor required", identity.ErrSecondFactorRequired, twofactor.Rejected, "second_factor_required", -1, 0},
		{"not found", fmt.Errorf("device: %w", twofactor.ErrNotFound), twofactor.NotFound, "not_found", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := twofactor.FailureOf(tc.err)
			if f == nil {
				t.Fatal("no failure")
			}
			if f.Kind != tc.kind || f.Reason != tc.reason || f.RetryAfter != tc.wait {
				t.Errorf("got %+v", f)
			}
			if (tc.remaining < 0) != (f.Remaining == nil) || (f.Remaining != nil && *f.Remaining != tc.remaining) {
				t.Errorf("remaining %v, want %d", f.Remaining, tc.remaining)
			}
			if f.Message == "" {
				t.Error("no message")
			}
		})
	}
	for _, err := range []error{errors.New("database down"), identity.ErrNotFound, identity.ErrInvalidCredentials} {
		if f := twofactor.FailureOf(err); f != nil {
			t.Errorf("FailureOf(%v) = %+v, want nil: not a second-factor error", err, f)
		}
	}
}
