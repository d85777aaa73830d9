package twofactor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// Code parameters.
const (
	CodeDigits = 6
	// TOTPPeriod is the time step of authenticator apps (RFC 6238's default).
	TOTPPeriod = 30 * time.Second
	// TOTPSkew is how many steps before and after the current one are accepted.
	TOTPSkew = 1
	// RecoveryCodes is how many recovery codes an enrollment gets.
	RecoveryCodes = 10
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// newEmailCode draws a 6-digit code: HOTP (RFC 4226) over a fresh random 160-bit key,
// so the digits are pquerna/otp's dynamic truncation of an HMAC no one else holds.
func newEmailCode(r io.Reader) (string, error) {
	key := make([]byte, 20)
	if _, err := io.ReadFull(r, key); err != nil {
		return "", fmt.Errorf("email code: %w", err)
	}
	var ctr [8]byte
	if _, err := io.ReadFull(r, ctr[:]); err != nil {
		return "", fmt.Errorf("email code: %w", err)
	}
	code, err := hotp.GenerateCodeCustom(b32.EncodeToString(key), binary.BigEndian.Uint64(ctr[:]),
		hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("email code: %w", err)
	}
	return code, nil
}

// hashCode is how short codes are stored: an HMAC under a server key, bound to what the
// code is for (a challenge id, a customer), so a stolen table cannot be brute-forced
// offline without the key and a code is worthless anywhere else.
func hashCode(key []byte, bind, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(bind + "|" + normalizeCode(code)))
	return hex.EncodeToString(m.Sum(nil))
}

// normalizeCode drops the spaces and dashes people type and lower-cases letters.
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
}

// validDigits reports whether code is exactly CodeDigits decimal digits.
func validDigits(code string) bool {
	if len(code) != CodeDigits {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// matchTOTP returns the time step whose code equals code, trying the current step and
// TOTPSkew steps either side, or 0 when none does. Every candidate is compared in
// constant time.
func matchTOTP(secret, code string, now time.Time) (int64, error) {
	code = normalizeCode(code)
	if !validDigits(code) {
		return 0, nil
	}
	cur := totpStep(now)
	var found int64
	for step := cur - TOTPSkew; step <= cur+TOTPSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*int64(TOTPPeriod/time.Second), 0),
			totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, fmt.Errorf("totp: %w", err)
		}
		if hmac.Equal([]byte(want), []byte(code)) && found == 0 {
			found = step
		}
	}
	return found, nil
}

// recoveryAlphabet has no 0/o, 1/l/i: codes are read off paper.
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// newRecoveryCode draws a code of two groups of five (about 49 bits), e.g. "k7mqp-x3vta".
func newRecoveryCode(r io.Reader) (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("recovery code: %w", err)
	}
	var sb strings.Builder
	for i, c := range b {
		if i == 5 {
			sb.WriteByte('-')
		}
		// 248 is the largest multiple of 31 below 256: reject above it to stay uniform.
		for c >= 248 {
			var one [1]byte
			if _, err := io.ReadFull(r, one[:]); err != nil {
				return "", fmt.Errorf("recovery code: %w", err)
			}
			c = one[0]
		}
		sb.WriteByte(recoveryAlphabet[int(c)%len(recoveryAlphabet)])
	}
	return sb.String(), nil
}
