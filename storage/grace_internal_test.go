package storage

import (
	"testing"
	"time"
)

// TestRefreshGraceMeaning pins the one meaning of the refresh grace setting, which
// custodian.Config passes through unchanged: positive is the window, zero the
// default, negative no grace.
func TestRefreshGraceMeaning(t *testing.T) {
	for _, tc := range []struct {
		set, want time.Duration
	}{
		{0, DefaultRefreshGracePeriod},
		{-1, 0},
		{-time.Hour, 0},
		{3 * time.Second, 3 * time.Second},
	} {
		if got := newStore(nil, SQLite, Options{RefreshGracePeriod: tc.set}).graceperiod; got != tc.want {
			t.Errorf("RefreshGracePeriod %s: grace window %s, want %s", tc.set, got, tc.want)
		}
	}
}
