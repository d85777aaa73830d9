package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
)

// Eventually polls cond every 5ms until it holds (true) or d has passed (false): the
// wait for a change on another node or process to arrive, without a fixed sleep.
func Eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RunCaches checks the per-node caches of tenants, clients and signing keys on one
// backend: a node (a Store whose TTL is an hour, so only invalidation can refresh it)
// reads its own writes at once, never sees a rolled-back write, hands every caller
// its own copy, and sees what another writer (a second Store, as the command line or
// another node is) changed: on PostgreSQL within a second by NOTIFY; on SQLite not
// before the TTL, which is the documented bound there.
func RunCaches(t *testing.T, b Backend) {
	node := Open(t, b, storage.Options{CacheTTL: time.Hour})
	other := Open(t, b, storage.Options{CacheTTL: -1}) // the command line: no cache
	tn := Name("cache")
	if err := other.CreateTenant(ctx, &identity.Tenant{Name: tn, Settings: identity.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	cl := &oauth.Client{Tenant: tn, ID: "backend", SecretHash: []byte("hash-1"), GrantTypes: []string{"client_credentials"}}
	if err := other.CreateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if err := other.InsertKey(ctx, key(tn, tn+"-k1", oauth.KeyCurrent)); err != nil {
		t.Fatal(err)
	}
	lockout := func(s *storage.Store) int {
		got, err := s.GetTenant(ctx, tn)
		if err != nil {
			t.Fatalf("get tenant: %v", err)
		}
		return got.Settings.LockoutThreshold
	}
	secret := func(s *storage.Store) string {
		c, err := s.GetTenantClient(ctx, tn, "backend")
		if errors.Is(err, identity.ErrNotFound) {
			return "(deleted)"
		}
		if err != nil {
			t.Fatalf("get client: %v", err)
		}
		return string(c.SecretHash)
	}
	current := func(s *storage.Store) string {
		keys, err := s.ListKeys(ctx, tn)
		if err != nil {
			t.Fatalf("list keys: %v", err)
		}
		for _, k := range keys {
			if k.State == oauth.KeyCurrent {
				return k.KID
			}
		}
		return ""
	}
	setLockout := func(s *storage.Store, ctx context.Context, n int) error {
		st := identity.DefaultSettings()
		st.LockoutThreshold = n
		return s.UpdateTenantSettings(ctx, tn, st)
	}
	// Warm the node's caches.
	if lockout(node) != 5 || secret(node) != "hash-1" || current(node) != tn+"-k1" {
		t.Fatal("first reads")
	}

	t.Run("own writes at once", func(t *testing.T) {
		if err := setLockout(node, ctx, 6); err != nil {
			t.Fatal(err)
		}
		if got := lockout(node); got != 6 {
			t.Errorf("lockout after the node's own update: %d, want 6", got)
		}
		if err := node.SetClientSecretHash(ctx, tn, "backend", []byte("hash-2")); err != nil {
			t.Fatal(err)
		}
		if got := secret(node); got != "hash-2" {
			t.Errorf("secret after the node's own rotation: %s", got)
		}
	})

	t.Run("a write in a transaction: at commit, and never when rolled back", func(t *testing.T) {
		boom := errors.New("boom")
		err := node.InTx(ctx, func(ctx context.Context) error {
			if err := setLockout(node, ctx, 9); err != nil {
				return err
			}
			if got, _ := node.GetTenant(ctx, tn); got.Settings.LockoutThreshold != 9 {
				t.Errorf("the transaction reads %d, not its own write", got.Settings.LockoutThreshold)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if got := lockout(node); got != 6 {
			t.Errorf("lockout after a rolled-back update: %d, want 6", got)
		}
		if err := node.InTx(ctx, func(ctx context.Context) error { return setLockout(node, ctx, 7) }); err != nil {
			t.Fatal(err)
		}
		if got := lockout(node); got != 7 {
			t.Errorf("lockout after a committed update: %d, want 7", got)
		}
	})

	t.Run("every caller gets its own copy", func(t *testing.T) {
		a, _ := node.GetTenant(ctx, tn)
		a.Settings.LockoutThreshold = 99
		a.Settings.GrantTypes = append(a.Settings.GrantTypes[:0], "tampered")
		c, _ := node.GetTenantClient(ctx, tn, "backend")
		c.SecretHash[0] = 'X'
		c.GrantTypes[0] = "tampered"
		b, _ := node.GetTenant(ctx, tn)
		c2, _ := node.GetTenantClient(ctx, tn, "backend")
		if b.Settings.LockoutThreshold != 7 || (len(b.Settings.GrantTypes) > 0 && b.Settings.GrantTypes[0] == "tampered") ||
			string(c2.SecretHash) != "hash-2" || c2.GrantTypes[0] != "client_credentials" {
			t.Errorf("a caller's change reached the cache: %+v %+v", b.Settings, c2)
		}
	})

	// Another writer: settings, a rotated secret, a rotated key, a deleted client.
	if err := setLockout(other, ctx, 8); err != nil {
		t.Fatal(err)
	}
	if err := other.SetClientSecretHash(ctx, tn, "backend", []byte("hash-3")); err != nil {
		t.Fatal(err)
	}
	if err := other.InTx(ctx, func(ctx context.Context) error {
		if err := other.SetKeyState(ctx, tn+"-k1", oauth.KeyCurrent, oauth.KeyPrevious); err != nil {
			return err
		}
		return other.InsertKey(ctx, key(tn, tn+"-k2", oauth.KeyCurrent))
	}); err != nil {
		t.Fatal(err)
	}
	changed := func() bool {
		return lockout(node) == 8 && secret(node) == "hash-3" && current(node) == tn+"-k2"
	}
	if node.Dialect() == storage.Postgres {
		if !Eventually(time.Second, changed) {
			t.Fatalf("another writer's changes did not reach the node within 1s: lockout %d, secret %s, key %s",
				lockout(node), secret(node), current(node))
		}
		if err := other.DeleteClient(ctx, tn, "backend"); err != nil {
			t.Fatal(err)
		}
		if !Eventually(time.Second, func() bool { return secret(node) == "(deleted)" }) {
			t.Errorf("a client deleted by another writer is still served after 1s")
		}
	} else {
		// SQLite: one process serves the file; another writer's change is seen when the
		// entry expires (the TTL, an hour here), and at once by a fresh store.
		if changed() {
			t.Errorf("the node re-read rows within the TTL: the cache does not cache")
		}
		fresh := Open(t, b, storage.Options{CacheTTL: 50 * time.Millisecond})
		if lockout(fresh) != 8 || secret(fresh) != "hash-3" || current(fresh) != tn+"-k2" {
			t.Errorf("a fresh store reads old rows")
		}
		if err := other.DeleteClient(ctx, tn, "backend"); err != nil {
			t.Fatal(err)
		}
		if !Eventually(time.Second, func() bool { return secret(fresh) == "(deleted)" }) {
			t.Errorf("with a 50ms TTL a client deleted by another process is still served after 1s")
		}
	}
	var hits uint64
	for _, st := range node.CacheStats() {
		hits += st.Hits
	}
	if hits == 0 {
		t.Errorf("no cache hits: %+v", node.CacheStats())
	}
}
