package storagetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/storage"
)

func testOutbox(t *testing.T, s *storage.Store) {
	now := time.Now().UTC().Truncate(time.Second)
	m := &notify.Message{Tenant: "alpha", Kind: notify.KindPasswordReset, To: "a@example.com", Subject: "Reset",
		Body: "secret link", Data: map[string]any{"token": "t"}, NextAttemptAt: now, CreatedAt: now}
	if err := s.EnqueueMessage(ctx, m); err != nil || m.ID == 0 {
		t.Fatalf("enqueue: %v", err)
	}
	// A rolled-back transaction leaves no message behind.
	_ = s.InTx(ctx, func(ctx context.Context) error {
		_ = s.EnqueueMessage(ctx, &notify.Message{Tenant: "alpha", Kind: "x", To: "b@example.com", NextAttemptAt: now, CreatedAt: now})
		return errors.New("abort")
	})
	if got, _ := s.ClaimMessages(ctx, now.Add(-time.Minute), 10, time.Minute); len(got) != 0 {
		t.Errorf("claimed a message before it was due: %v", got)
	}
	// Two nodes claim at once: the message goes to exactly one.
	var mu sync.Mutex
	claimed := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ClaimMessages(ctx, now, 10, time.Minute)
			if err != nil {
				t.Errorf("claim: %v", err)
			}
			mu.Lock()
			claimed += len(got)
			mu.Unlock()
			for _, g := range got {
				if g.Body != "secret link" || g.Data["token"] != "t" || g.Attempts != 1 {
					t.Errorf("claimed message: %+v", g)
				}
			}
		}()
	}
	wg.Wait()
	if claimed != 1 {
		t.Fatalf("claimed %d times, want 1", claimed)
	}
	// A failed attempt comes back when due.
	next := now.Add(time.Minute)
	if err := s.MarkFailed(ctx, m.ID, &next, "smtp down"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.ClaimMessages(ctx, next, 10, time.Minute)
	if len(got) != 1 || got[0].Attempts != 2 || got[0].LastError != "smtp down" {
		t.Fatalf("retry claim: %+v", got)
	}
	if err := s.MarkDelivered(ctx, m.ID, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimMessages(ctx, next.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Errorf("delivered message claimed again")
	}
}

func testRateLimit(t *testing.T, s *storage.Store) {
	var last int
	for i := range 5 {
		n, end, err := s.Hit(ctx, "login:ip:1.2.3.4", time.Hour)
		if err != nil || n != i+1 || !end.After(time.Now()) {
			t.Fatalf("hit %d: %d %v %v", i, n, end, err)
		}
		last = n
	}
	if n, _, _ := s.Hit(ctx, "another", time.Hour); n != 1 {
		t.Errorf("buckets not separate: %d", n)
	}
	// Concurrent hits are all counted.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = s.Hit(ctx, "login:ip:1.2.3.4", time.Hour)
		}()
	}
	wg.Wait()
	if n, _, _ := s.Hit(ctx, "login:ip:1.2.3.4", time.Hour); n != last+11 {
		t.Errorf("concurrent hits lost: %d, want %d", n, last+11)
	}
}
