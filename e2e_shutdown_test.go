package custodian_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestOutboxStopsCleanly: a node stopping with 45 claimed messages finishes the send in
// progress (the SMTP server accepted it: it is marked delivered, never sent again) and
// releases the other 44 at once, so the next node sends each of them right away and
// exactly once, without waiting for the lease.
func TestOutboxStopsCleanly(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			ctx := context.Background()
			const n = 45
			now := time.Now().UTC()
			for i := range n {
				if err := e.srv.Store().EnqueueMessage(ctx, &notify.Message{Tenant: testTenant, Kind: notify.KindNewDevice,
					To: fmt.Sprintf("shopper%02d@example.com", i), Subject: "hello", Body: "body", NextAttemptAt: now, CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
			}
			held, release := smtp.Hold()
			defer release()
			stop, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				e.srv.RunMaintenance(stop, time.Hour)
				close(done)
			}()
			select {
			case <-held: // the first message is in the middle of its delivery
			case <-time.After(time.Minute): // a hang guard, not a timing assertion
				t.Fatal("the outbox sent nothing")
			}
			cancel() // the node stops (SIGTERM)
			release()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("RunMaintenance did not return after its context ended")
			}
			if got := len(smtp.Messages()); got != 1 {
				t.Fatalf("the stopping node sent %d messages, want the 1 in progress", got)
			}

			db, rebind := storagetest.SQL(t, b)
			var delivered, due, leased, counted int
			if err := db.QueryRow(rebind(`SELECT
				COUNT(CASE WHEN delivered_at IS NOT NULL THEN 1 END),
				COUNT(CASE WHEN delivered_at IS NULL AND next_attempt_at <= ? THEN 1 END),
				COUNT(CASE WHEN delivered_at IS NULL AND next_attempt_at > ? THEN 1 END),
				COUNT(CASE WHEN delivered_at IS NULL AND attempts <> 0 THEN 1 END)
				FROM outbox`), time.Now().UTC(), time.Now().UTC()).Scan(&delivered, &due, &leased, &counted); err != nil {
				t.Fatal(err)
			}
			if delivered != 1 || due != n-1 || leased != 0 || counted != 0 {
				t.Errorf("after the stop: %d delivered, %d due now, %d still leased, %d with an attempt counted; want 1, %d, 0, 0",
					delivered, due, leased, counted, n-1)
			}

			// The next node (here the same database through DeliverNotifications) sends them now.
			if got, err := e.srv.DeliverNotifications(ctx); err != nil || got != n-1 {
				t.Errorf("the next node delivered %d (%v), want %d", got, err, n-1)
			}
			seen := map[string]int{}
			for _, m := range smtp.Messages() {
				seen[m.To[0]]++
			}
			for i := range n {
				if to := fmt.Sprintf("shopper%02d@example.com", i); seen[to] != 1 {
					t.Errorf("%s received %d messages, want exactly 1", to, seen[to])
				}
			}
		})
	}
}
