package twofactor

import (
	"errors"
	"time"

	"github.com/custodian-id/custodian/identity"
)

// FailureKind is what kind of refusal a second-factor error is; each API dialect
// turns it into its status and code.
type FailureKind int

// The kinds of second-factor failures.
const (
	Rejected FailureKind = iota + 1 // the code, challenge or step is refused (401)
	Invalid                         // the call asks for what the challenge does not offer (400)
	Conflict                        // the enrollment is not in the state the call needs (409)
	TooSoon                         // a new code before the cooldown ends (429)
	NotFound                        // no such device or challenge (404)
)

// Failure describes a second-factor error as both customer APIs report it: its kind, a
// stable machine-readable reason, the message for the caller, and for a wrong code the
// tries left, for a resend asked too soon the wait.
type Failure struct {
	Kind       FailureKind
	Reason     string // wrong_code, code_already_used, resend_cooldown, code_expired, …
	Message    string
	Remaining  *int
	RetryAfter time.Duration
}

// FailureOf describes err, or nil when it is not a second-factor error.
func FailureOf(err error) *Failure {
	var wrong *WrongCodeError
	var cool *CooldownError
	f := func(kind FailureKind, reason string) *Failure {
		return &Failure{Kind: kind, Reason: reason, Message: err.Error()}
	}
	switch {
	case errors.As(err, &wrong):
		out := f(Rejected, "wrong_code")
		if wrong.Replayed {
			out.Reason = "code_already_used"
		}
		n := wrong.Remaining
		out.Remaining = &n
		return out
	case errors.As(err, &cool):
		out := f(TooSoon, "resend_cooldown")
		out.RetryAfter = cool.RetryAfter
		return out
	case errors.Is(err, ErrCodeExpired):
		return f(Rejected, "code_expired")
	case errors.Is(err, ErrNoAttempts):
		return f(Rejected, "no_attempts_left")
	case errors.Is(err, ErrChallenge):
		return f(Rejected, "invalid_challenge")
	case errors.Is(err, ErrTooManyCodes):
		return f(Rejected, "too_many_codes")
	case errors.Is(err, ErrMethod):
		return f(Invalid, "method_not_available")
	case errors.Is(err, ErrNotEnrolled):
		return f(Conflict, "not_enrolled")
	case errors.Is(err, ErrAlreadyEnrolled):
		return f(Conflict, "already_enrolled")
	case errors.Is(err, identity.ErrSecondFactorRequired):
		return f(Rejected, "second_factor_required")
	case errors.Is(err, ErrNotFound):
		return &Failure{Kind: NotFound, Reason: "not_found", Message: "not found"}
	}
	return nil
}
