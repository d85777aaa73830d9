package oauth

import (
	"errors"
	"testing"
	"time"
)

func TestSettingsSet(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     [][2]string
		wantErr bool // from Set or Validate
		check   func(Settings) bool
	}{
		{"duration", [][2]string{{"tokens.access_ttl", "30m"}}, false, func(s Settings) bool { return time.Duration(s.AccessTTL) == 30*time.Minute }},
		{"related keys together", [][2]string{{"tokens.access_ttl", "48h"}, {"tokens.max_access_ttl", "72h"}}, false,
			func(s Settings) bool { return time.Duration(s.MaxAccessTTL) == 72*time.Hour }},
		{"above its cap", [][2]string{{"tokens.access_ttl", "48h"}}, true, nil},
		{"unknown key", [][2]string{{"tokens.nope", "1h"}}, true, nil},
		{"negative duration", [][2]string{{"lockout.duration", "-5m"}}, true, nil},
		{"bad bool", [][2]string{{"signup.optin", "maybe"}}, true, nil},
		{"threshold", [][2]string{{"lockout.threshold", "3"}}, false, func(s Settings) bool { return s.LockoutThreshold == 3 }},
		{"threshold out of range", [][2]string{{"lockout.threshold", "-1"}}, true, nil},
		{"triggers list", [][2]string{{"twofactor.triggers", "fingerprint, region"}}, false,
			func(s Settings) bool { return len(s.TwoFactorTriggers) == 2 }},
		{"triggers mixed with always", [][2]string{{"twofactor.triggers", "always,region"}}, true, nil},
		{"password grant", [][2]string{{"grants.password", "true"}}, false, func(s Settings) bool { return s.GrantAllowed(GrantPassword) }},
		{"unknown grant", [][2]string{{"grants.allowed", "implicit"}}, true, nil},
		{"rsa keys", [][2]string{{"keys.alg", "RS256"}}, false, func(s Settings) bool { return s.SigningAlg == "RS256" }},
		{"hmac keys refused", [][2]string{{"keys.alg", "HS256"}}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings()
			var err error
			for _, kv := range tc.set {
				if err = s.Set(kv[0], kv[1]); err != nil {
					break
				}
			}
			if err == nil {
				err = s.Validate()
			}
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("want ErrInvalid, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(s) {
				t.Errorf("setting not applied: %+v", s)
			}
			for _, kv := range tc.set {
				if v, ok := s.Get(kv[0]); !ok || v == "" {
					t.Errorf("Get(%q) = %q, %v", kv[0], v, ok)
				}
			}
		})
	}
}
