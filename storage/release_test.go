package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestReleaseMessage: a released message is due at once with its attempt taken back,
// and claimable again; a release by a node whose lease is no longer the message's (it
// expired and another node claimed it) changes nothing.
func TestReleaseMessage(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := storagetest.Open(t, b, storage.Options{})
			now := time.Now().UTC().Truncate(time.Millisecond)
			for _, to := range []string{"a@example.com", "b@example.com"} {
				if err := st.EnqueueMessage(ctx, &notify.Message{Tenant: "shop", Kind: "k", To: to, NextAttemptAt: now, CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
			}
			claimed, err := st.ClaimMessages(ctx, now, 10, 2*time.Minute)
			if err != nil || len(claimed) != 2 {
				t.Fatalf("claim: %d %v", len(claimed), err)
			}
			if err := st.ReleaseMessage(ctx, claimed[0].ID, claimed[0].NextAttemptAt, now); err != nil {
				t.Fatal(err)
			}
			// The second message's lease ran out and another node claimed it anew.
			later := now.Add(3 * time.Minute)
			again, err := st.ClaimMessages(ctx, later, 10, 2*time.Minute)
			if err != nil || len(again) != 2 {
				t.Fatalf("claim after release and expiry: %d %v", len(again), err)
			}
			for _, m := range again {
				switch m.ID {
				case claimed[0].ID:
					if m.Attempts != 1 {
						t.Errorf("released message: attempt %d, want 1 (the released claim taken back)", m.Attempts)
					}
				case claimed[1].ID:
					if m.Attempts != 2 {
						t.Errorf("expired lease: attempt %d, want 2", m.Attempts)
					}
					// The first node's late release must not undo the new claim.
					if err := st.ReleaseMessage(ctx, m.ID, claimed[1].NextAttemptAt, later); err != nil {
						t.Fatal(err)
					}
				}
			}
			if due, err := st.ClaimMessages(ctx, later, 10, 2*time.Minute); err != nil || len(due) != 0 {
				t.Errorf("a stale release made %d messages due again (%v)", len(due), err)
			}
		})
	}
}
