package passwordhash

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

type digest struct {
	name string
	new  func() hash.Hash
	size int
}

var (
	digestMD5    = digest{"MD5", md5.New, md5.Size}
	digestSHA1   = digest{"SHA-1", sha1.New, sha1.Size}
	digestSHA256 = digest{"SHA-256", sha256.New, sha256.Size}
	digestSHA512 = digest{"SHA-512", sha512.New, sha512.Size}
)

// legacyFormats maps each legacy format to its digest and whether the salt follows the password.
var legacyFormats = []Format{MD5, SHA1, SHA256, SHA512, MD5Suffix, SHA1Suffix, SHA256Suffix, SHA512Suffix}

func legacyDigest(f Format) (d digest, suffix bool) {
	name, suffix := strings.CutSuffix(string(f), "-salt-suffix")
	switch Format(name) {
	case MD5:
		d = digestMD5
	case SHA1:
		d = digestSHA1
	case SHA256:
		d = digestSHA256
	default:
		d = digestSHA512
	}
	return d, suffix
}

// saltedDigest is a fast digest of salt ‖ password (or password ‖ salt).
type saltedDigest struct {
	d      digest
	salt   []byte
	suffix bool
	want   []byte
}

func (s saltedDigest) sum(pw []byte) []byte {
	h := s.d.new()
	if s.suffix {
		h.Write(pw)
		h.Write(s.salt)
	} else {
		h.Write(s.salt)
		h.Write(pw)
	}
	return h.Sum(nil)
}

func (s saltedDigest) hash(scheme string) *Hash {
	v := weak("salted %s: a fast digest, crackable offline", s.d.name)
	if len(s.salt) == 0 {
		v = weak("unsalted %s: a fast digest, crackable offline and by lookup tables", s.d.name)
	}
	return &Hash{
		scheme:  scheme,
		verdict: v,
		verify: func(pw []byte) (bool, error) {
			return subtle.ConstantTimeCompare(s.sum(pw), s.want) == 1, nil
		},
	}
}

// decodeHexDigest decodes a hex digest (either case) of the digest's size.
func decodeHexDigest(f Format, d digest, s string) ([]byte, error) {
	if len(s) != 2*d.size {
		return nil, refuse(f, ErrMalformed, "%s digest must be %d hex characters, not %d", d.name, 2*d.size, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, refuse(f, ErrMalformed, "%s digest is not hexadecimal", d.name)
	}
	return b, nil
}

func crackable(f Format, what string) error {
	return refuse(f, ErrCrackableLegacy,
		"%s is a fast digest, crackable offline; refused unless AllowCrackableLegacyHashes is set", what)
}

// parseLegacy reads the md5, sha1, sha256 and sha512 formats and their -salt-suffix forms: a hex
// digest, the salt in the salt field or after the digest as "hex:salt", or no salt at all.
func parseLegacy(f Format, s, saltField string, allow bool) (*Hash, error) {
	d, suffix := legacyDigest(f)
	hexPart, inHashSalt, hasInHash := strings.Cut(s, ":")
	salt := saltField
	if hasInHash {
		if saltField != "" {
			return nil, refuse(f, ErrMalformed, "salt given twice: in the salt field and after the digest")
		}
		if inHashSalt == "" {
			return nil, refuse(f, ErrMalformed, "empty salt after the digest's colon")
		}
		salt = inHashSalt
	}
	want, err := decodeHexDigest(f, d, hexPart)
	if err != nil {
		return nil, err
	}
	if !allow {
		return nil, crackable(f, d.name)
	}
	order := "H(salt ‖ password)"
	if suffix {
		order = "H(password ‖ salt)"
	}
	if salt == "" {
		order = "H(password)"
	}
	sd := saltedDigest{d: d, salt: []byte(salt), suffix: suffix, want: want}
	return sd.hash(fmt.Sprintf("%s %s", strings.ToLower(d.name), order)), nil
}
