package customer

import (
	"context"
	"testing"
	"time"
)

// TestFailureFloor: the floor is the dearest scheme's moving average of the tenant (or
// the configured minimum), one slow moment moves it by an eighth, tenants do not share
// it, and a scheme not seen for an hour stops counting.
func TestFailureFloor(t *testing.T) {
	f := &failureFloor{min: 5 * time.Millisecond}
	if got := f.of("shop"); got != 5*time.Millisecond {
		t.Errorf("empty floor %s", got)
	}
	f.observe("shop", schemeDummy, schemeDummy, 40*time.Millisecond)
	f.observe("shop", "bcrypt $2b$ cost=10", "bcrypt", 80*time.Millisecond)
	f.observe("shop", "md5", "md5", time.Microsecond)
	if got := f.of("shop"); got != 80*time.Millisecond {
		t.Errorf("floor %s, want the dearest scheme's 80ms", got)
	}
	if got := f.of("other"); got != 5*time.Millisecond {
		t.Errorf("another tenant's floor %s", got)
	}
	// One spike of 880ms moves the average by (880-80)/8 = 100ms, not to 880ms.
	f.observe("shop", "bcrypt $2b$ cost=10", "bcrypt", 880*time.Millisecond)
	if got := f.of("shop"); got != 180*time.Millisecond {
		t.Errorf("after a spike %s, want 180ms", got)
	}
	// Observations are capped.
	f.observe("shop", "argon2 huge", "argon2", time.Hour)
	if got := f.of("shop"); got != maxObserved {
		t.Errorf("capped floor %s", got)
	}
	// A stale scheme stops counting.
	f.mu.Lock()
	f.byTen["shop"]["argon2 huge"].seen = time.Now().Add(-2 * schemeStale)
	f.mu.Unlock()
	if got := f.of("shop"); got != 180*time.Millisecond {
		t.Errorf("after the stale scheme %s", got)
	}
	// Beyond maxSchemes a new scheme counts under its format.
	for i := range maxSchemes {
		f.observe("many", string(rune('a'+i)), "x", time.Millisecond)
	}
	f.observe("many", "pbkdf2 i=7", "pbkdf2", 30*time.Millisecond)
	if _, ok := f.byTen["many"]["pbkdf2"]; !ok || len(f.byTen["many"]) != maxSchemes+1 {
		t.Errorf("schemes of a crowded tenant: %d", len(f.byTen["many"]))
	}
	// wait returns at once past the floor, and when the request is gone.
	start := time.Now().Add(-time.Second)
	f.wait(context.Background(), "shop", start)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.wait(ctx, "shop", time.Now())
}
