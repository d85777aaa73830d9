package customer

// The bound of concurrent password hashing. An argon2id hash holds 19 MiB and a core
// for its duration; unbounded, 40 concurrent bad logins took a node from 295 to 809 MiB
// and 100 concurrent sign-ups to 1.86 GB. Every hash and verification of a request runs
// in one of a few slots; the others wait in a bounded queue for a bounded time and
// then fail with identity.ErrBusy (503 with Retry-After in every dialect).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/custodian-id/custodian/identity"
)

// HashLimits configure a HashLimiter; zero fields take the defaults.
type HashLimits struct {
	// Concurrent is how many hashes run at once (default: GOMAXPROCS: a hash is all
	// CPU, so more slots than cores add memory and latency, not throughput).
	Concurrent int
	// Queue is how many requests may wait for a slot (default: 32 × Concurrent); one
	// more fails at once.
	Queue int
	// Wait is how long a request waits for a slot (default: 10s).
	Wait time.Duration
}

// HashLimiter bounds the password hashes (argon2id, and verifications of imported
// hashes) that run at once on a node.
type HashLimiter struct {
	sem     *semaphore.Weighted
	queue   int64
	wait    time.Duration
	waiting atomic.Int64
}

// NewHashLimiter builds a limiter; zero limits take the defaults.
func NewHashLimiter(l HashLimits) *HashLimiter {
	if l.Concurrent <= 0 {
		l.Concurrent = runtime.GOMAXPROCS(0)
	}
	if l.Queue <= 0 {
		l.Queue = 32 * l.Concurrent
	}
	if l.Wait <= 0 {
		l.Wait = 10 * time.Second
	}
	return &HashLimiter{sem: semaphore.NewWeighted(int64(l.Concurrent)), queue: int64(l.Queue), wait: l.Wait}
}

// Do runs work in a slot: at once when one is free, else after waiting in the queue.
// A full queue, or no slot within the wait or before ctx's deadline, is
// identity.ErrBusy; a request whose caller leaves (ctx canceled) while it waits gets
// context.Canceled. work has not run when Do fails.
func (l *HashLimiter) Do(ctx context.Context, work func()) error {
	if !l.sem.TryAcquire(1) {
		if l.waiting.Add(1) > l.queue {
			l.waiting.Add(-1)
			return fmt.Errorf("password hashing queue full: %w", identity.ErrBusy)
		}
		wctx, cancel := context.WithTimeout(ctx, l.wait)
		err := l.sem.Acquire(wctx, 1)
		cancel()
		l.waiting.Add(-1)
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return fmt.Errorf("waiting for password hashing: %w", ctx.Err())
			}
			// Our wait, or the request's own deadline, ran out: busy, not a failure.
			return fmt.Errorf("no password hashing slot in time: %w", identity.ErrBusy)
		}
	}
	defer l.sem.Release(1)
	work()
	return nil
}

// hash hashes a password in a slot of the service's limiter.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	var (
		h   string
		err error
	)
	if lerr := s.hashing.Do(ctx, func() { h, err = s.hasher.Hash(password) }); lerr != nil {
		return "", lerr
	}
	return h, err
}

// verify checks a password against Custodian's own hash in a slot of the limiter.
func (s *Service) verify(ctx context.Context, encoded, password string) (bool, error) {
	var (
		ok  bool
		err error
	)
	if lerr := s.hashing.Do(ctx, func() { ok, err = s.hasher.Verify(encoded, password) }); lerr != nil {
		return false, lerr
	}
	return ok, err
}

// errBusy reports whether err is the limiter's refusal, which a caller must pass on
// rather than treat as a wrong password.
func errBusy(err error) bool { return errors.Is(err, identity.ErrBusy) }
