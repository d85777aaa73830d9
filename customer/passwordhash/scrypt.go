package passwordhash

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math/bits"
	"strings"

	"golang.org/x/crypto/scrypt"
)

type scryptParams struct {
	n, r, p int
	salt    []byte
	key     []byte
}

// checkScrypt validates N, r and p and holds them to the limits.
func checkScrypt(f Format, n, r, p uint64, lim Limits) error {
	if n < 2 || n&(n-1) != 0 || n > 1<<40 {
		return refuse(f, ErrMalformed, "scrypt N must be a power of two ≥ 2")
	}
	if r < 1 || p < 1 || r > 1<<20 || p > 1<<20 || r*p >= 1<<30 {
		return refuse(f, ErrMalformed, "scrypt r and p must be ≥ 1 with r·p < 2^30")
	}
	if mem, ok := mul(128, n, r); !ok || mem > lim.MaxScryptMemory {
		return refuse(f, ErrOverLimit, "scrypt memory 128·N·r is over the limit %d bytes", lim.MaxScryptMemory)
	}
	if work, ok := mul(128, n, r, p); !ok || work > lim.MaxScryptWork {
		return refuse(f, ErrOverLimit, "scrypt work 128·N·r·p is over the limit %d bytes", lim.MaxScryptWork)
	}
	return nil
}

// mul multiplies, reporting false on overflow.
func mul(xs ...uint64) (uint64, bool) {
	prod := uint64(1)
	for _, x := range xs {
		hi, lo := bits.Mul64(prod, x)
		if hi != 0 {
			return 0, false
		}
		prod = lo
	}
	return prod, true
}

func (s scryptParams) verdict() Verdict {
	if nrp := s.n * s.r * s.p; nrp < WeakScryptNRP {
		return weak("scrypt N·r·p = %d is below %d (N=2^14, r=8, p=1)", nrp, WeakScryptNRP)
	}
	return strong
}

func (s scryptParams) hash() *Hash {
	return &Hash{
		scheme:  fmt.Sprintf("scrypt ln=%d,r=%d,p=%d", bits.TrailingZeros(uint(s.n)), s.r, s.p),
		verdict: s.verdict(),
		verify: func(pw []byte) (bool, error) {
			got, err := scrypt.Key(pw, s.salt, s.n, s.r, s.p, len(s.key))
			if err != nil {
				return false, fmt.Errorf("scrypt: %w", err)
			}
			return subtle.ConstantTimeCompare(got, s.key) == 1, nil
		},
	}
}

// parseScryptPHC reads passlib's scrypt PHC string: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>,
// salt and hash in standard base64 without padding.
func parseScryptPHC(s string, lim Limits) (*Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "scrypt" {
		return nil, refuse(Scrypt, ErrMalformed, "scrypt hash must be a PHC string $scrypt$ln=…,r=…,p=…$salt$hash")
	}
	params := strings.Split(parts[2], ",")
	if len(params) != 3 || !strings.HasPrefix(params[0], "ln=") || !strings.HasPrefix(params[1], "r=") ||
		!strings.HasPrefix(params[2], "p=") {
		return nil, refuse(Scrypt, ErrMalformed, "scrypt parameters must be exactly ln=…,r=…,p=…")
	}
	ln, ok1 := parseDecimal(params[0][3:])
	r, ok2 := parseDecimal(params[1][2:])
	p, ok3 := parseDecimal(params[2][2:])
	if !ok1 || !ok2 || !ok3 || ln < 1 || ln > 40 {
		return nil, refuse(Scrypt, ErrMalformed, "scrypt parameters ln (1 to 40), r and p must be decimal numbers")
	}
	if err := checkScrypt(Scrypt, 1<<ln, r, p, lim); err != nil {
		return nil, err
	}
	sp := scryptParams{n: 1 << ln, r: int(r), p: int(p)}
	var err error
	if sp.salt, err = decodeB64NoPad(parts[3]); err != nil || len(sp.salt) < 1 {
		return nil, refuse(Scrypt, ErrMalformed, "scrypt salt must be unpadded base64")
	}
	if sp.key, err = decodeB64NoPad(parts[4]); err != nil || len(sp.key) < 16 || len(sp.key) > 128 {
		return nil, refuse(Scrypt, ErrMalformed, "scrypt hash must be 16 to 128 bytes of unpadded base64")
	}
	return sp.hash(), nil
}

// parseDjangoScrypt reads Django 4+'s scrypt$<N>$<salt>$<r>$<p>$<base64 hash>; the salt is
// used as its UTF-8 bytes.
func parseDjangoScrypt(parts []string, lim Limits) (*Hash, error) {
	if len(parts) != 6 {
		return nil, refuse(Django, ErrMalformed, "Django scrypt hash must be scrypt$N$salt$r$p$hash")
	}
	n, ok1 := parseDecimal(parts[1])
	r, ok2 := parseDecimal(parts[3])
	p, ok3 := parseDecimal(parts[4])
	if !ok1 || !ok2 || !ok3 {
		return nil, refuse(Django, ErrMalformed, "Django scrypt N, r and p must be decimal numbers")
	}
	if err := checkScrypt(Django, n, r, p, lim); err != nil {
		return nil, err
	}
	if parts[2] == "" {
		return nil, refuse(Django, ErrMalformed, "Django scrypt salt is empty")
	}
	key, err := base64.StdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return nil, refuse(Django, ErrMalformed, "Django scrypt hash must be 16 to 128 bytes of padded base64")
	}
	sp := scryptParams{n: int(n), r: int(r), p: int(p), salt: []byte(parts[2]), key: key}
	h := sp.hash()
	h.scheme = "django " + h.scheme
	return h, nil
}

// FirebaseParams are a Firebase project's password hash parameters, as the Firebase console
// shows them (Authentication → Users → ⋮ → Password hash parameters). They are the same for
// every user of the project, so they are a tenant's import setting, not part of a line.
type FirebaseParams struct {
	SignerKey     []byte // base64_signer_key, decoded
	SaltSeparator []byte // base64_salt_separator, decoded
	Rounds        int    // rounds: scrypt's r, 1 to 8
	MemCost       int    // mem_cost: log2 of scrypt's N, 1 to 14
}

// NewFirebaseParams decodes the parameters as the console prints them.
func NewFirebaseParams(signerKeyB64, saltSeparatorB64 string, rounds, memCost int) (*FirebaseParams, error) {
	key, err := decodeFirebaseB64(signerKeyB64)
	if err != nil {
		return nil, fmt.Errorf("firebase signer key: %w", err)
	}
	sep, err := decodeFirebaseB64(saltSeparatorB64)
	if err != nil {
		return nil, fmt.Errorf("firebase salt separator: %w", err)
	}
	p := &FirebaseParams{SignerKey: key, SaltSeparator: sep, Rounds: rounds, MemCost: memCost}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *FirebaseParams) validate() error {
	switch {
	case len(p.SignerKey) == 0 || len(p.SignerKey) > 256:
		return refuse(FirebaseScrypt, ErrMissingParams, "the Firebase signer key must be 1 to 256 bytes")
	case p.Rounds < 1 || p.Rounds > 8:
		return refuse(FirebaseScrypt, ErrMalformed, "Firebase rounds must be 1 to 8, not %d", p.Rounds)
	case p.MemCost < 1 || p.MemCost > 14:
		return refuse(FirebaseScrypt, ErrMalformed, "Firebase mem_cost must be 1 to 14, not %d", p.MemCost)
	}
	return nil
}

// parseFirebase reads a Firebase user's passwordHash and salt (base64, the standard or the
// URL-safe alphabet, as auth:export and the Admin SDK write them). Firebase's scrypt, as
// firebase/scrypt documents and implements it: key = scrypt(password, salt ‖ salt separator,
// N=2^mem_cost, r=rounds, p=1, 32 bytes); hash = AES-256-CTR(key, IV 0) applied to the signer key.
func parseFirebase(hashB64, saltB64 string, fp *FirebaseParams, lim Limits) (*Hash, error) {
	if fp == nil {
		return nil, refuse(FirebaseScrypt, ErrMissingParams, "no Firebase project parameters (signer key, salt separator, rounds, mem_cost) configured")
	}
	if err := fp.validate(); err != nil {
		return nil, err
	}
	if err := checkScrypt(FirebaseScrypt, 1<<fp.MemCost, uint64(fp.Rounds), 1, lim); err != nil {
		return nil, err
	}
	want, err := decodeFirebaseB64(hashB64)
	if err != nil {
		return nil, refuse(FirebaseScrypt, ErrMalformed, "hash is not base64")
	}
	if len(want) != len(fp.SignerKey) {
		return nil, refuse(FirebaseScrypt, ErrMalformed, "hash is %d bytes, the signer key %d: they must be equal", len(want), len(fp.SignerKey))
	}
	if saltB64 == "" {
		return nil, refuse(FirebaseScrypt, ErrMalformed, "Firebase hashes need the user's salt in the salt field")
	}
	salt, err := decodeFirebaseB64(saltB64)
	if err != nil || len(salt) == 0 {
		return nil, refuse(FirebaseScrypt, ErrMalformed, "salt is not base64")
	}
	scryptSalt := append(append([]byte{}, salt...), fp.SaltSeparator...)
	signerKey := append([]byte{}, fp.SignerKey...)
	n, r := 1<<fp.MemCost, fp.Rounds
	v := scryptParams{n: n, r: r, p: 1}.verdict()
	return &Hash{
		scheme:  fmt.Sprintf("firebase-scrypt rounds=%d,mem_cost=%d", r, fp.MemCost),
		verdict: v,
		verify: func(pw []byte) (bool, error) {
			key, err := scrypt.Key(pw, scryptSalt, n, r, 1, 32)
			if err != nil {
				return false, fmt.Errorf("firebase-scrypt: %w", err)
			}
			block, err := aes.NewCipher(key)
			if err != nil {
				return false, fmt.Errorf("firebase-scrypt: %w", err)
			}
			got := make([]byte, len(signerKey))
			cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(got, signerKey)
			return subtle.ConstantTimeCompare(got, want) == 1, nil
		},
	}, nil
}

// decodeFirebaseB64 accepts the standard and the URL-safe alphabet, padded or not.
func decodeFirebaseB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
