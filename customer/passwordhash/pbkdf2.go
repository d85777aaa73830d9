package passwordhash

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
)

type prf struct {
	name string
	new  func() hash.Hash
	size int
}

var (
	prfSHA1   = prf{"sha1", sha1.New, sha1.Size}
	prfSHA256 = prf{"sha256", sha256.New, sha256.Size}
	prfSHA512 = prf{"sha512", sha512.New, sha512.Size}
)

type pbkdf2Params struct {
	prf  prf
	iter int
	salt []byte
	key  []byte
}

// check holds iterations × output blocks to the limit and checks the lengths.
func (p pbkdf2Params) check(f Format, lim Limits) error {
	if p.iter < 1 {
		return refuse(f, ErrMalformed, "PBKDF2 iterations must be at least 1")
	}
	if len(p.salt) == 0 {
		return refuse(f, ErrMalformed, "PBKDF2 salt is empty")
	}
	if len(p.key) < 16 || len(p.key) > 128 {
		return refuse(f, ErrMalformed, "PBKDF2 hash is %d bytes, not 16 to 128", len(p.key))
	}
	blocks := (len(p.key) + p.prf.size - 1) / p.prf.size
	if work := uint64(p.iter) * uint64(blocks); work > lim.MaxPBKDF2Work {
		return refuse(f, ErrOverLimit, "PBKDF2 iterations × output blocks %d is over the limit %d", work, lim.MaxPBKDF2Work)
	}
	return nil
}

func (p pbkdf2Params) hash(scheme string) *Hash {
	v := strong
	if p.iter < WeakPBKDF2Iterations {
		v = weak("PBKDF2 with %d iterations, below %d", p.iter, WeakPBKDF2Iterations)
	}
	return &Hash{
		scheme:  fmt.Sprintf("%s pbkdf2-%s i=%d", scheme, p.prf.name, p.iter),
		verdict: v,
		verify: func(pw []byte) (bool, error) {
			got, err := pbkdf2.Key(p.prf.new, string(pw), p.salt, p.iter, len(p.key))
			if err != nil {
				return false, fmt.Errorf("pbkdf2: %w", err)
			}
			return subtle.ConstantTimeCompare(got, p.key) == 1, nil
		},
	}
}

// parsePBKDF2PHC reads the PHC pbkdf2 string in both spellings in use:
//   - PHC: $pbkdf2-<sha1|sha256|sha512>$i=<iterations>[,l=<key length>]$<salt>$<hash>, standard
//     base64 without padding (e.g. npm @phc/pbkdf2);
//   - passlib: $pbkdf2-<sha256|sha512>$<iterations>$<salt>$<hash> and $pbkdf2$… for SHA-1, in
//     passlib's adapted base64 ('.' instead of '+', no padding).
func parsePBKDF2PHC(s string, lim Limits) (*Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" {
		return nil, refuse(PBKDF2, ErrMalformed, "pbkdf2 hash must be $pbkdf2-<digest>$<iterations>$<salt>$<hash>")
	}
	var p pbkdf2Params
	switch parts[1] {
	case "pbkdf2", "pbkdf2-sha1":
		p.prf = prfSHA1
	case "pbkdf2-sha256":
		p.prf = prfSHA256
	case "pbkdf2-sha512":
		p.prf = prfSHA512
	default:
		if strings.HasPrefix(parts[1], "pbkdf2-") {
			return nil, refuse(PBKDF2, ErrUnsupported, "pbkdf2 digest %q is not supported (sha1, sha256, sha512)", truncate(parts[1][7:]))
		}
		return nil, refuse(PBKDF2, ErrMalformed, "pbkdf2 hash must start with $pbkdf2-sha1$, $pbkdf2-sha256$, $pbkdf2-sha512$ or $pbkdf2$")
	}
	keyLen := -1
	if iter, ok := parseDecimal(parts[2]); ok {
		p.iter = int(iter)
	} else {
		params := strings.Split(parts[2], ",")
		if len(params) > 2 || !strings.HasPrefix(params[0], "i=") {
			return nil, refuse(PBKDF2, ErrMalformed, "pbkdf2 parameters must be <iterations> or i=<iterations>[,l=<length>]")
		}
		iter, ok := parseDecimal(params[0][2:])
		if !ok {
			return nil, refuse(PBKDF2, ErrMalformed, "pbkdf2 iterations must be a decimal number")
		}
		p.iter = int(iter)
		if len(params) == 2 {
			l, ok := parseDecimal(strings.TrimPrefix(params[1], "l="))
			if !ok || !strings.HasPrefix(params[1], "l=") {
				return nil, refuse(PBKDF2, ErrMalformed, "pbkdf2 parameter after i= must be l=<length>")
			}
			keyLen = int(l)
		}
	}
	var err error
	if p.salt, err = decodeAB64(parts[3]); err != nil {
		return nil, refuse(PBKDF2, ErrMalformed, "pbkdf2 salt is not base64")
	}
	if p.key, err = decodeAB64(parts[4]); err != nil {
		return nil, refuse(PBKDF2, ErrMalformed, "pbkdf2 hash is not base64")
	}
	if keyLen >= 0 && keyLen != len(p.key) {
		return nil, refuse(PBKDF2, ErrMalformed, "pbkdf2 l=%d does not match the %d-byte hash", keyLen, len(p.key))
	}
	if err := p.check(PBKDF2, lim); err != nil {
		return nil, err
	}
	return p.hash("phc"), nil
}

// decodeAB64 decodes unpadded base64 in the standard alphabet or passlib's adapted one.
func decodeAB64(s string) ([]byte, error) {
	return decodeB64NoPad(strings.ReplaceAll(s, ".", "+"))
}

// parseDjangoPBKDF2 reads Django's pbkdf2_sha256$<iterations>$<salt>$<base64 hash> and
// pbkdf2_sha1$…; the salt is used as its UTF-8 bytes.
func parseDjangoPBKDF2(parts []string, lim Limits) (*Hash, error) {
	if len(parts) != 4 {
		return nil, refuse(Django, ErrMalformed, "Django %s hash must be %s$<iterations>$<salt>$<hash>", parts[0], parts[0])
	}
	p := pbkdf2Params{prf: prfSHA256}
	if parts[0] == "pbkdf2_sha1" {
		p.prf = prfSHA1
	}
	iter, ok := parseDecimal(parts[1])
	if !ok {
		return nil, refuse(Django, ErrMalformed, "Django PBKDF2 iterations must be a decimal number")
	}
	p.iter = int(iter)
	p.salt = []byte(parts[2])
	var err error
	if p.key, err = decodeB64NoPad(parts[3]); err != nil {
		return nil, refuse(Django, ErrMalformed, "Django PBKDF2 hash is not base64")
	}
	if err := p.check(Django, lim); err != nil {
		return nil, err
	}
	return p.hash("django"), nil
}

// parseASPNet reads ASP.NET Identity's PasswordHasher output (base64 of):
//   - version 2: 0x00, 16-byte salt, 32-byte PBKDF2-HMAC-SHA1 subkey, 1,000 iterations;
//   - version 3: 0x01, PRF (uint32 big-endian: 0 SHA-1, 1 SHA-256, 2 SHA-512), iterations
//     (uint32), salt length (uint32, at least 16), salt, subkey (the rest, at least 16 bytes).
func parseASPNet(s string, lim Limits) (*Hash, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, refuse(ASPNetIdentity, ErrMalformed, "hash is not padded base64")
	}
	if len(b) == 0 {
		return nil, refuse(ASPNetIdentity, ErrMalformed, "empty hash")
	}
	var p pbkdf2Params
	switch b[0] {
	case 0x00:
		if len(b) != 1+16+32 {
			return nil, refuse(ASPNetIdentity, ErrMalformed, "version 2 hash is %d bytes, not 49", len(b))
		}
		p = pbkdf2Params{prf: prfSHA1, iter: 1000, salt: b[1:17], key: b[17:]}
		if err := p.check(ASPNetIdentity, lim); err != nil {
			return nil, err
		}
		h := p.hash("aspnet-identity v2")
		h.verdict = weak("ASP.NET Identity v2: PBKDF2-HMAC-SHA1 with 1000 iterations")
		return h, nil
	case 0x01:
		if len(b) < 13 {
			return nil, refuse(ASPNetIdentity, ErrMalformed, "version 3 hash is shorter than its header")
		}
		switch binary.BigEndian.Uint32(b[1:]) {
		case 0:
			p.prf = prfSHA1
		case 1:
			p.prf = prfSHA256
		case 2:
			p.prf = prfSHA512
		default:
			return nil, refuse(ASPNetIdentity, ErrUnsupported, "version 3 PRF %d is unknown (0 SHA-1, 1 SHA-256, 2 SHA-512)", binary.BigEndian.Uint32(b[1:]))
		}
		iter := binary.BigEndian.Uint32(b[5:])
		saltLen := binary.BigEndian.Uint32(b[9:])
		if iter > 1<<31-1 {
			return nil, refuse(ASPNetIdentity, ErrMalformed, "version 3 iteration count is negative")
		}
		if saltLen < 16 || uint64(saltLen)+13+16 > uint64(len(b)) {
			return nil, refuse(ASPNetIdentity, ErrMalformed, "version 3 salt must be at least 16 bytes and leave a subkey of at least 16")
		}
		p.iter, p.salt, p.key = int(iter), b[13:13+saltLen], b[13+saltLen:]
		if err := p.check(ASPNetIdentity, lim); err != nil {
			return nil, err
		}
		return p.hash("aspnet-identity v3"), nil
	default:
		return nil, refuse(ASPNetIdentity, ErrUnsupported, "version byte 0x%02x is unknown (0x00 v2, 0x01 v3)", b[0])
	}
}
