package passwordhash

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2Params are the parameters of one argon2 computation.
type argon2Params struct {
	variant string // "argon2id" or "argon2i"
	memory  uint32 // KiB
	passes  uint32
	lanes   uint32
	salt    []byte
	key     []byte
}

// parseArgon2PHC reads the PHC string of argon2id or argon2i version 19 (0x13):
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, salt and hash in base64 without
// padding. argon2d, version 16 (a string without v=) and the optional keyid/data parameters are
// refused: golang.org/x/crypto/argon2 implements none of them.
func parseArgon2PHC(f Format, s string, lim Limits) (argon2Params, error) {
	var a argon2Params
	parts := strings.Split(s, "$")
	if len(parts) < 2 || parts[0] != "" {
		return a, refuse(f, ErrMalformed, "argon2 hash must be a PHC string starting with $argon2id$ or $argon2i$")
	}
	switch parts[1] {
	case "argon2id", "argon2i":
		a.variant = parts[1]
	case "argon2d":
		return a, refuse(f, ErrUnsupported, "argon2d is not supported (only argon2id and argon2i)")
	default:
		return a, refuse(f, ErrMalformed, "argon2 hash must be a PHC string starting with $argon2id$ or $argon2i$")
	}
	if len(parts) == 5 && strings.HasPrefix(parts[2], "m=") {
		return a, refuse(f, ErrUnsupported, "argon2 version 16 (a hash without v=) is not supported, only v=19")
	}
	if len(parts) != 6 {
		return a, refuse(f, ErrMalformed, "argon2 PHC string must have 5 $-separated fields, it has %d", len(parts)-1)
	}
	if parts[2] != "v=19" {
		return a, refuse(f, ErrUnsupported, "argon2 version field %q is not supported, only v=19", truncate(parts[2]))
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 || !strings.HasPrefix(params[0], "m=") || !strings.HasPrefix(params[1], "t=") ||
		!strings.HasPrefix(params[2], "p=") {
		return a, refuse(f, ErrMalformed, "argon2 parameters must be exactly m=…,t=…,p=…")
	}
	m, ok1 := parseDecimal(params[0][2:])
	t, ok2 := parseDecimal(params[1][2:])
	p, ok3 := parseDecimal(params[2][2:])
	if !ok1 || !ok2 || !ok3 {
		return a, refuse(f, ErrMalformed, "argon2 parameters m, t and p must be decimal numbers")
	}
	if t < 1 || p < 1 || p > 1<<24-1 || m < 8*p {
		return a, refuse(f, ErrMalformed, "argon2 parameters out of range (t ≥ 1, 1 ≤ p < 2^24, m ≥ 8p)")
	}
	if err := checkArgon2Limits(f, m, t, p, lim); err != nil {
		return a, err
	}
	a.memory, a.passes, a.lanes = uint32(m), uint32(t), uint32(p)
	var err error
	if a.salt, err = decodeB64NoPad(parts[4]); err != nil || len(a.salt) < 8 || len(a.salt) > 64 {
		return a, refuse(f, ErrMalformed, "argon2 salt must be 8 to 64 bytes of unpadded base64")
	}
	if a.key, err = decodeB64NoPad(parts[5]); err != nil || len(a.key) < 4 || len(a.key) > 128 {
		return a, refuse(f, ErrMalformed, "argon2 hash must be 4 to 128 bytes of unpadded base64")
	}
	return a, nil
}

func checkArgon2Limits(f Format, m, t, p uint64, lim Limits) error {
	switch {
	case m > uint64(lim.MaxArgon2MemoryKiB):
		return refuse(f, ErrOverLimit, "argon2 memory %d KiB is over the limit %d KiB", m, lim.MaxArgon2MemoryKiB)
	case t > uint64(lim.MaxArgon2Passes):
		return refuse(f, ErrOverLimit, "argon2 passes %d are over the limit %d", t, lim.MaxArgon2Passes)
	case p > uint64(lim.MaxArgon2Lanes):
		return refuse(f, ErrOverLimit, "argon2 lanes %d are over the limit %d", p, lim.MaxArgon2Lanes)
	case m*t > lim.MaxArgon2Work:
		return refuse(f, ErrOverLimit, "argon2 memory × passes %d is over the limit %d", m*t, lim.MaxArgon2Work)
	}
	return nil
}

func (a argon2Params) derive(pw []byte) []byte {
	if a.variant == "argon2i" {
		return argon2.Key(pw, a.salt, a.passes, a.memory, uint8(a.lanes), uint32(len(a.key)))
	}
	return argon2.IDKey(pw, a.salt, a.passes, a.memory, uint8(a.lanes), uint32(len(a.key)))
}

func (a argon2Params) verdict() Verdict {
	return argon2Verdict(uint64(a.memory), uint64(a.passes))
}

func argon2Verdict(memoryKiB, passes uint64) Verdict {
	if memoryKiB*passes < WeakArgon2WorkKiB {
		return weak("argon2 memory × passes %d KiB is below %d KiB (19 MiB × 2)", memoryKiB*passes, WeakArgon2WorkKiB)
	}
	return strong
}

func (a argon2Params) scheme() string {
	return fmt.Sprintf("%s v=19 m=%d,t=%d,p=%d", a.variant, a.memory, a.passes, a.lanes)
}

func parseArgon2(f Format, s string, lim Limits) (*Hash, error) {
	a, err := parseArgon2PHC(f, s, lim)
	if err != nil {
		return nil, err
	}
	return &Hash{
		scheme:  a.scheme(),
		verdict: a.verdict(),
		verify: func(pw []byte) (bool, error) {
			return subtle.ConstantTimeCompare(a.derive(pw), a.key) == 1, nil
		},
	}, nil
}

// parseCustodian checks Custodian's own encoding (argon2id, v=19, the PHC string
// customer.PasswordHasher writes) against the limits, and verifies through v, Custodian's own
// code, so the two can never disagree.
func parseCustodian(s string, v Verifier, lim Limits) (*Hash, error) {
	if v == nil {
		return nil, refuse(Custodian, ErrMissingParams, "no Custodian password verifier configured")
	}
	a, err := parseArgon2PHC(Custodian, s, lim)
	if err != nil {
		return nil, err
	}
	if a.variant != "argon2id" {
		return nil, refuse(Custodian, ErrMalformed, "Custodian hashes are argon2id, not %s", a.variant)
	}
	if strings.Count(s, "=") != 4 { // v=, m=, t=, p=: Custodian writes no base64 padding
		return nil, refuse(Custodian, ErrMalformed, "Custodian hashes have unpadded base64 salt and hash")
	}
	return &Hash{
		scheme:  "custodian " + a.scheme(),
		verdict: a.verdict(),
		verify: func(pw []byte) (bool, error) {
			ok, err := v.Verify(s, string(pw))
			if err != nil {
				return false, fmt.Errorf("custodian: %w", err)
			}
			return ok, nil
		},
	}, nil
}

// parseDecimal reads a decimal number of at most 10 digits without sign or leading zeros.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}

// decodeB64NoPad decodes the standard base64 alphabet, with or without its = padding.
func decodeB64NoPad(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// truncate shortens a fragment of input quoted in an error message.
func truncate(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
