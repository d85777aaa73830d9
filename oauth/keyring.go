package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/custodian-id/custodian/identity"
)

// Signing algorithms a tenant's keys may use.
const (
	AlgES256 = string(jose.ES256)
	AlgRS256 = string(jose.RS256)
)

const (
	// rsaKeyBits is the size of generated RS256 keys.
	rsaKeyBits = 2048
	// keyCacheSize bounds each of the Keyring's caches of parsed keys. A tenant has at
	// most three live keys, so this holds every live key of a few thousand tenants; a
	// miss costs one unseal and parse, not a failure.
	keyCacheSize = 8192
)

// Keyring manages the tenants' asymmetric signing keys: it creates and rotates them,
// signs and verifies compact JWS with them, and publishes their public halves.
//
// Which key is current is read from the Store on every call; the Store serves it from
// its per-node cache, which every rotation invalidates on every node (storage's
// LISTEN/NOTIFY), and reads it afresh inside the transaction of a rotation. Parsed
// (unsealed) keys are cached here, by tenant and kid; a kid is the thumbprint of its
// key, so a cached key never goes stale.
type Keyring struct {
	Store  KeyStore
	Sealer *identity.Sealer
	Now    func() time.Time
	// Rand is passed to key generation. Since Go 1.26 crypto/ecdsa and crypto/rsa
	// ignore it and use the system source (unless GODEBUG=cryptocustomrand=1), so it
	// cannot make keys deterministic; tests that need that use
	// testing/cryptotest.SetGlobalRandom.
	Rand io.Reader

	priv keyCache // private JWKs by tenant/kid
	pub  keyCache // public JWKs by tenant/kid
}

// NewKeyring returns a Keyring; now and rnd default to time.Now and crypto/rand.
func NewKeyring(store KeyStore, sealer *identity.Sealer, now func() time.Time, rnd io.Reader) *Keyring {
	if now == nil {
		now = time.Now
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	return &Keyring{Store: store, Sealer: sealer, Now: now, Rand: rnd}
}

// Ensure gives the tenant a current and a next key of alg (ES256 or RS256) unless it
// has them. It is idempotent and safe when several nodes call it at once: the store's
// "one live key per state" index refuses the loser's keys, which then finds the
// winner's and succeeds. It must not run inside a caller's transaction, because on
// PostgreSQL a refused insert aborts the whole transaction.
func (k *Keyring) Ensure(ctx context.Context, tenant, alg string) error {
	if err := checkKeyArgs(tenant, alg); err != nil {
		return fmt.Errorf("ensure keys of tenant %q: %w", tenant, err)
	}
	live, err := k.live(ctx, tenant)
	if err != nil {
		return fmt.Errorf("ensure keys of tenant %q: %w", tenant, err)
	}
	if live.complete() {
		return nil
	}
	err = k.fill(ctx, tenant, alg, live)
	if errors.Is(err, identity.ErrConflict) {
		// Another node created keys between our read and our insert.
		if again, rerr := k.live(ctx, tenant); rerr == nil && again.complete() {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("ensure keys of tenant %q: %w", tenant, err)
	}
	return nil
}

// fill inserts, in one transaction, the current and next keys the tenant lacks. Keys
// are generated before the transaction (an RSA key takes a while) for the states
// missing in before.
func (k *Keyring) fill(ctx context.Context, tenant, alg string, before liveKeys) error {
	fresh := map[string]*SigningKey{}
	for _, state := range []string{KeyCurrent, KeyNext} {
		if before[state] == nil {
			key, err := k.generate(tenant, alg)
			if err != nil {
				return err
			}
			fresh[state] = key
		}
	}
	return k.Store.InTx(ctx, func(ctx context.Context) error {
		live, err := k.live(ctx, tenant)
		if err != nil {
			return err
		}
		for _, state := range []string{KeyCurrent, KeyNext} {
			if live[state] != nil {
				continue
			}
			key := fresh[state]
			if key == nil {
				if key, err = k.generate(tenant, alg); err != nil {
					return err
				}
			}
			key.State = state
			if err := k.Store.InsertKey(ctx, key); err != nil {
				return fmt.Errorf("insert %s key: %w", state, err)
			}
		}
		return nil
	})
}

// Rotate moves the tenant's keys on by one state in one transaction: previous is
// retired, current becomes previous, next becomes current, and a new next key of alg
// is created. When a concurrent rotation wins, Rotate fails with an error wrapping
// ErrConflict and changes nothing. A tenant without keys gets its first ones, as with
// Ensure.
func (k *Keyring) Rotate(ctx context.Context, tenant, alg string) error {
	if err := checkKeyArgs(tenant, alg); err != nil {
		return fmt.Errorf("rotate keys of tenant %q: %w", tenant, err)
	}
	live, err := k.live(ctx, tenant)
	if err != nil {
		return fmt.Errorf("rotate keys of tenant %q: %w", tenant, err)
	}
	if live[KeyCurrent] == nil && live[KeyNext] == nil {
		return k.Ensure(ctx, tenant, alg)
	}
	next, err := k.generate(tenant, alg)
	if err != nil {
		return fmt.Errorf("rotate keys of tenant %q: %w", tenant, err)
	}
	err = k.Store.InTx(ctx, func(ctx context.Context) error {
		live, err := k.live(ctx, tenant)
		if err != nil {
			return err
		}
		// Each move frees a state before the next move fills it, so the unique index
		// holds after every statement. Each move is conditional on the state read
		// above; a concurrent rotation makes one of them fail with ErrConflict.
		if prev := live[KeyPrevious]; prev != nil {
			if err := k.Store.SetKeyState(ctx, prev.KID, KeyPrevious, KeyRetired); err != nil {
				return fmt.Errorf("retire key %s: %w", prev.KID, err)
			}
		}
		if cur := live[KeyCurrent]; cur != nil {
			if err := k.Store.SetKeyState(ctx, cur.KID, KeyCurrent, KeyPrevious); err != nil {
				return fmt.Errorf("demote key %s: %w", cur.KID, err)
			}
		}
		if nx := live[KeyNext]; nx != nil {
			if err := k.Store.SetKeyState(ctx, nx.KID, KeyNext, KeyCurrent); err != nil {
				return fmt.Errorf("promote key %s: %w", nx.KID, err)
			}
		} else {
			// No next key to promote (only after a partial failure elsewhere): the
			// new current key has not been published ahead, but signing goes on.
			cur, err := k.generate(tenant, alg)
			if err != nil {
				return err
			}
			cur.State = KeyCurrent
			if err := k.Store.InsertKey(ctx, cur); err != nil {
				return fmt.Errorf("insert current key: %w", err)
			}
		}
		next.State = KeyNext
		if err := k.Store.InsertKey(ctx, next); err != nil {
			return fmt.Errorf("insert next key: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rotate keys of tenant %q: %w", tenant, err)
	}
	return nil
}

// SigningKey returns the tenant's current private key as a JSON Web Key with KeyID,
// Algorithm and Use ("sig") set, as fosite's jwt.DefaultSigner expects. It fails with
// an error wrapping ErrNotFound when the tenant has no current key.
func (k *Keyring) SigningKey(ctx context.Context, tenant string) (*jose.JSONWebKey, error) {
	live, err := k.live(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("signing key of tenant %q: %w", tenant, err)
	}
	cur := live[KeyCurrent]
	if cur == nil {
		return nil, fmt.Errorf("signing key of tenant %q: %w: no current key", tenant, identity.ErrNotFound)
	}
	jwk, err := k.privateJWK(cur)
	if err != nil {
		return nil, fmt.Errorf("signing key of tenant %q: %w", tenant, err)
	}
	out := *jwk // callers get their own copy of the (immutable) key's wrapper
	return &out, nil
}

type preloadedKey struct{ tenant string }

// Preload reads the tenant's current signing key once and returns a context in which
// Sign uses it without reading the store. A token response that rotates a refresh
// token preloads before the rotation, so signing after the rotation committed cannot
// fail on a storage error: the response is either fully done or changes nothing.
func (k *Keyring) Preload(ctx context.Context, tenant string) (context.Context, error) {
	if _, ok := ctx.Value(preloadedKey{tenant: tenant}).(*jose.JSONWebKey); ok {
		return ctx, nil
	}
	jwk, err := k.SigningKey(ctx, tenant)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, preloadedKey{tenant: tenant}, jwk), nil
}

// PublicKeys returns the public halves of the tenant's current, next and previous keys,
// in that order, each with kid, alg and use "sig". A tenant without keys has an empty
// set.
func (k *Keyring) PublicKeys(ctx context.Context, tenant string) (*jose.JSONWebKeySet, error) {
	live, err := k.live(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("public keys of tenant %q: %w", tenant, err)
	}
	set := &jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, 3)}
	for _, state := range []string{KeyCurrent, KeyNext, KeyPrevious} {
		row := live[state]
		if row == nil {
			continue
		}
		jwk, err := k.publicJWK(row)
		if err != nil {
			return nil, fmt.Errorf("public keys of tenant %q: %w", tenant, err)
		}
		set.Keys = append(set.Keys, *jwk)
	}
	return set, nil
}

// Sign marshals claims as JSON and signs them with the tenant's current key as a
// compact JWS whose header carries the key's kid and, unless typ is empty, typ (e.g.
// "at+jwt" for RFC 9068 access tokens, "JWT").
//
// A key Preload put in ctx for the tenant signs without reading the store.
func (k *Keyring) Sign(ctx context.Context, tenant string, claims any, typ string) (string, error) {
	jwk, ok := ctx.Value(preloadedKey{tenant: tenant}).(*jose.JSONWebKey)
	if !ok {
		var err error
		if jwk, err = k.SigningKey(ctx, tenant); err != nil {
			return "", err
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign for tenant %q: claims: %w", tenant, err)
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(jwk.Algorithm), Key: jwk}, opts)
	if err != nil {
		return "", fmt.Errorf("sign for tenant %q: %w", tenant, err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign for tenant %q: %w", tenant, err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sign for tenant %q: %w", tenant, err)
	}
	return out, nil
}

// Verify checks a compact JWS signed with one of the tenant's live keys (current, next
// or previous) and unmarshals its JSON payload into dest (skipped when dest is nil).
// Only ES256 and RS256 are accepted, and only with the key the header's kid names.
// It returns the protected header. Failures wrap ErrInvalid.
//
// Verify checks the signature only: expiry, not-before, issuer, audience and typ are
// the caller's to check against the claims and header.
func (k *Keyring) Verify(ctx context.Context, tenant, token string, dest any) (jose.Header, error) {
	fail := func(format string, args ...any) (jose.Header, error) {
		return jose.Header{}, fmt.Errorf("verify token of tenant %q: %w: "+format, append([]any{tenant, identity.ErrInvalid}, args...)...)
	}
	// go-jose also parses the JSON serialization; tokens are compact only.
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, "{ \t\r\n") {
		return fail("not a compact JWS")
	}
	jws, err := jose.ParseSigned(token)
	if err != nil {
		return fail("malformed: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return fail("want one signature, got %d", len(jws.Signatures))
	}
	hdr := jws.Signatures[0].Protected
	if hdr.Algorithm != AlgES256 && hdr.Algorithm != AlgRS256 {
		return fail("algorithm %q not accepted", hdr.Algorithm)
	}
	if hdr.KeyID == "" {
		return fail("no kid in header")
	}
	live, err := k.live(ctx, tenant)
	if err != nil {
		// A store failure is not the token's fault; keep ErrInvalid out of it.
		return jose.Header{}, fmt.Errorf("verify token of tenant %q: %w", tenant, err)
	}
	var row *SigningKey
	for _, r := range live {
		if r.KID == hdr.KeyID {
			row = r
		}
	}
	if row == nil {
		return fail("unknown kid %q", hdr.KeyID)
	}
	if row.Alg != hdr.Algorithm {
		return fail("kid %q is an %s key, token says %s", row.KID, row.Alg, hdr.Algorithm)
	}
	pub, err := k.publicJWK(row)
	if err != nil {
		return jose.Header{}, fmt.Errorf("verify token of tenant %q: %w", tenant, err)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return fail("bad signature")
	}
	if dest != nil {
		if err := json.Unmarshal(payload, dest); err != nil {
			return fail("payload: %v", err)
		}
	}
	return hdr, nil
}

// liveKeys are a tenant's non-retired keys by state.
type liveKeys map[string]*SigningKey

func (l liveKeys) complete() bool { return l[KeyCurrent] != nil && l[KeyNext] != nil }

// live reads the tenant's keys from the store.
func (k *Keyring) live(ctx context.Context, tenant string) (liveKeys, error) {
	rows, err := k.Store.ListKeys(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	live := liveKeys{}
	for _, r := range rows {
		switch {
		case r.Tenant != tenant || r.State == KeyRetired:
			continue
		case r.State != KeyCurrent && r.State != KeyNext && r.State != KeyPrevious:
			return nil, fmt.Errorf("key %s has unknown state %q", r.KID, r.State)
		case live[r.State] != nil:
			// The store's unique index forbids this; refuse to guess which one signs.
			return nil, fmt.Errorf("two %s keys: %s and %s", r.State, live[r.State].KID, r.KID)
		}
		live[r.State] = r
	}
	return live, nil
}

// generate makes a new key of alg for the tenant, sealed and ready to insert (the
// caller sets State).
func (k *Keyring) generate(tenant, alg string) (*SigningKey, error) {
	rnd := k.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rnd)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rnd, rsaKeyBits)
	default:
		return nil, fmt.Errorf("%w: signing algorithm %q (want ES256 or RS256)", identity.ErrInvalid, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	if pub.KeyID, err = thumbprint(&pub); err != nil {
		return nil, err
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	sealed, err := k.Sealer.Seal(der, []byte(keyRef(tenant, pub.KeyID)))
	clear(der)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	t := now().UTC()
	return &SigningKey{
		KID:       pub.KeyID,
		Tenant:    tenant,
		Alg:       alg,
		Sealed:    sealed,
		PublicJWK: pubJSON,
		CreatedAt: t,
		UpdatedAt: t,
	}, nil
}

// privateJWK unseals and parses a stored key, or returns it from the cache.
func (k *Keyring) privateJWK(row *SigningKey) (*jose.JSONWebKey, error) {
	ref := keyRef(row.Tenant, row.KID)
	if jwk := k.priv.get(ref); jwk != nil {
		return jwk, nil
	}
	der, err := k.Sealer.Open(row.Sealed, []byte(ref))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", row.KID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w: %v", row.KID, identity.ErrInvalid, err)
	}
	jwk := &jose.JSONWebKey{Key: parsed, KeyID: row.KID, Algorithm: row.Alg, Use: "sig"}
	if err := checkStoredKey(row, jwk); err != nil {
		return nil, err
	}
	k.priv.put(ref, jwk)
	return jwk, nil
}

// publicJWK parses a stored public key, or returns it from the cache.
func (k *Keyring) publicJWK(row *SigningKey) (*jose.JSONWebKey, error) {
	ref := keyRef(row.Tenant, row.KID)
	if jwk := k.pub.get(ref); jwk != nil {
		return jwk, nil
	}
	jwk := &jose.JSONWebKey{}
	if err := json.Unmarshal(row.PublicJWK, jwk); err != nil {
		return nil, fmt.Errorf("key %s: %w: public JWK: %v", row.KID, identity.ErrInvalid, err)
	}
	if !jwk.IsPublic() {
		return nil, fmt.Errorf("key %s: %w: public JWK holds private material", row.KID, identity.ErrInvalid)
	}
	jwk.KeyID, jwk.Algorithm, jwk.Use = row.KID, row.Alg, "sig"
	if err := checkStoredKey(row, jwk); err != nil {
		return nil, err
	}
	k.pub.put(ref, jwk)
	return jwk, nil
}

// checkStoredKey checks that a key read back from the store is of the row's algorithm
// and that its thumbprint is the row's kid, so a row whose columns were mixed up is
// refused rather than used.
func checkStoredKey(row *SigningKey, jwk *jose.JSONWebKey) error {
	ok := false
	switch key := jwk.Key.(type) {
	case *ecdsa.PrivateKey:
		ok = row.Alg == AlgES256 && key.Curve == elliptic.P256()
	case *ecdsa.PublicKey:
		ok = row.Alg == AlgES256 && key.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		ok = row.Alg == AlgRS256 && key.N.BitLen() >= rsaKeyBits
	case *rsa.PublicKey:
		ok = row.Alg == AlgRS256 && key.N.BitLen() >= rsaKeyBits
	}
	if !ok {
		return fmt.Errorf("key %s: %w: a %T is not an %s key", row.KID, identity.ErrInvalid, jwk.Key, row.Alg)
	}
	pub := jwk.Public()
	kid, err := thumbprint(&pub)
	if err != nil {
		return err
	}
	if kid != row.KID {
		return fmt.Errorf("key %s: %w: key has thumbprint %s", row.KID, identity.ErrInvalid, kid)
	}
	return nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of a key, base64url without padding:
// the kid of every key the Keyring makes.
func thumbprint(jwk *jose.JSONWebKey) (string, error) {
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// keyRef names a key as tenant/kid: the additional data its sealed private key is
// bound to, and its cache key.
func keyRef(tenant, kid string) string { return tenant + "/" + kid }

func checkKeyArgs(tenant, alg string) error {
	if !identity.ValidTenantName(tenant) {
		return fmt.Errorf("%w: tenant name %q", identity.ErrInvalid, tenant)
	}
	if alg != AlgES256 && alg != AlgRS256 {
		return fmt.Errorf("%w: signing algorithm %q (want ES256 or RS256)", identity.ErrInvalid, alg)
	}
	return nil
}

// keyCache maps tenant/kid to a parsed key. It holds at most max entries (default
// keyCacheSize) and evicts an arbitrary one when full. The zero value is ready to use.
type keyCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*jose.JSONWebKey
}

func (c *keyCache) get(ref string) *jose.JSONWebKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[ref]
}

func (c *keyCache) put(ref string, jwk *jose.JSONWebKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.max
	if limit <= 0 {
		limit = keyCacheSize
	}
	if c.m == nil {
		c.m = make(map[string]*jose.JSONWebKey)
	}
	if _, ok := c.m[ref]; !ok && len(c.m) >= limit {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[ref] = jwk
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
