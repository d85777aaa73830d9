package identity

import (
	"errors"
	"strings"
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
		{"related keys together", [][2]string{{"tokens.refresh_ttl", "2400h"}, {"tokens.max_refresh_ttl", "2880h"}}, false,
			func(s Settings) bool { return time.Duration(s.MaxRefreshTTL) == 2880*time.Hour }},
		{"above its cap", [][2]string{{"tokens.refresh_ttl", "2400h"}}, true, nil},
		// Every duration has an upper bound; the 292-year token is not possible.
		{"access ttl at its bound", [][2]string{{"tokens.max_access_ttl", "24h"}, {"tokens.access_ttl", "24h"}}, false,
			func(s Settings) bool { return time.Duration(s.AccessTTL) == 24*time.Hour }},
		{"access ttl of 292 years", [][2]string{{"tokens.max_access_ttl", "2562047h"}, {"tokens.access_ttl", "2562047h"}}, true, nil},
		{"access ttl above its bound", [][2]string{{"tokens.max_access_ttl", "25h"}}, true, nil},
		{"refresh ttl above its bound", [][2]string{{"tokens.max_refresh_ttl", "8761h"}}, true, nil},
		{"id token above its bound", [][2]string{{"tokens.id_token_ttl", "48h"}}, true, nil},
		{"code above its bound", [][2]string{{"tokens.code_ttl", "11m"}}, true, nil},
		{"session above its bound", [][2]string{{"session.ttl", "2161h"}}, true, nil},
		{"lockout above its bound", [][2]string{{"lockout.duration", "25h"}}, true, nil},
		{"reset token above its bound", [][2]string{{"password.reset_ttl", "25h"}}, true, nil},
		{"reverify above its bound", [][2]string{{"twofactor.reverify_after", "8761h"}}, true, nil},
		{"device trust above its bound", [][2]string{{"twofactor.device_ttl", "8761h"}}, true, nil},
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
		{"firebase project", [][2]string{{"import.firebase.signer_key", "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="},
			{"import.firebase.salt_separator", "Bw=="}, {"import.firebase.rounds", "8"}, {"import.firebase.mem_cost", "14"}}, false,
			func(s Settings) bool {
				return s.FirebaseSignerKey.Unsealed() && s.FirebaseSaltSeparator == "Bw==" && s.FirebaseRounds == 8 && s.FirebaseMemCost == 14
			}},
		{"firebase key without rounds", [][2]string{{"import.firebase.signer_key", "Bw=="}}, true, nil},
		{"firebase key not base64", [][2]string{{"import.firebase.signer_key", "not base64!"}}, true, nil},
		{"firebase rounds out of range", [][2]string{{"import.firebase.rounds", "9"}}, true, nil},
		{"firebase mem_cost out of range", [][2]string{{"import.firebase.mem_cost", "15"}}, true, nil},
		{"weak hashes reset", [][2]string{{"import.weak_hash_action", "reset"}}, false, func(s Settings) bool { return s.WeakHashResets() }},
		{"weak hashes upgrade", [][2]string{{"import.weak_hash_action", "upgrade"}}, false, func(s Settings) bool { return !s.WeakHashResets() }},
		{"weak hash action unknown", [][2]string{{"import.weak_hash_action", "ignore"}}, true, nil},
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

// TestDurationBounds: every duration key has a documented bound, and a value stored
// before bounds existed is read as the bound.
func TestDurationBounds(t *testing.T) {
	for key, st := range settingKeys {
		s := DefaultSettings()
		if err := s.Set(key, "1h"); err != nil || st.clamp == nil {
			continue // not a duration
		}
		if err := s.Set(key, "2562047h"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s accepts 292 years: %v", key, err)
		}
		if !strings.Contains(st.doc, "at most") {
			t.Errorf("%s does not document its bound: %q", key, st.doc)
		}
	}
	stored := []byte(`{"tokens.access_ttl":"2562047h","tokens.max_access_ttl":"2562047h","tokens.refresh_ttl":"1h",` +
		`"tokens.code_ttl":"100h","session.ttl":"100000h"}`)
	s, err := DecodeSettings(stored)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(s.AccessTTL) != MaxAccessTokenTTL || time.Duration(s.MaxAccessTTL) != MaxAccessTokenTTL ||
		time.Duration(s.CodeTTL) != MaxCodeTTL || time.Duration(s.SessionTTL) != MaxSessionTTL {
		t.Errorf("stored durations not bounded: %+v", s)
	}
	if time.Duration(s.RefreshTTL) != time.Hour || time.Duration(s.IDTokenTTL) != time.Hour {
		t.Errorf("values within bounds changed or defaults lost: %+v", s)
	}
}
