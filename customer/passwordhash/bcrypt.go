package passwordhash

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/crypto/bcrypt"
)

// bcryptAlphabet is bcrypt's base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// parseBcrypt reads a modular-crypt bcrypt string: $2a$, $2b$ or $2y$ (the same algorithm under
// the names OpenBSD, crypt_blowfish and PHP gave it after the 2011 sign-extension bug), a
// two-digit cost, 22 characters of salt and 31 of hash. $2x$ (the buggy variant) and $2$ are
// refused. Like every bcrypt, only the password's first 72 bytes count.
func parseBcrypt(f Format, s string, lim Limits) (*Hash, error) {
	if len(s) < 4 || s[0] != '$' || s[1] != '2' || s[3] != '$' {
		return nil, refuse(f, ErrMalformed, "bcrypt hash must start with $2a$, $2b$ or $2y$")
	}
	switch s[2] {
	case 'a', 'b', 'y':
	default:
		return nil, refuse(f, ErrUnsupported, "bcrypt variant $2%c$ is not supported (only $2a$, $2b$, $2y$)", s[2])
	}
	if len(s) != 60 {
		return nil, refuse(f, ErrMalformed, "bcrypt hash is %d characters, not 60", len(s))
	}
	if s[6] != '$' || !isDigit(s[4]) || !isDigit(s[5]) {
		return nil, refuse(f, ErrMalformed, "bcrypt cost must be two digits followed by $")
	}
	cost, _ := strconv.Atoi(s[4:6])
	if cost < bcrypt.MinCost {
		return nil, refuse(f, ErrMalformed, "bcrypt cost %d is below bcrypt's minimum %d", cost, bcrypt.MinCost)
	}
	if cost > lim.MaxBcryptCost {
		return nil, refuse(f, ErrOverLimit, "bcrypt cost %d is over the limit %d", cost, lim.MaxBcryptCost)
	}
	for i := 7; i < len(s); i++ {
		if !inAlphabet(s[i], bcryptAlphabet) {
			return nil, refuse(f, ErrMalformed, "bcrypt salt and hash must use bcrypt's base64 alphabet")
		}
	}
	encoded := []byte(s)
	v := strong
	if cost < WeakBcryptCost {
		v = weak("bcrypt cost %d is below %d", cost, WeakBcryptCost)
	}
	return &Hash{
		scheme:  fmt.Sprintf("bcrypt $2%c$ cost=%d", s[2], cost),
		verdict: v,
		verify:  func(pw []byte) (bool, error) { return bcryptVerify(encoded, pw) },
	}, nil
}

// bcryptVerify compares with the library's own constant-time compare.
func bcryptVerify(encoded, password []byte) (bool, error) {
	err := bcrypt.CompareHashAndPassword(encoded, password)
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("bcrypt: %w", err)
	}
	return true, nil
}

// djangoBcryptSHA256 is Django's BCryptSHA256PasswordHasher: bcrypt of the lowercase hex SHA-256
// of the password, so that passwords longer than 72 bytes count in full.
func djangoBcryptSHA256(encoded []byte) func([]byte) (bool, error) {
	return func(pw []byte) (bool, error) {
		sum := sha256.Sum256(pw)
		return bcryptVerify(encoded, []byte(hex.EncodeToString(sum[:])))
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func inAlphabet(c byte, alphabet string) bool {
	for i := 0; i < len(alphabet); i++ {
		if alphabet[i] == c {
			return true
		}
	}
	return false
}
