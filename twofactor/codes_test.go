package twofactor

import (
	"crypto/rand"
	"regexp"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

func TestEmailCodeShape(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := newEmailCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !validDigits(c) {
			t.Fatalf("code %q is not 6 digits", c)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Errorf("200 codes gave only %d distinct values", len(seen))
	}
}

func TestMatchTOTP(t *testing.T) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "shop", AccountName: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 10, 0, time.UTC)
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(key.Secret(), at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cur := now.Unix() / 30
	tests := []struct {
		name string
		code string
		want int64
	}{
		{"current step", code(now), cur},
		{"one step back", code(now.Add(-30 * time.Second)), cur - 1},
		{"one step ahead", code(now.Add(30 * time.Second)), cur + 1},
		{"two steps back", code(now.Add(-60 * time.Second)), 0},
		{"two steps ahead", code(now.Add(60 * time.Second)), 0},
		{"with a space", code(now)[:3] + " " + code(now)[3:], cur},
		{"letters", "abcdef", 0},
		{"too short", code(now)[:5], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := matchTOTP(key.Secret(), tt.code, now)
			if err != nil {
				t.Fatal(err)
			}
			// A code of a neighbouring step may collide with the current one by chance
			// (1 in a million); the steps above are distinct codes in practice.
			if got != tt.want {
				t.Errorf("matchTOTP = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRecoveryCodes(t *testing.T) {
	shape := regexp.MustCompile(`^[a-hjkmnp-z2-9]{5}-[a-hjkmnp-z2-9]{5}$`)
	seen := map[string]bool{}
	for range 100 {
		c, err := newRecoveryCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(c) {
			t.Fatalf("recovery code %q has the wrong shape", c)
		}
		if seen[c] {
			t.Fatalf("recovery code %q drawn twice", c)
		}
		seen[c] = true
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	if hashCode(key, "b", "K7MQP-X3VTA") != hashCode(key, "b", "k7mqpx3vta") {
		t.Error("case and dashes must not matter when checking a recovery code")
	}
	if hashCode(key, "b", "123456") == hashCode(key, "c", "123456") {
		t.Error("a code hash must be bound to what it is for")
	}
}
