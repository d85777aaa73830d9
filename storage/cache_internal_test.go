package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-id/custodian/identity"
)

// fakeClock is the TTL's clock, moved by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestCache(size int, ttl time.Duration) (*readCache[string], *fakeClock) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c := newReadCache[string]("test", size, ttl, clk.now)
	c.setEnabled(true)
	return c, clk
}

// source is a row the loads read, with a count of reads.
type source struct {
	v     atomic.Value
	reads atomic.Int64
}

func (s *source) load(context.Context) (string, error) {
	s.reads.Add(1)
	return s.v.Load().(string), nil
}

func TestReadCacheTTL(t *testing.T) {
	c, clk := newTestCache(10, time.Second)
	src := &source{}
	src.v.Store("v1")
	for range 3 {
		if v, err := c.get(t.Context(), "k", src.load); err != nil || v != "v1" {
			t.Fatalf("get: %q %v", v, err)
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("3 gets within the TTL read the row %d times, want 1", n)
	}
	src.v.Store("v2") // changed by someone whose invalidation never came
	clk.add(999 * time.Millisecond)
	if v, _ := c.get(t.Context(), "k", src.load); v != "v1" {
		t.Errorf("within the TTL: %q, want the cached v1", v)
	}
	clk.add(time.Millisecond)
	if v, _ := c.get(t.Context(), "k", src.load); v != "v2" {
		t.Errorf("at the TTL: %q, want v2 read again", v)
	}
	st := c.stat()
	if st.Hits != 3 || st.Misses != 2 || st.Entries != 1 {
		t.Errorf("stats %+v, want 3 hits, 2 misses, 1 entry", st)
	}
}

func TestReadCacheInvalidate(t *testing.T) {
	c, _ := newTestCache(10, time.Hour)
	src := &source{}
	src.v.Store("v1")
	_, _ = c.get(t.Context(), "k", src.load)
	src.v.Store("v2")
	c.invalidate("k")
	if v, _ := c.get(t.Context(), "k", src.load); v != "v2" {
		t.Errorf("after invalidate: %q, want v2", v)
	}
	src.v.Store("v3")
	c.flush()
	if v, _ := c.get(t.Context(), "k", src.load); v != "v3" {
		t.Errorf("after flush: %q, want v3", v)
	}
}

// TestReadCacheInvalidationRacesLoad: a load that read the row before a change and
// finishes after its invalidation must not be stored, and a caller that arrives after
// the invalidation must not share it.
func TestReadCacheInvalidationRacesLoad(t *testing.T) {
	c, _ := newTestCache(10, time.Hour)
	started, release := make(chan struct{}), make(chan struct{})
	var reads atomic.Int64
	slowOld := func(context.Context) (string, error) {
		reads.Add(1)
		close(started)
		<-release
		return "old", nil // read before the change committed
	}
	got := make(chan string)
	go func() {
		v, _ := c.get(context.Background(), "k", slowOld)
		got <- v
	}()
	<-started
	c.invalidate("k") // the change commits and invalidates while the old load runs
	// A caller after the invalidation starts its own load instead of joining the old.
	if v, err := c.get(t.Context(), "k", func(context.Context) (string, error) { return "new", nil }); err != nil || v != "new" {
		t.Fatalf("get after the invalidation: %q %v, want new", v, err)
	}
	close(release)
	if v := <-got; v != "old" {
		t.Fatalf("the racing caller got %q", v)
	}
	// The old load finished last; what stays is the new value.
	if v, _ := c.get(t.Context(), "k", func(context.Context) (string, error) { return "reloaded", nil }); v != "new" {
		t.Errorf("after the race the cache serves %q, want new", v)
	}
	if reads.Load() != 1 {
		t.Errorf("old load ran %d times", reads.Load())
	}
}

// TestReadCacheSharesLoads: concurrent misses of one key read the row once.
func TestReadCacheSharesLoads(t *testing.T) {
	c, _ := newTestCache(10, time.Hour)
	release := make(chan struct{})
	var reads atomic.Int64
	load := func(context.Context) (string, error) {
		reads.Add(1)
		<-release
		return "v", nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if v, err := c.get(context.Background(), "k", load); v != "v" || err != nil {
				t.Errorf("get: %q %v", v, err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let the 20 pile up on the one load
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("20 concurrent misses read the row %d times, want 1", n)
	}
}

func TestReadCacheErrorsAndCancel(t *testing.T) {
	c, _ := newTestCache(10, time.Hour)
	boom := errors.New("not found")
	if _, err := c.get(t.Context(), "k", func(context.Context) (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if v, _ := c.get(t.Context(), "k", func(context.Context) (string, error) { return "v", nil }); v != "v" {
		t.Errorf("a failed load was stored: %q", v)
	}
	// A caller whose context ends stops waiting; the load completes for the others.
	ctx, cancel := context.WithCancel(t.Context())
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := c.get(ctx, "slow", func(context.Context) (string, error) { <-release; return "s", nil })
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, identity.ErrUnavailable) {
		t.Errorf("cancelled caller: %v", err)
	}
	// A caller whose deadline runs out while the load waits on a database that does not
	// answer is told the database is unavailable, as the uncached path says (never an
	// answer about the row, which would become invalid_client).
	dctx, dcancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer dcancel()
	if _, err := c.get(dctx, "stuck", func(context.Context) (string, error) { <-release; return "s", nil }); !errors.Is(err, identity.ErrUnavailable) ||
		!errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("caller past its deadline: %v", err)
	}
	close(release)
}

func TestReadCacheBoundAndOff(t *testing.T) {
	c, _ := newTestCache(100, time.Hour)
	for i := range 1000 {
		k := fmt.Sprint(i)
		_, _ = c.get(t.Context(), k, func(context.Context) (string, error) { return k, nil })
	}
	if n := c.stat().Entries; n != 100 {
		t.Errorf("%d entries, want the bound 100", n)
	}
	c.setEnabled(false)
	var reads atomic.Int64
	for range 3 {
		_, _ = c.get(t.Context(), "k", func(context.Context) (string, error) { reads.Add(1); return "v", nil })
	}
	if reads.Load() != 3 || c.stat().Entries != 0 {
		t.Errorf("a cache switched off read %d times of 3 and holds %d", reads.Load(), c.stat().Entries)
	}
}

// TestReadCacheConcurrentInvalidation: under concurrent reads, writes and
// invalidations, once the writers stop every read sees the last value.
func TestReadCacheConcurrentInvalidation(t *testing.T) {
	var row atomic.Int64
	load := func(context.Context) (int64, error) {
		v := row.Load()
		time.Sleep(time.Duration(v%3) * 100 * time.Microsecond) // loads finish out of order
		return v, nil
	}
	ic := newReadCache[int64]("ints", 10, time.Hour, nil)
	ic.setEnabled(true)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					_, _ = ic.get(context.Background(), "k", load)
				}
			}
		})
	}
	for i := range 300 {
		row.Store(int64(i + 1)) // commit
		ic.invalidate("k")      // then invalidate, as Store does
		time.Sleep(50 * time.Microsecond)
	}
	close(stop)
	wg.Wait()
	if v, _ := ic.get(t.Context(), "k", load); v != 300 {
		t.Errorf("after the last write the cache serves %d, want 300", v)
	}
}
