package identity

import (
	"errors"
	"fmt"
	"time"
)

// The shared error family. Every package wraps these (customer.ErrNotFound is
// "customer " + ErrNotFound, twofactor.ErrNotFound "twofactor: " + ErrNotFound) or
// returns them as they are, so errors.Is(err, identity.ErrNotFound) holds for every
// "not found" of Custodian, and each API dialect maps the family in one place.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
	// ErrUnavailable is a failure of the database (refused or lost connection,
	// timeout, a server shutting down or out of resources, or any other database
	// error that is not a domain answer: a failing trigger, a missing table): no
	// verdict about what was asked. storage wraps it once, where driver errors are read; every
	// dialect answers it as 503 with Retry-After, never as "not found" or "invalid".
	ErrUnavailable = errors.New("storage temporarily unavailable")
)

// ErrBusy: the node is at its bound of concurrent password hashing and the request
// waited its turn in vain (customer.HashLimiter). It is an ErrUnavailable, so every
// dialect answers it as 503 with Retry-After: no verdict about what was asked.
var ErrBusy error = busyError{}

type busyError struct{}

func (busyError) Error() string { return "busy: too many password hashes at once; try again" }

// Is makes errors.Is(ErrBusy, ErrUnavailable) true.
func (busyError) Is(target error) bool { return target == ErrUnavailable }

// Sign-in outcomes. Every entry point (login pages, password grant, ticket and login
// APIs) reads the same values.
var (
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrAccountLocked      = errors.New("account locked")
	ErrAccountInactive    = errors.New("account inactive")
	ErrRateLimited        = errors.New("too many attempts")
	// ErrSecondFactorRequired: the password was right but the sign-in needs a second
	// factor that this entry point cannot ask for.
	ErrSecondFactorRequired = errors.New("a second factor is required")
	// ErrPasswordResetRequired: the password was right, but it was checked against an
	// imported hash too weak to keep (import.weak_hash_action reset): the shopper must
	// choose a new password through the reset mail that went out.
	ErrPasswordResetRequired = errors.New("a password reset is required")
)

// RateLimitError is ErrRateLimited with the time to wait.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many attempts; retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }
