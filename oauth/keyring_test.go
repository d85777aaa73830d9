package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/custodian-id/custodian/identity"
)

// The server secrets of the sealing tests (identity/seal_test.go), moved with them.
var (
	sealTestSecret  = []byte("0123456789abcdef0123456789abcdef")
	sealOtherSecret = []byte("fedcba9876543210fedcba9876543210")
)

// memKeyStore is a KeyStore in memory with the constraints of the signing_keys table:
// kid is unique and a tenant has at most one key in each live state. A transaction
// works on its own copy of the keys and replays its writes on the committed keys at
// commit, all or nothing: a failed transaction leaves nothing behind, and of two
// transactions that raced the later one fails with ErrConflict, as on a database.
type memKeyStore struct {
	mu   sync.Mutex
	keys map[string]SigningKey
	// beforeCommit, when set, runs once between a transaction's work and its commit:
	// tests use it to let another node act in that window.
	beforeCommit func()
	// insertErr, when set, makes InsertKey fail.
	insertErr error
}

type memKeyTx struct {
	view map[string]SigningKey
	ops  []func(map[string]SigningKey) error
}

type memKeyTxKey struct{}

func newMemKeyStore() *memKeyStore { return &memKeyStore{keys: map[string]SigningKey{}} }

var _ KeyStore = (*memKeyStore)(nil)

func (s *memKeyStore) InsertKey(ctx context.Context, k *SigningKey) error {
	s.mu.Lock()
	failure := s.insertErr
	s.mu.Unlock()
	if failure != nil {
		return failure
	}
	row := *k
	return s.write(ctx, func(m map[string]SigningKey) error {
		if _, ok := m[row.KID]; ok {
			return fmt.Errorf("insert key %s: %w", row.KID, identity.ErrConflict)
		}
		if row.State != KeyRetired && memStateTaken(m, row.Tenant, row.State) {
			return fmt.Errorf("insert key %s: %s taken: %w", row.KID, row.State, identity.ErrConflict)
		}
		m[row.KID] = row
		return nil
	})
}

func (s *memKeyStore) SetKeyState(ctx context.Context, kid, from, to string) error {
	return s.write(ctx, func(m map[string]SigningKey) error {
		row, ok := m[kid]
		if !ok || row.State != from {
			return fmt.Errorf("set key %s %s→%s: %w", kid, from, to, identity.ErrConflict)
		}
		if to != KeyRetired && memStateTaken(m, row.Tenant, to) {
			return fmt.Errorf("set key %s %s→%s: %s taken: %w", kid, from, to, to, identity.ErrConflict)
		}
		row.State = to
		m[kid] = row
		return nil
	})
}

func (s *memKeyStore) ListKeys(ctx context.Context, tenant string) ([]*SigningKey, error) {
	var src map[string]SigningKey
	if tx, ok := ctx.Value(memKeyTxKey{}).(*memKeyTx); ok {
		src = tx.view
	} else {
		s.mu.Lock()
		defer s.mu.Unlock()
		src = s.keys
	}
	var out []*SigningKey
	for _, kid := range slices.Sorted(maps.Keys(src)) {
		if row := src[kid]; row.Tenant == tenant && row.State != KeyRetired {
			out = append(out, &row)
		}
	}
	return out, nil
}

func (s *memKeyStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(memKeyTxKey{}).(*memKeyTx); ok {
		return fn(ctx)
	}
	s.mu.Lock()
	tx := &memKeyTx{view: maps.Clone(s.keys)}
	s.mu.Unlock()
	if err := fn(context.WithValue(ctx, memKeyTxKey{}, tx)); err != nil {
		return err // rollback: the view is dropped
	}
	s.mu.Lock()
	hook := s.beforeCommit
	s.beforeCommit = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(s.keys)
	for _, op := range tx.ops {
		if err := op(next); err != nil {
			return err
		}
	}
	s.keys = next
	return nil
}

// write applies op to the transaction's view (and records it for the commit), or at
// once to the committed keys outside a transaction.
func (s *memKeyStore) write(ctx context.Context, op func(map[string]SigningKey) error) error {
	if tx, ok := ctx.Value(memKeyTxKey{}).(*memKeyTx); ok {
		if err := op(tx.view); err != nil {
			return err
		}
		tx.ops = append(tx.ops, op)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return op(s.keys)
}

// states returns kid by state of the tenant's keys, retired ones as a count.
func (s *memKeyStore) states(tenant string) (live map[string]string, retired int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live = map[string]string{}
	for _, row := range s.keys {
		switch {
		case row.Tenant != tenant:
		case row.State == KeyRetired:
			retired++
		default:
			live[row.State] = row.KID
		}
	}
	return live, retired
}

func (s *memKeyStore) edit(kid string, f func(*SigningKey)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	row := s.keys[kid]
	f(&row)
	s.keys[kid] = row
}

func memStateTaken(m map[string]SigningKey, tenant, state string) bool {
	for _, row := range m {
		if row.Tenant == tenant && row.State == state {
			return true
		}
	}
	return false
}

var keyringTestTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestKeyring(t testing.TB, store KeyStore) *Keyring {
	t.Helper()
	sealer, err := identity.NewSealer(sealTestSecret)
	if err != nil {
		t.Fatal(err)
	}
	return NewKeyring(store, sealer, func() time.Time { return keyringTestTime }, rand.Reader)
}

func mustEnsure(t testing.TB, k *Keyring, tenant, alg string) {
	t.Helper()
	if err := k.Ensure(context.Background(), tenant, alg); err != nil {
		t.Fatalf("Ensure(%s, %s): %v", tenant, alg, err)
	}
}

func kids(set *jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

type testClaims struct {
	Sub string `json:"sub"`
	N   int    `json:"n"`
}

func TestKeyringEnsure(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		tenant  string
		alg     string
		calls   int
		wantErr error
	}{
		{name: "ES256 first call", tenant: "acme", alg: AlgES256, calls: 1},
		{name: "RS256 first call", tenant: "acme", alg: AlgRS256, calls: 1},
		{name: "second call is idempotent", tenant: "acme", alg: AlgES256, calls: 2},
		{name: "five calls are idempotent", tenant: "acme", alg: AlgES256, calls: 5},
		{name: "unknown algorithm", tenant: "acme", alg: "HS256", calls: 1, wantErr: identity.ErrInvalid},
		{name: "none algorithm", tenant: "acme", alg: "none", calls: 1, wantErr: identity.ErrInvalid},
		{name: "bad tenant name", tenant: "Acme!", alg: AlgES256, calls: 1, wantErr: identity.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemKeyStore()
			k := newTestKeyring(t, store)
			var first map[string]string
			for i := range tt.calls {
				err := k.Ensure(ctx, tt.tenant, tt.alg)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("Ensure error = %v, want %v", err, tt.wantErr)
					}
					if live, _ := store.states(tt.tenant); len(live) != 0 {
						t.Fatalf("failed Ensure left keys: %v", live)
					}
					return
				}
				if err != nil {
					t.Fatalf("Ensure call %d: %v", i+1, err)
				}
				live, retired := store.states(tt.tenant)
				if len(live) != 2 || live[KeyCurrent] == "" || live[KeyNext] == "" || retired != 0 {
					t.Fatalf("after call %d: live %v, retired %d; want one current and one next", i+1, live, retired)
				}
				if first == nil {
					first = live
				} else if !maps.Equal(first, live) {
					t.Fatalf("call %d changed the keys: %v → %v", i+1, first, live)
				}
			}
			set, err := k.PublicKeys(ctx, tt.tenant)
			if err != nil {
				t.Fatal(err)
			}
			for _, jwk := range set.Keys {
				if jwk.Algorithm != tt.alg {
					t.Errorf("key %s has alg %s, want %s", jwk.KeyID, jwk.Algorithm, tt.alg)
				}
			}
		})
	}
}

// TestKeyringEnsureRace has another node create the keys between this node's read and
// its commit: the store refuses this node's keys, and Ensure must still succeed.
func TestKeyringEnsureRace(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	node1, node2 := newTestKeyring(t, store), newTestKeyring(t, store)
	var otherErr error
	store.beforeCommit = func() { otherErr = node2.Ensure(ctx, "acme", AlgES256) }
	if err := node1.Ensure(ctx, "acme", AlgES256); err != nil {
		t.Fatalf("losing Ensure: %v", err)
	}
	if otherErr != nil {
		t.Fatalf("winning Ensure: %v", otherErr)
	}
	live, _ := store.states("acme")
	if len(live) != 2 {
		t.Fatalf("live keys %v, want current and next", live)
	}
	k1, err := node1.SigningKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if k1.KeyID != live[KeyCurrent] {
		t.Fatalf("node 1 signs with %s, current is %s", k1.KeyID, live[KeyCurrent])
	}
}

func TestKeyringEnsureConcurrent(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	const nodes = 8
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		k := newTestKeyring(t, store)
		wg.Go(func() { errs[i] = k.Ensure(ctx, "acme", AlgES256) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	if live, retired := store.states("acme"); len(live) != 2 || retired != 0 {
		t.Fatalf("live %v, retired %d; want one current and one next", live, retired)
	}
}

func TestKeyringRotate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		initial string   // alg of Ensure
		rotate  []string // alg of each rotation
	}{
		{name: "ES256 three rotations", initial: AlgES256, rotate: []string{AlgES256, AlgES256, AlgES256}},
		{name: "RS256 three rotations", initial: AlgRS256, rotate: []string{AlgRS256, AlgRS256, AlgRS256}},
		{name: "ES256 to RS256", initial: AlgES256, rotate: []string{AlgRS256, AlgRS256, AlgRS256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemKeyStore()
			k := newTestKeyring(t, store)
			mustEnsure(t, k, "acme", tt.initial)
			for i, alg := range tt.rotate {
				before, _ := store.states("acme")
				if err := k.Rotate(ctx, "acme", alg); err != nil {
					t.Fatalf("rotation %d: %v", i+1, err)
				}
				after, retired := store.states("acme")
				if after[KeyCurrent] != before[KeyNext] {
					t.Errorf("rotation %d: current %s, want the old next %s", i+1, after[KeyCurrent], before[KeyNext])
				}
				if after[KeyPrevious] != before[KeyCurrent] {
					t.Errorf("rotation %d: previous %s, want the old current %s", i+1, after[KeyPrevious], before[KeyCurrent])
				}
				if after[KeyNext] == "" || slices.Contains(slices.Collect(maps.Values(before)), after[KeyNext]) {
					t.Errorf("rotation %d: next %q is not a new key", i+1, after[KeyNext])
				}
				if retired != i {
					t.Errorf("rotation %d: %d retired keys, want %d", i+1, retired, i)
				}
				set, err := k.PublicKeys(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				want := []string{after[KeyCurrent], after[KeyNext], after[KeyPrevious]}
				if got := kids(set); !slices.Equal(got, want) {
					t.Errorf("rotation %d: JWKS kids %v, want %v (current, next, previous)", i+1, got, want)
				}
				if before[KeyPrevious] != "" && slices.Contains(kids(set), before[KeyPrevious]) {
					t.Errorf("rotation %d: retired key %s still published", i+1, before[KeyPrevious])
				}
				jwk, err := k.SigningKey(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				if jwk.KeyID != before[KeyNext] {
					t.Errorf("rotation %d: signs with %s, want the old next %s", i+1, jwk.KeyID, before[KeyNext])
				}
				tok, err := k.Sign(ctx, "acme", testClaims{Sub: "s", N: i}, "JWT")
				if err != nil {
					t.Fatal(err)
				}
				hdr, err := k.Verify(ctx, "acme", tok, nil)
				if err != nil {
					t.Fatalf("rotation %d: own token: %v", i+1, err)
				}
				if hdr.KeyID != before[KeyNext] {
					t.Errorf("rotation %d: token kid %s, want %s", i+1, hdr.KeyID, before[KeyNext])
				}
			}
			// The new next key is of the rotation's algorithm; it signs one rotation later.
			set, _ := k.PublicKeys(ctx, "acme")
			if last := tt.rotate[len(tt.rotate)-1]; set.Keys[1].Algorithm != last {
				t.Errorf("next key alg %s, want %s", set.Keys[1].Algorithm, last)
			}
		})
	}
}

func TestKeyringRotateWithoutKeysEnsures(t *testing.T) {
	store := newMemKeyStore()
	k := newTestKeyring(t, store)
	if err := k.Rotate(context.Background(), "acme", AlgES256); err != nil {
		t.Fatal(err)
	}
	if live, retired := store.states("acme"); len(live) != 2 || live[KeyPrevious] != "" || retired != 0 {
		t.Fatalf("live %v, retired %d; want one current and one next", live, retired)
	}
}

// TestKeyringPartialState checks that Ensure and Rotate mend a tenant that lost its
// current or next key (a state the store's transactions should never leave behind).
func TestKeyringPartialState(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		drop   string // state whose key is retired by hand first
		rotate bool   // Rotate instead of Ensure
		// want says, per state, which old key it should hold: a state name, "new" for
		// a key made by the call, or "" for none.
		want map[string]string
	}{
		{name: "only current: Ensure adds next", drop: KeyNext,
			want: map[string]string{KeyCurrent: KeyCurrent, KeyNext: "new"}},
		{name: "only current: Rotate makes a new current and next", drop: KeyNext, rotate: true,
			want: map[string]string{KeyPrevious: KeyCurrent, KeyCurrent: "new", KeyNext: "new"}},
		{name: "only next: Ensure adds current", drop: KeyCurrent,
			want: map[string]string{KeyCurrent: "new", KeyNext: KeyNext}},
		{name: "only next: Rotate promotes it", drop: KeyCurrent, rotate: true,
			want: map[string]string{KeyCurrent: KeyNext, KeyNext: "new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemKeyStore()
			k := newTestKeyring(t, store)
			mustEnsure(t, k, "acme", AlgES256)
			before, _ := store.states("acme")
			store.edit(before[tt.drop], func(r *SigningKey) { r.State = KeyRetired })
			call := k.Ensure
			if tt.rotate {
				call = k.Rotate
			}
			if err := call(ctx, "acme", AlgES256); err != nil {
				t.Fatal(err)
			}
			after, _ := store.states("acme")
			for _, state := range []string{KeyCurrent, KeyNext, KeyPrevious} {
				switch want := tt.want[state]; want {
				case "":
					if after[state] != "" {
						t.Errorf("%s is %s, want none", state, after[state])
					}
				case "new":
					if after[state] == "" || slices.Contains(slices.Collect(maps.Values(before)), after[state]) {
						t.Errorf("%s is %q, want a new key", state, after[state])
					}
				default:
					if after[state] != before[want] {
						t.Errorf("%s is %s, want the old %s key %s", state, after[state], want, before[want])
					}
				}
			}
			tok, err := k.Sign(ctx, "acme", testClaims{Sub: "s"}, "JWT")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.Verify(ctx, "acme", tok, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestKeyringRotateConflict has another node rotate between this node's read and its
// commit: this node's rotation must fail with ErrConflict and change nothing, so the
// keys moved exactly once.
func TestKeyringRotateConflict(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	node1, node2 := newTestKeyring(t, store), newTestKeyring(t, store)
	mustEnsure(t, node1, "acme", AlgES256)
	before, _ := store.states("acme")
	var otherErr error
	store.beforeCommit = func() { otherErr = node2.Rotate(ctx, "acme", AlgES256) }
	err := node1.Rotate(ctx, "acme", AlgES256)
	if !errors.Is(err, identity.ErrConflict) {
		t.Fatalf("losing Rotate error = %v, want ErrConflict", err)
	}
	if otherErr != nil {
		t.Fatalf("winning Rotate: %v", otherErr)
	}
	after, retired := store.states("acme")
	if after[KeyCurrent] != before[KeyNext] || after[KeyPrevious] != before[KeyCurrent] || retired != 0 || len(after) != 3 {
		t.Fatalf("keys %v (retired %d) after one rotation of %v", after, retired, before)
	}
}

func TestKeyringRotateRollback(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	k := newTestKeyring(t, store)
	mustEnsure(t, k, "acme", AlgES256)
	if err := k.Rotate(ctx, "acme", AlgES256); err != nil {
		t.Fatal(err)
	}
	before, _ := store.states("acme")
	boom := errors.New("disk full")
	store.insertErr = boom
	if err := k.Rotate(ctx, "acme", AlgES256); !errors.Is(err, boom) {
		t.Fatalf("Rotate error = %v, want %v", err, boom)
	}
	after, retired := store.states("acme")
	if !maps.Equal(before, after) || retired != 0 {
		t.Fatalf("a failed rotation changed the keys: %v → %v (retired %d)", before, after, retired)
	}
}

// TestKeyringStateless checks that a node picks up another node's rotation at once.
func TestKeyringStateless(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	node1, node2 := newTestKeyring(t, store), newTestKeyring(t, store)
	mustEnsure(t, node1, "acme", AlgES256)
	tok1, err := node1.Sign(ctx, "acme", testClaims{Sub: "a"}, "JWT")
	if err != nil {
		t.Fatal(err)
	}
	if err := node2.Rotate(ctx, "acme", AlgES256); err != nil {
		t.Fatal(err)
	}
	tok2, err := node1.Sign(ctx, "acme", testClaims{Sub: "b"}, "JWT")
	if err != nil {
		t.Fatal(err)
	}
	h1, err := node2.Verify(ctx, "acme", tok1, nil)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := node2.Verify(ctx, "acme", tok2, nil)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := store.states("acme")
	if h1.KeyID != live[KeyPrevious] || h2.KeyID != live[KeyCurrent] {
		t.Fatalf("node 1 signed with %s then %s; previous %s, current %s", h1.KeyID, h2.KeyID, live[KeyPrevious], live[KeyCurrent])
	}
}

func TestKeyringVerifyAcrossRotations(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		rotations int
		wantErr   bool
	}{
		{name: "no rotation: key is current", rotations: 0},
		{name: "one rotation: key is previous", rotations: 1},
		{name: "two rotations: key is retired", rotations: 2, wantErr: true},
		{name: "three rotations: key is retired", rotations: 3, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemKeyStore()
			k := newTestKeyring(t, store)
			mustEnsure(t, k, "acme", AlgES256)
			tok, err := k.Sign(ctx, "acme", testClaims{Sub: "shopper", N: 7}, "at+jwt")
			if err != nil {
				t.Fatal(err)
			}
			for range tt.rotations {
				if err := k.Rotate(ctx, "acme", AlgES256); err != nil {
					t.Fatal(err)
				}
			}
			var got testClaims
			_, err = k.Verify(ctx, "acme", tok, &got)
			if tt.wantErr {
				if !errors.Is(err, identity.ErrInvalid) {
					t.Fatalf("Verify error = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != (testClaims{Sub: "shopper", N: 7}) {
				t.Fatalf("claims %+v", got)
			}
		})
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestKeyringVerifyRejects(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	k := newTestKeyring(t, store)
	mustEnsure(t, k, "acme", AlgES256)
	mustEnsure(t, k, "beta", AlgES256)
	mustEnsure(t, k, "rsa", AlgRS256)
	cur, err := k.SigningKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	good, err := k.Sign(ctx, "acme", testClaims{Sub: "s"}, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")

	signWith := func(key jose.SigningKey, opts *jose.SignerOptions) string {
		t.Helper()
		s, err := jose.NewSigner(key, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := s.Sign([]byte(`{"sub":"s"}`))
		if err != nil {
			t.Fatal(err)
		}
		out, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// HS256 keyed with the public key as published: the classic algorithm confusion.
	pub := cur.Public()
	pubJSON, _ := json.Marshal(pub)
	hs256 := signWith(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: pubJSON, KeyID: cur.KeyID}}, nil)
	// A key the tenant never had.
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	strangerJWK := jose.JSONWebKey{Key: stranger, Algorithm: AlgES256}
	strangerJWK.KeyID, _ = thumbprint(&jose.JSONWebKey{Key: &stranger.PublicKey})
	unknown := signWith(jose.SigningKey{Algorithm: jose.ES256, Key: strangerJWK}, nil)
	// The tenant's own key but no kid in the header.
	noKID := signWith(jose.SigningKey{Algorithm: jose.ES256, Key: cur.Key}, nil)
	otherTenant, err := k.Sign(ctx, "beta", testClaims{Sub: "s"}, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	rsaTok, err := k.Sign(ctx, "rsa", testClaims{Sub: "s"}, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	full := func() string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: cur}, nil)
		obj, _ := s.Sign([]byte(`{"sub":"s"}`))
		return obj.FullSerialize()
	}()
	// The signature segment with one byte changed in the middle.
	sig := []byte(parts[2])
	sig[10] = map[bool]byte{true: 'B', false: 'A'}[sig[10] == 'A']

	tests := []struct {
		name    string
		tenant  string
		token   string
		wantErr bool
		reason  string // part of the error, so each case fails for its own reason
	}{
		{name: "valid ES256", tenant: "acme", token: good},
		{name: "valid RS256", tenant: "rsa", token: rsaTok},
		{name: "alg none", reason: `algorithm "none" not accepted`, tenant: "acme", wantErr: true,
			token: b64(`{"alg":"none","kid":"`+cur.KeyID+`"}`) + "." + parts[1] + "."},
		{name: "alg none with the real signature", reason: `algorithm "none" not accepted`, tenant: "acme", wantErr: true,
			token: b64(`{"alg":"none","kid":"`+cur.KeyID+`"}`) + "." + parts[1] + "." + parts[2]},
		{name: "HS256 keyed with the public key", reason: `algorithm "HS256" not accepted`, tenant: "acme", token: hs256, wantErr: true},
		{name: "RS256 header on an ES256 key", reason: `is an ES256 key, token says RS256`, tenant: "acme", wantErr: true,
			token: b64(`{"alg":"RS256","kid":"`+cur.KeyID+`"}`) + "." + parts[1] + "." + parts[2]},
		{name: "unknown kid", reason: `unknown kid`, tenant: "acme", token: unknown, wantErr: true},
		{name: "kid of another tenant", reason: `unknown kid`, tenant: "acme", token: otherTenant, wantErr: true},
		{name: "no kid", reason: `no kid`, tenant: "acme", token: noKID, wantErr: true},
		{name: "tampered payload", reason: `bad signature`, tenant: "acme", wantErr: true,
			token: parts[0] + "." + b64(`{"sub":"admin"}`) + "." + parts[2]},
		{name: "tampered header", reason: `bad signature`, tenant: "acme", wantErr: true,
			token: b64(`{"alg":"ES256","kid":"`+cur.KeyID+`","typ":"JWT"}`) + "." + parts[1] + "." + parts[2]},
		{name: "tampered signature", reason: `bad signature`, tenant: "acme", wantErr: true,
			token: parts[0] + "." + parts[1] + "." + string(sig)},
		{name: "no signature", reason: `bad signature`, tenant: "acme", wantErr: true, token: parts[0] + "." + parts[1] + "."},
		{name: "JSON serialization", reason: `not a compact JWS`, tenant: "acme", token: full, wantErr: true},
		{name: "garbage", reason: `malformed`, tenant: "acme", token: "a.b.c", wantErr: true},
		{name: "empty", reason: `not a compact JWS`, tenant: "acme", token: "", wantErr: true},
		{name: "tenant without keys", reason: `unknown kid`, tenant: "gamma", token: good, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got testClaims
			_, err := k.Verify(ctx, tt.tenant, tt.token, &got)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.Sub != "s" {
					t.Fatalf("claims %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token, claims %+v", got)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("Verify error %q, want it to say %q", err, tt.reason)
			}
			if !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("Verify error %v does not wrap ErrInvalid", err)
			}
			if got != (testClaims{}) {
				t.Fatalf("a rejected token filled dest: %+v", got)
			}
		})
	}
}

func TestKeyringSignHeader(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		alg  string
		typ  string
	}{
		{name: "ES256 access token", alg: AlgES256, typ: "at+jwt"},
		{name: "ES256 saas token", alg: AlgES256, typ: "JWT"},
		{name: "RS256 access token", alg: AlgRS256, typ: "at+jwt"},
		{name: "no typ", alg: AlgES256, typ: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemKeyStore()
			k := newTestKeyring(t, store)
			mustEnsure(t, k, "acme", tt.alg)
			want := testClaims{Sub: "shopper", N: 42}
			tok, err := k.Sign(ctx, "acme", want, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			var got testClaims
			hdr, err := k.Verify(ctx, "acme", tok, &got)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("claims %+v, want %+v", got, want)
			}
			live, _ := store.states("acme")
			if hdr.KeyID != live[KeyCurrent] || hdr.Algorithm != tt.alg {
				t.Errorf("header kid %s alg %s, want %s %s", hdr.KeyID, hdr.Algorithm, live[KeyCurrent], tt.alg)
			}
			typ, present := hdr.ExtraHeaders[jose.HeaderType]
			if tt.typ == "" {
				if present {
					t.Errorf("typ %v present, want none", typ)
				}
			} else if typ != tt.typ {
				t.Errorf("typ %v, want %s", typ, tt.typ)
			}
		})
	}
}

// TestKeyringFositeSigner signs with fosite's jwt.DefaultSigner fed by SigningKey, as
// the provider does for ID tokens, and checks that Verify accepts the result.
func TestKeyringFositeSigner(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []string{AlgES256, AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			store := newMemKeyStore()
			k := newTestKeyring(t, store)
			mustEnsure(t, k, "acme", alg)
			signer := &jwt.DefaultSigner{GetPrivateKey: func(ctx context.Context) (any, error) {
				return k.SigningKey(ctx, "acme")
			}}
			tok, _, err := signer.Generate(ctx, jwt.MapClaims{"sub": "shopper", "n": 3}, &jwt.Headers{Extra: map[string]any{}})
			if err != nil {
				t.Fatal(err)
			}
			var got testClaims
			hdr, err := k.Verify(ctx, "acme", tok, &got)
			if err != nil {
				t.Fatalf("Verify of a fosite token: %v", err)
			}
			live, _ := store.states("acme")
			if hdr.KeyID != live[KeyCurrent] || hdr.Algorithm != alg || got != (testClaims{Sub: "shopper", N: 3}) {
				t.Fatalf("kid %s alg %s claims %+v", hdr.KeyID, hdr.Algorithm, got)
			}
			// fosite's own validation with the published key agrees.
			set, _ := k.PublicKeys(ctx, "acme")
			if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &set.Keys[0], nil }); err != nil {
				t.Fatalf("fosite rejects the token with the published key: %v", err)
			}
		})
	}
}

func TestKeyringSigningKey(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		alg     string
		setup   func(t *testing.T, store *memKeyStore, k *Keyring) // before a fresh Keyring reads
		wantErr error
	}{
		{name: "ES256", alg: AlgES256},
		{name: "RS256", alg: AlgRS256},
		{name: "tenant without keys", alg: AlgES256, wantErr: identity.ErrNotFound,
			setup: func(t *testing.T, store *memKeyStore, k *Keyring) { store.keys = map[string]SigningKey{} }},
		{name: "sealed key moved from another tenant", alg: AlgES256, wantErr: identity.ErrInvalid,
			setup: func(t *testing.T, store *memKeyStore, k *Keyring) {
				mustEnsure(t, k, "beta", AlgES256)
				beta, _ := store.states("beta")
				acme, _ := store.states("acme")
				store.edit(acme[KeyCurrent], func(r *SigningKey) { r.Sealed = store.keys[beta[KeyCurrent]].Sealed })
			}},
		{name: "sealed key moved from the next row", alg: AlgES256, wantErr: identity.ErrInvalid,
			setup: func(t *testing.T, store *memKeyStore, k *Keyring) {
				acme, _ := store.states("acme")
				store.edit(acme[KeyCurrent], func(r *SigningKey) { r.Sealed = store.keys[acme[KeyNext]].Sealed })
			}},
		{name: "sealed under another server secret", alg: AlgES256, wantErr: identity.ErrInvalid,
			setup: func(t *testing.T, store *memKeyStore, k *Keyring) {
				other, _ := identity.NewSealer(sealOtherSecret)
				k.Sealer = other
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemKeyStore()
			k := newTestKeyring(t, store)
			mustEnsure(t, k, "acme", tt.alg)
			fresh := newTestKeyring(t, store) // nothing cached
			if tt.setup != nil {
				tt.setup(t, store, fresh)
			}
			jwk, err := fresh.SigningKey(ctx, "acme")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SigningKey error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			live, _ := store.states("acme")
			if jwk.KeyID != live[KeyCurrent] || jwk.Algorithm != tt.alg || jwk.Use != "sig" {
				t.Fatalf("kid %q alg %q use %q", jwk.KeyID, jwk.Algorithm, jwk.Use)
			}
			if jwk.IsPublic() || !jwk.Valid() {
				t.Fatal("SigningKey did not return a valid private key")
			}
			pub := jwk.Public()
			if kid, _ := thumbprint(&pub); kid != jwk.KeyID {
				t.Fatalf("kid %s is not the RFC 7638 thumbprint %s", jwk.KeyID, kid)
			}
			// The cached key is the same; callers get their own copies.
			again, err := fresh.SigningKey(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			jwk.KeyID = "changed by a caller"
			if again.KeyID != live[KeyCurrent] {
				t.Fatal("a caller's change reached the cache")
			}
		})
	}
}

func TestKeyringPublicKeys(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	k := newTestKeyring(t, store)
	set, err := k.PublicKeys(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(set); string(raw) != `{"keys":[]}` {
		t.Fatalf("JWKS of a tenant without keys = %s", raw)
	}
	mustEnsure(t, k, "acme", AlgES256)
	if err := k.Rotate(ctx, "acme", AlgRS256); err != nil {
		t.Fatal(err)
	}
	set, err = k.PublicKeys(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	live, _ := store.states("acme")
	tests := []struct {
		name  string
		state string
		alg   string
	}{
		{name: "current first", state: KeyCurrent, alg: AlgES256},
		{name: "next second", state: KeyNext, alg: AlgRS256},
		{name: "previous third", state: KeyPrevious, alg: AlgES256},
	}
	if len(set.Keys) != len(tests) {
		t.Fatalf("%d keys, want %d", len(set.Keys), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jwk := set.Keys[i]
			if jwk.KeyID != live[tt.state] || jwk.Algorithm != tt.alg || jwk.Use != "sig" {
				t.Errorf("kid %q alg %q use %q; want %q %q sig", jwk.KeyID, jwk.Algorithm, jwk.Use, live[tt.state], tt.alg)
			}
			if !jwk.IsPublic() {
				t.Error("private key published")
			}
			raw, _ := json.Marshal(jwk)
			var fields map[string]any
			_ = json.Unmarshal(raw, &fields)
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := fields[private]; ok {
					t.Errorf("published JWK has private member %q: %s", private, raw)
				}
			}
		})
	}
}

func TestKeyCacheBounded(t *testing.T) {
	tests := []struct {
		name string
		max  int
		puts int
		want int
	}{
		{name: "below the bound", max: 3, puts: 2, want: 2},
		{name: "at the bound", max: 3, puts: 3, want: 3},
		{name: "above the bound", max: 3, puts: 10, want: 3},
		{name: "default bound", puts: keyCacheSize + 5, want: keyCacheSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &keyCache{max: tt.max}
			var last string
			for i := range tt.puts {
				last = fmt.Sprintf("acme/%d", i)
				c.put(last, &jose.JSONWebKey{KeyID: last})
			}
			if got := c.len(); got != tt.want {
				t.Fatalf("len = %d, want %d", got, tt.want)
			}
			if c.get(last) == nil {
				t.Fatal("the newest entry was evicted")
			}
		})
	}
}

func benchKeyring(b *testing.B, alg string) *Keyring {
	k := newTestKeyring(b, newMemKeyStore())
	mustEnsure(b, k, "acme", alg)
	return k
}

var benchClaims = map[string]any{
	"iss": "https://id.example.com/oauth2/acme", "sub": "c-1234", "aud": []string{"storefront"},
	"exp": 1767225600, "iat": 1767222000, "jti": "9f0c2d1e-4b5a-4c3d-8e7f-6a5b4c3d2e1f",
	"client_id": "storefront", "scope": "openid profile",
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range []string{AlgES256, AlgRS256} {
		b.Run(alg, func(b *testing.B) {
			k := benchKeyring(b, alg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Sign(ctx, "acme", benchClaims, "at+jwt"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{AlgES256, AlgRS256} {
		b.Run(alg, func(b *testing.B) {
			k := benchKeyring(b, alg)
			ctx := context.Background()
			tok, err := k.Sign(ctx, "acme", benchClaims, "at+jwt")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				var c map[string]any
				if _, err := k.Verify(ctx, "acme", tok, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
