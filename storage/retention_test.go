package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestSweepRetention: on both databases the sweep deletes what is past its retention,
// keeps what is not, and works through a backlog larger than one batch.
func TestSweepRetention(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := storagetest.Open(t, b, storage.Options{})
			db, rebind := storagetest.SQL(t, b)
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := db.Exec(rebind(q), args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			now := time.Now().UTC().Truncate(time.Second)
			old, recent := now.Add(-400*24*time.Hour), now.Add(-time.Minute)
			exec(`INSERT INTO tenants (name, settings, created_at, updated_at) VALUES ('shop', '{}', ?, ?)`, now, now)
			exec(`INSERT INTO customers (id, tenant, email, email_key, created_at, updated_at) VALUES (7, 'shop', 'a@example.com', 'a@example.com', ?, ?)`, now, now)

			// The outbox: 250 old finished messages (more than two batches of 100), 5 recent
			// finished ones, and 3 old ones still waiting for delivery.
			for i := range 258 {
				created, next := old, any(nil)
				if i >= 250 && i < 255 {
					created = recent
				}
				if i >= 255 {
					next = now
				}
				exec(`INSERT INTO outbox (tenant, kind, recipient, created_at, next_attempt_at, delivered_at) VALUES ('shop', 'k', 'r', ?, ?, NULL)`, created, next)
			}
			for i, at := range []time.Time{old, old, recent} {
				exec(`INSERT INTO security_events (tenant, kind, created_at) VALUES ('shop', ?, ?)`, fmt.Sprint("e", i), at)
			}
			for i, at := range []time.Time{old, now.Add(-25 * time.Hour), recent} {
				exec(`INSERT INTO rate_limits (bucket, window_start, hits) VALUES (?, ?, 1)`, fmt.Sprint("b", i), at)
			}
			// One-time tokens: expired long ago, used long ago, expired a minute ago, live.
			exec(`INSERT INTO one_time_tokens (token_hash, tenant, customer_id, kind, expires_at, used_at, created_at) VALUES ('t1', 'shop', 7, 'k', ?, NULL, ?)`, old, old)
			exec(`INSERT INTO one_time_tokens (token_hash, tenant, customer_id, kind, expires_at, used_at, created_at) VALUES ('t2', 'shop', 7, 'k', ?, ?, ?)`, now.Add(time.Hour), old, old)
			exec(`INSERT INTO one_time_tokens (token_hash, tenant, customer_id, kind, expires_at, used_at, created_at) VALUES ('t3', 'shop', 7, 'k', ?, NULL, ?)`, recent, old)
			exec(`INSERT INTO one_time_tokens (token_hash, tenant, customer_id, kind, expires_at, used_at, created_at) VALUES ('t4', 'shop', 7, 'k', ?, NULL, ?)`, now.Add(time.Hour), recent)
			for i, exp := range []time.Time{old, recent, now.Add(time.Hour)} {
				exec(`INSERT INTO browser_sessions (id_hash, tenant, customer_id, session_id, auth_time, expires_at, created_at) VALUES (?, 'shop', 7, 's', ?, ?, ?)`,
					fmt.Sprint("h", i), old, exp, old)
			}
			exec(`INSERT INTO login_lockouts (tenant, customer_id, side, failures, first_failure_at, locked_until) VALUES ('shop', 7, 'old', 3, ?, NULL)`, old)
			exec(`INSERT INTO login_lockouts (tenant, customer_id, side, failures, first_failure_at, locked_until) VALUES ('shop', 7, 'new', 3, ?, NULL)`, recent)

			got, err := st.Sweep(ctx, now, storage.Retention{}, 100)
			if err != nil {
				t.Fatal(err)
			}
			for table, want := range map[string]int64{"outbox": 250, "security_events": 2, "rate_limits": 2, "one_time_tokens": 2,
				"browser_sessions": 1, "login_lockouts": 1} {
				if got[table] != want {
					t.Errorf("%s: swept %d, want %d", table, got[table], want)
				}
			}
			count := func(q string) int {
				t.Helper()
				var n int
				if err := db.QueryRow(q).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			for q, want := range map[string]int{
				`SELECT COUNT(*) FROM outbox`:                                           8,
				`SELECT COUNT(*) FROM outbox WHERE next_attempt_at IS NOT NULL`:         3, // pending messages stay, however old
				`SELECT COUNT(*) FROM security_events`:                                  1,
				`SELECT COUNT(*) FROM rate_limits`:                                      1,
				`SELECT COUNT(*) FROM one_time_tokens WHERE token_hash IN ('t3', 't4')`: 2,
				`SELECT COUNT(*) FROM one_time_tokens`:                                  2,
				`SELECT COUNT(*) FROM browser_sessions`:                                 2,
				`SELECT COUNT(*) FROM login_lockouts WHERE side = 'new'`:                1,
			} {
				if n := count(q); n != want {
					t.Errorf("%s = %d, want %d", q, n, want)
				}
			}
			// A second sweep finds nothing more; a shorter retention takes the recent rows too.
			if got, err := st.Sweep(ctx, now, storage.Retention{}, 100); err != nil || got["outbox"] != 0 || got["security_events"] != 0 {
				t.Errorf("second sweep: %v %v", got, err)
			}
			if got, err := st.Sweep(ctx, now, storage.Retention{Outbox: time.Second, SecurityEvents: time.Second}, 0); err != nil ||
				got["outbox"] != 5 || got["security_events"] != 1 {
				t.Errorf("sweep with a short retention: %v %v", got, err)
			}
		})
	}
}
