package passwordhash

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Magento 2's argon2id13 (Magento\Framework\Encryption\Encryptor, version 2) uses libsodium's
// crypto_pwhash with these constants; version 3_<bytes>_<ops>_<mem> spells them out.
const (
	sodiumSignSeedBytes         = 32       // SODIUM_CRYPTO_SIGN_SEEDBYTES: the output length
	sodiumOpsLimitInteractive   = 2        // SODIUM_CRYPTO_PWHASH_OPSLIMIT_INTERACTIVE: argon2 passes
	sodiumMemLimitInteractive   = 67108864 // SODIUM_CRYPTO_PWHASH_MEMLIMIT_INTERACTIVE: bytes
	sodiumPwhashSaltBytes       = 16       // SODIUM_CRYPTO_PWHASH_SALTBYTES
	magentoMaxVersions          = 4
	sodiumPwhashBytesMin        = 16
	sodiumPwhashMemLimitMin     = 8192
	sodiumPwhashArgon2idOpsMin  = 1
	magentoArgon2MaxOutputBytes = 64
)

type magentoStep struct {
	version string // as stored, for the scheme
	kind    byte   // '0' MD5, '1' SHA-256, 'a' argon2id13
	outLen  int
	passes  uint32
	memKiB  uint32
}

// parseMagento2 reads Magento 2's hash:salt:version[:version…]. The versions list every
// algorithm the password went through, oldest first (Magento upgrades a hash by hashing the old
// hex digest again): 0 = md5(salt ‖ x), 1 = sha256(salt ‖ x), 2 = argon2id13 with libsodium's
// interactive limits, 3_<bytes>_<opslimit>_<memlimit> = argon2id13 with those. Each step's input
// x is the password, then the previous step's lowercase hex. The argon2 steps use the salt cut
// to, or repeated up to, 16 bytes, one lane and memlimit/1024 KiB, as libsodium does.
func parseMagento2(s string, lim Limits, allowLegacy bool) (*Hash, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 {
		return nil, refuse(Magento2, ErrMalformed, "Magento 2 hash must be hash:salt:version (a Magento 1 hash:salt is format md5 or sha256)")
	}
	hexHash, salt, versions := parts[0], parts[1], strings.Split(parts[2], ":")
	if len(versions) > magentoMaxVersions {
		return nil, refuse(Magento2, ErrMalformed, "more than %d hash versions", magentoMaxVersions)
	}
	steps := make([]magentoStep, 0, len(versions))
	var work, strongest uint64
	hasArgon := false
	for _, v := range versions {
		st, err := parseMagentoVersion(v)
		if err != nil {
			return nil, err
		}
		if st.kind == 'a' {
			if salt == "" {
				return nil, refuse(Magento2, ErrMalformed, "argon2id13 needs a salt")
			}
			if err := checkArgon2Limits(Magento2, uint64(st.memKiB), uint64(st.passes), 1, lim); err != nil {
				return nil, err
			}
			w := uint64(st.memKiB) * uint64(st.passes)
			work += w
			strongest = max(strongest, w)
			hasArgon = true
		}
		steps = append(steps, st)
	}
	if work > lim.MaxArgon2Work {
		return nil, refuse(Magento2, ErrOverLimit, "argon2 memory × passes summed over the versions %d is over the limit %d", work, lim.MaxArgon2Work)
	}
	last := steps[len(steps)-1]
	if len(hexHash) != 2*last.outLen {
		return nil, refuse(Magento2, ErrMalformed, "hash must be %d hex characters for version %s, not %d", 2*last.outLen, last.version, len(hexHash))
	}
	want, err := hex.DecodeString(hexHash)
	if err != nil {
		return nil, refuse(Magento2, ErrMalformed, "hash is not hexadecimal")
	}
	if last.kind == '0' && !allowLegacy {
		return nil, crackable(Magento2, "Magento 2 version 0 (salted MD5)")
	}
	// The chain is as strong as its strongest step.
	v := weak("Magento 2 salted %s: a fast digest, crackable offline", map[byte]string{'0': "MD5", '1': "SHA-256"}[last.kind])
	if hasArgon {
		v = argon2Verdict(strongest, 1)
	}
	saltBytes := []byte(salt)
	salt16 := magentoSalt16(saltBytes)
	return &Hash{
		scheme:  "magento2 " + strings.Join(versions, ":"),
		verdict: v,
		verify: func(pw []byte) (bool, error) {
			x := pw
			var out []byte
			for i, st := range steps {
				if i > 0 {
					x = []byte(hex.EncodeToString(out))
				}
				switch st.kind {
				case '0':
					sum := md5.Sum(append(append([]byte{}, saltBytes...), x...))
					out = sum[:]
				case '1':
					sum := sha256.Sum256(append(append([]byte{}, saltBytes...), x...))
					out = sum[:]
				default:
					out = argon2.IDKey(x, salt16, st.passes, st.memKiB, 1, uint32(st.outLen))
				}
			}
			return subtle.ConstantTimeCompare(out, want) == 1, nil
		},
	}, nil
}

func parseMagentoVersion(v string) (magentoStep, error) {
	switch v {
	case "0":
		return magentoStep{version: v, kind: '0', outLen: md5.Size}, nil
	case "1":
		return magentoStep{version: v, kind: '1', outLen: sha256.Size}, nil
	case "2":
		return magentoStep{version: v, kind: 'a', outLen: sodiumSignSeedBytes, passes: sodiumOpsLimitInteractive,
			memKiB: sodiumMemLimitInteractive / 1024}, nil
	}
	f := strings.Split(v, "_")
	if len(f) != 4 || f[0] != "3" {
		return magentoStep{}, refuse(Magento2, ErrUnsupported, "hash version %q is unknown (0, 1, 2 or 3_<bytes>_<ops>_<mem>)", truncate(v))
	}
	outLen, ok1 := parseDecimal(f[1])
	ops, ok2 := parseDecimal(f[2])
	mem, ok3 := parseDecimal(f[3])
	if !ok1 || !ok2 || !ok3 {
		return magentoStep{}, refuse(Magento2, ErrMalformed, "version 3 parameters must be decimal numbers")
	}
	if outLen < sodiumPwhashBytesMin || outLen > magentoArgon2MaxOutputBytes || ops < sodiumPwhashArgon2idOpsMin ||
		mem < sodiumPwhashMemLimitMin {
		return magentoStep{}, refuse(Magento2, ErrMalformed,
			"version 3 parameters out of range (bytes 16 to 64, opslimit ≥ 1, memlimit ≥ 8192)")
	}
	mem /= 1024
	if mem > 1<<32-1 || ops > 1<<32-1 {
		return magentoStep{}, refuse(Magento2, ErrOverLimit, "version 3 opslimit or memlimit is over the limit")
	}
	return magentoStep{version: v, kind: 'a', outLen: int(outLen), passes: uint32(ops), memKiB: uint32(mem)}, nil
}

// magentoSalt16 is PHP's str_pad($salt, 16, $salt) for a short salt and substr($salt, 0, 16)
// for a long one.
func magentoSalt16(salt []byte) []byte {
	if len(salt) == 0 {
		return nil
	}
	out := make([]byte, 0, sodiumPwhashSaltBytes)
	for len(out) < sodiumPwhashSaltBytes {
		n := min(len(salt), sodiumPwhashSaltBytes-len(out))
		out = append(out, salt[:n]...)
	}
	return out
}
