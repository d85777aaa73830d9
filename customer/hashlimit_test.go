package customer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-id/custodian/identity"
)

// TestHashLimiter: with a slow injected work the bound is never exceeded, a request that
// waits too long or finds the queue full gets identity.ErrBusy (an ErrUnavailable, so
// every dialect answers 503), and a caller that leaves gets its own context error.
func TestHashLimiter(t *testing.T) {
	l := NewHashLimiter(HashLimits{Concurrent: 2, Queue: 3, Wait: 50 * time.Millisecond})
	release := make(chan struct{})
	var running, peak atomic.Int64
	slow := func() {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		running.Add(-1)
	}
	ctx := context.Background()
	// Two slow hashes take both slots.
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Do(ctx, func() { started <- struct{}{}; slow() }); err != nil {
				t.Error(err)
			}
		}()
	}
	<-started
	<-started

	t.Run("the queue times out with ErrBusy", func(t *testing.T) {
		ran := false
		err := l.Do(ctx, func() { ran = true })
		if !errors.Is(err, identity.ErrBusy) || !errors.Is(err, identity.ErrUnavailable) || ran {
			t.Errorf("err %v, ran %v", err, ran)
		}
	})
	t.Run("a full queue answers at once", func(t *testing.T) {
		long := NewHashLimiter(HashLimits{Concurrent: 1, Queue: 1, Wait: time.Hour})
		hold := make(chan struct{})
		in := make(chan struct{})
		go func() { _ = long.Do(ctx, func() { close(in); <-hold }) }()
		<-in
		waiting := make(chan error, 1)
		wctx, cancel := context.WithCancel(ctx)
		go func() { waiting <- long.Do(wctx, func() {}) }()
		for long.waiting.Load() != 1 {
			time.Sleep(time.Millisecond)
		}
		if err := long.Do(ctx, func() {}); !errors.Is(err, identity.ErrBusy) {
			t.Errorf("over the queue: %v", err)
		}
		cancel()
		if err := <-waiting; !errors.Is(err, context.Canceled) || errors.Is(err, identity.ErrBusy) {
			t.Errorf("a caller that left: %v", err)
		}
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer dcancel()
		if err := long.Do(dctx, func() {}); !errors.Is(err, identity.ErrBusy) {
			t.Errorf("the request's deadline ran out while waiting: %v", err)
		}
		close(hold)
	})
	t.Run("the bound holds under a crowd", func(t *testing.T) {
		crowd := NewHashLimiter(HashLimits{Concurrent: 3, Queue: 100, Wait: time.Minute})
		var now, most atomic.Int64
		var cw sync.WaitGroup
		for range 40 {
			cw.Add(1)
			go func() {
				defer cw.Done()
				_ = crowd.Do(ctx, func() {
					n := now.Add(1)
					for p := most.Load(); n > p && !most.CompareAndSwap(p, n); p = most.Load() {
					}
					time.Sleep(time.Millisecond)
					now.Add(-1)
				})
			}()
		}
		cw.Wait()
		if most.Load() > 3 || most.Load() < 1 {
			t.Errorf("%d hashes ran at once, the bound is 3", most.Load())
		}
	})
	close(release)
	wg.Wait()
	if peak.Load() > 2 {
		t.Errorf("%d ran at once, the bound is 2", peak.Load())
	}
}

// TestHashBoundReachesTheService: a sign-in or sign-up that finds no hashing slot fails
// with ErrBusy and writes nothing.
func TestHashBoundReachesTheService(t *testing.T) {
	l := NewHashLimiter(HashLimits{Concurrent: 1, Queue: 1, Wait: 20 * time.Millisecond})
	s := &Service{hasher: &PasswordHasher{Memory: 64, Time: 1, Threads: 1}, hashing: l}
	hold, in := make(chan struct{}), make(chan struct{})
	go func() { _ = l.Do(context.Background(), func() { close(in); <-hold }) }()
	<-in
	defer close(hold)
	if _, err := s.hash(context.Background(), "correct horse battery"); !errors.Is(err, identity.ErrBusy) {
		t.Errorf("hash: %v", err)
	}
	if _, err := s.verify(context.Background(), "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "x"); !errors.Is(err, identity.ErrBusy) {
		t.Errorf("verify: %v", err)
	}
}
