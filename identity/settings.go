package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Settings are a tenant's knobs. Each has a stable key (see SettingKeys) used by
// `custodian tenant update NAME --set KEY=VALUE` and the admin API; the JSON form of
// Settings is what the database keeps.
type Settings struct {
	AccessTTL     Duration `json:"tokens.access_ttl"`
	RefreshTTL    Duration `json:"tokens.refresh_ttl"`
	MaxAccessTTL  Duration `json:"tokens.max_access_ttl"`
	MaxRefreshTTL Duration `json:"tokens.max_refresh_ttl"`
	IDTokenTTL    Duration `json:"tokens.id_token_ttl"`
	CodeTTL       Duration `json:"tokens.code_ttl"`
	// RefreshGracePeriod is how long a rotated refresh token still works for concurrent
	// callers. The grace window itself is enforced by the store.
	SigningAlg    string   `json:"keys.alg"`
	GrantTypes    []string `json:"grants.allowed"`
	PasswordGrant bool     `json:"grants.password"`

	LockoutThreshold int      `json:"lockout.threshold"`
	LockoutDuration  Duration `json:"lockout.duration"`
	SignupOptIn      bool     `json:"signup.optin"`

	// RateLimitAnonymousPerClient: new anonymous tokens one client may get from one
	// address per minute (0: no limit).
	RateLimitAnonymousPerClient int `json:"ratelimit.anonymous_per_client"`

	PasswordMinLength int      `json:"password.min_length"`
	PasswordResetTTL  Duration `json:"password.reset_ttl"`
	PasswordResetURL  string   `json:"password.reset_url,omitempty"`

	TwoFactorTriggers      []string `json:"twofactor.triggers"`
	TwoFactorReverifyAfter Duration `json:"twofactor.reverify_after"`
	TwoFactorB2BRequired   bool     `json:"twofactor.b2b_required"`
	TwoFactorDeviceTTL     Duration `json:"twofactor.device_ttl"`

	SocialAutoLink      bool `json:"social.autolink"`
	SocialAutoProvision bool `json:"social.autoprovision"`
	SocialTrustMFA      bool `json:"social.trust_upstream_mfa"`

	SessionTTL Duration `json:"session.ttl"`

	// PagesSignup and PagesPasswordReset switch the hosted sign-up (with its opt-in
	// confirmation page) and password-reset pages of the login flow on or off.
	PagesSignup        bool `json:"pages.signup"`
	PagesPasswordReset bool `json:"pages.password_reset"`

	// B2BSelfDeclared: a company registration id the shopper gives at signup or in
	// PATCH /me makes the account B2B. Off (the default), only memberships the admin
	// assigns do, and the id is kept as what the shopper said.
	B2BSelfDeclared bool `json:"b2b.self_declared"`

	// WebhookURL, when set, receives the tenant's notifications as signed JSON posts
	// instead of Custodian's e-mail; WebhookSecret signs them.
	WebhookURL    string       `json:"notify.webhook_url,omitempty"`
	WebhookSecret SealedSecret `json:"notify.webhook_secret"`

	// Branding is the shop's look of the hosted pages and mails (branding.go).
	Branding Branding `json:"branding,omitzero"`

	// Imported passwords (customer import, upgraded at the first sign-in): the source
	// Firebase project's password hash parameters, which firebase-scrypt hashes need, and
	// what a sign-in does with a foreign hash the strength rules call weak.
	FirebaseSignerKey     SealedSecret `json:"import.firebase.signer_key"`
	FirebaseSaltSeparator string       `json:"import.firebase.salt_separator,omitempty"`
	FirebaseRounds        int          `json:"import.firebase.rounds,omitempty"`
	FirebaseMemCost       int          `json:"import.firebase.mem_cost,omitempty"`
	WeakHashAction        string       `json:"import.weak_hash_action,omitempty"`

	// Rate limits of the door, each a count per client address (or account) per minute,
	// counted in the database so every node shares them; 0 switches one off.
	LoginPerIP      int `json:"ratelimit.login_per_ip"`
	LoginPerAccount int `json:"ratelimit.login_per_account"`
	SignupPerIP     int `json:"ratelimit.signup_per_ip"`
}

// MaxRatePerMinute bounds the ratelimit.* settings.
const MaxRatePerMinute = 100000

// The values of import.weak_hash_action.
const (
	// WeakHashUpgrade: a weak foreign hash is upgraded like any other (the default).
	WeakHashUpgrade = "upgrade"
	// WeakHashReset: the right password against a weak foreign hash does not sign in;
	// a password reset mail goes out instead.
	WeakHashReset = "reset"
)

// WeakHashResets reports whether a weak foreign hash sends its shopper through a reset.
func (s Settings) WeakHashResets() bool { return s.WeakHashAction == WeakHashReset }

// SecretSettings are the keys of the secret settings SettingSecrets seals
// (notify.webhook_secret has its own sealer, WebhookSecrets).
func (s *Settings) SecretSettings() map[string]*SealedSecret {
	return map[string]*SealedSecret{"import.firebase.signer_key": &s.FirebaseSignerKey}
}

// SealedSecret is a secret setting: at rest it is only ever sealed (WebhookSecrets),
// and it is shown as REDACTED. A value set through Settings.Set is plaintext in memory
// until the provider seals it before storing; encoding an unsealed value fails, so it
// cannot reach the database by mistake.
type SealedSecret struct {
	Sealed []byte
	plain  string
}

// IsSet reports whether the secret has a value.
func (s SealedSecret) IsSet() bool { return s.Sealed != nil || s.plain != "" }

// Unsealed reports whether the secret is still a plaintext that must be sealed before it
// is stored (WebhookSecrets.SealSetting).
func (s SealedSecret) Unsealed() bool { return s.plain != "" }

// sealedJSON is the stored form of a sealed secret.
type sealedJSON struct {
	Sealed []byte `json:"sealed"`
}

// errUnsealed: a plaintext secret setting was about to be encoded for storage.
var errUnsealed = errors.New("a secret setting must be sealed before it is stored")

// MarshalJSON implements json.Marshaler: "" when unset, {"sealed": base64} otherwise.
func (s SealedSecret) MarshalJSON() ([]byte, error) {
	switch {
	case s.Sealed != nil:
		return json.Marshal(sealedJSON{Sealed: s.Sealed})
	case s.plain != "":
		return nil, errUnsealed
	}
	return []byte(`""`), nil
}

// UnmarshalJSON implements json.Unmarshaler. A JSON string is a plaintext secret stored
// by a release before sealing; the server seals it at start (Provider.SealSecrets).
func (s *SealedSecret) UnmarshalJSON(b []byte) error {
	var plain string
	if err := json.Unmarshal(b, &plain); err == nil {
		*s = SealedSecret{plain: plain}
		return nil
	}
	var v sealedJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("secret setting: %w", err)
	}
	*s = SealedSecret{Sealed: v.Sealed}
	return nil
}

// Grant type names.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantAnonymous         = "urn:custodian:grant-type:anonymous"
	GrantPassword          = "password"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// DefaultSettings are the settings of a new tenant.
func DefaultSettings() Settings {
	return Settings{
		AccessTTL:              Duration(time.Hour),
		RefreshTTL:             Duration(30 * 24 * time.Hour),
		MaxAccessTTL:           Duration(24 * time.Hour),
		MaxRefreshTTL:          Duration(90 * 24 * time.Hour),
		IDTokenTTL:             Duration(time.Hour),
		CodeTTL:                Duration(5 * time.Minute),
		SigningAlg:             "ES256",
		GrantTypes:             []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantAnonymous, GrantTokenExchange},
		PasswordGrant:          false,
		LockoutThreshold:       5,
		LockoutDuration:        Duration(15 * time.Minute),
		SignupOptIn:            false,
		PasswordMinLength:      8,
		PasswordResetTTL:       Duration(time.Hour),
		TwoFactorTriggers:      []string{"off"},
		TwoFactorReverifyAfter: Duration(30 * 24 * time.Hour),
		TwoFactorB2BRequired:   false,
		TwoFactorDeviceTTL:     Duration(30 * 24 * time.Hour),
		SocialAutoLink:         true,
		SocialAutoProvision:    true,
		SocialTrustMFA:         true,
		SessionTTL:             Duration(14 * 24 * time.Hour),
		LoginPerIP:             60,
		LoginPerAccount:        10,
		SignupPerIP:            10,
		PagesSignup:            true,
		PagesPasswordReset:     true,
	}
}

// GrantAllowed reports whether the tenant allows a grant type. The password grant
// needs its own switch on top of being listed.
func (s Settings) GrantAllowed(grant string) bool {
	if grant == GrantPassword {
		return s.PasswordGrant
	}
	return slices.Contains(s.GrantTypes, grant)
}

// setting describes one stable key.
type setting struct {
	doc   string
	set   func(s *Settings, v string) error
	get   func(s *Settings) string
	clamp func(s *Settings) // keeps a stored value within the key's bounds (nil: none)
}

// durationSetting is a duration key with an upper bound: a lifetime an administrator
// sets by mistake (or on purpose) far above what the key is for is refused when set,
// and a value stored by a release without the bound is read as the bound.
func durationSetting(doc string, upTo time.Duration, field func(*Settings) *Duration) setting {
	return setting{
		doc: fmt.Sprintf("%s (at most %s)", doc, formatBound(upTo)),
		set: func(s *Settings, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("want a positive Go duration such as 15m or 720h, got %q", v)
			}
			if d > upTo {
				return fmt.Errorf("want at most %s, got %q", formatBound(upTo), v)
			}
			*field(s) = Duration(d)
			return nil
		},
		get:   func(s *Settings) string { return time.Duration(*field(s)).String() },
		clamp: func(s *Settings) { *field(s) = min(*field(s), Duration(upTo)) },
	}
}

// formatBound writes a bound the way the documentation does: 24h, 8760h, 10m.
func formatBound(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return strings.TrimSuffix(d.String(), "0s")
}

// Upper bounds of the duration settings.
const (
	MaxAccessTokenTTL   = 24 * time.Hour       // tokens.access_ttl, tokens.max_access_ttl, tokens.id_token_ttl
	MaxRefreshTokenTTL  = 365 * 24 * time.Hour // tokens.refresh_ttl, tokens.max_refresh_ttl
	MaxCodeTTL          = 10 * time.Minute     // tokens.code_ttl (RFC 6749 §4.1.2)
	MaxSessionTTL       = 90 * 24 * time.Hour  // session.ttl
	MaxLockoutDuration  = 24 * time.Hour       // lockout.duration
	MaxPasswordResetTTL = 24 * time.Hour       // password.reset_ttl
	MaxTrustTTL         = 365 * 24 * time.Hour // twofactor.reverify_after, twofactor.device_ttl
)

func boolSetting(doc string, field func(*Settings) *bool) setting {
	return setting{
		doc: doc,
		set: func(s *Settings, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			*field(s) = b
			return nil
		},
		get: func(s *Settings) string { return strconv.FormatBool(*field(s)) },
	}
}

func intSetting(doc string, lo, hi int, field func(*Settings) *int) setting {
	return setting{
		doc: doc,
		set: func(s *Settings, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("want a whole number from %d to %d, got %q", lo, hi, v)
			}
			*field(s) = n
			return nil
		},
		get: func(s *Settings) string { return strconv.Itoa(*field(s)) },
	}
}

// firebaseBase64 checks a Firebase parameter: base64 in the standard or the URL-safe
// alphabet, padded or not, of 1 to max bytes.
func firebaseBase64(v string, max int) error {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if len(b) == 0 || len(b) > max {
				return fmt.Errorf("want 1 to %d bytes, got %d", max, len(b))
			}
			return nil
		}
	}
	return errors.New("want base64")
}

var settingKeys = withBranding(map[string]setting{
	"tokens.access_ttl":      durationSetting("lifetime of access tokens", MaxAccessTokenTTL, func(s *Settings) *Duration { return &s.AccessTTL }),
	"tokens.refresh_ttl":     durationSetting("lifetime of refresh tokens", MaxRefreshTokenTTL, func(s *Settings) *Duration { return &s.RefreshTTL }),
	"tokens.max_access_ttl":  durationSetting("longest access-token lifetime a client may request", MaxAccessTokenTTL, func(s *Settings) *Duration { return &s.MaxAccessTTL }),
	"tokens.max_refresh_ttl": durationSetting("longest refresh-token lifetime a client may request", MaxRefreshTokenTTL, func(s *Settings) *Duration { return &s.MaxRefreshTTL }),
	"tokens.id_token_ttl":    durationSetting("lifetime of ID tokens", MaxAccessTokenTTL, func(s *Settings) *Duration { return &s.IDTokenTTL }),
	"tokens.code_ttl":        durationSetting("lifetime of authorization codes", MaxCodeTTL, func(s *Settings) *Duration { return &s.CodeTTL }),
	"session.ttl":            durationSetting("lifetime of a browser sign-in session of the login pages", MaxSessionTTL, func(s *Settings) *Duration { return &s.SessionTTL }),
	"keys.alg": {
		doc: "signing algorithm of new keys: ES256 or RS256 (takes effect at the next `keys rotate`)",
		set: func(s *Settings, v string) error {
			if v != "ES256" && v != "RS256" {
				return fmt.Errorf("want ES256 or RS256, got %q", v)
			}
			s.SigningAlg = v
			return nil
		},
		get: func(s *Settings) string { return s.SigningAlg },
	},
	"grants.allowed": {
		doc: "comma list of grant types the tenant's clients may use",
		set: func(s *Settings, v string) error {
			var out []string
			for _, g := range splitList(v) {
				switch g {
				case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantAnonymous, GrantPassword, GrantTokenExchange:
					out = append(out, g)
				default:
					return fmt.Errorf("unknown grant type %q", g)
				}
			}
			s.GrantTypes = out
			return nil
		},
		get: func(s *Settings) string { return strings.Join(s.GrantTypes, ",") },
	},
	"grants.password": boolSetting("allow the resource-owner password grant for first-party clients", func(s *Settings) *bool { return &s.PasswordGrant }),
	"lockout.threshold": {
		doc: "failed passwords within lockout.duration that lock an unfamiliar address of an account; the unfamiliar side as a whole and each known device lock at twice this (0 disables lockout)",
		set: func(s *Settings, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1000 {
				return fmt.Errorf("want a whole number from 0 to 1000, got %q", v)
			}
			s.LockoutThreshold = n
			return nil
		},
		get: func(s *Settings) string { return strconv.Itoa(s.LockoutThreshold) },
	},
	"ratelimit.anonymous_per_client": intSetting("new anonymous shopper tokens one client may get from one address per minute (0: no limit)", 0, MaxRatePerMinute,
		func(s *Settings) *int { return &s.RateLimitAnonymousPerClient }),
	"lockout.duration":     durationSetting("how long a locked side of an account stays locked", MaxLockoutDuration, func(s *Settings) *Duration { return &s.LockoutDuration }),
	"pages.signup":         boolSetting("the login page offers \"Create account\": the hosted sign-up page and its opt-in confirmation page (false: they answer 404)", func(s *Settings) *bool { return &s.PagesSignup }),
	"pages.password_reset": boolSetting("the login page offers \"Forgot password?\": the hosted reset pages, which the reset mail links to when password.reset_url is empty (false: they answer 404)", func(s *Settings) *bool { return &s.PagesPasswordReset }),
	"signup.optin":         boolSetting("new accounts stay inactive until the e-mailed opt-in link is used", func(s *Settings) *bool { return &s.SignupOptIn }),
	"password.min_length": {
		doc: "shortest password a customer may choose (8 to 128; common passwords and the e-mail address are always refused)",
		set: func(s *Settings, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 8 || n > 128 {
				return fmt.Errorf("want a whole number from 8 to 128, got %q", v)
			}
			s.PasswordMinLength = n
			return nil
		},
		get: func(s *Settings) string { return strconv.Itoa(s.PasswordMinLength) },
	},
	"password.reset_ttl": durationSetting("how long a password reset token works", MaxPasswordResetTTL, func(s *Settings) *Duration { return &s.PasswordResetTTL }),
	"password.reset_url": {
		doc: "the storefront page that sets a new password; the reset mail links to it with ?token= (empty: the mail carries the token)",
		set: func(s *Settings, v string) error {
			if v == "" {
				s.PasswordResetURL = ""
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname()))) {
				return fmt.Errorf("want an https URL (http only for loopback), got %q", v)
			}
			s.PasswordResetURL = v
			return nil
		},
		get: func(s *Settings) string { return s.PasswordResetURL },
	},
	"twofactor.triggers": {
		doc: "off, always, or a comma list of fingerprint, region",
		set: func(s *Settings, v string) error {
			list := splitList(v)
			switch {
			case len(list) == 1 && (list[0] == "off" || list[0] == "always"):
			case len(list) > 0:
				for _, t := range list {
					if t != "fingerprint" && t != "region" {
						return fmt.Errorf("want off, always, or a comma list of fingerprint, region; got %q", v)
					}
				}
			default:
				return fmt.Errorf("want off, always, or a comma list of fingerprint, region; got %q", v)
			}
			s.TwoFactorTriggers = list
			return nil
		},
		get: func(s *Settings) string { return strings.Join(s.TwoFactorTriggers, ",") },
	},
	"twofactor.reverify_after":  durationSetting("a trusted device needs a new second factor after this long", MaxTrustTTL, func(s *Settings) *Duration { return &s.TwoFactorReverifyAfter }),
	"twofactor.b2b_required":    boolSetting("B2B accounts need a second factor on every device and region they have not verified, even when twofactor.triggers is off", func(s *Settings) *bool { return &s.TwoFactorB2BRequired }),
	"twofactor.device_ttl":      durationSetting("how long a device stays trusted after a second factor with rememberDevice", MaxTrustTTL, func(s *Settings) *Duration { return &s.TwoFactorDeviceTTL }),
	"social.trust_upstream_mfa": boolSetting("a social sign-in whose upstream asserts a second factor (amr mfa, otp or hwk) counts as one; false: the local second-factor policy applies to every social sign-in", func(s *Settings) *bool { return &s.SocialTrustMFA }),
	"social.autolink":           boolSetting("link an upstream identity to the customer with the same verified e-mail without asking for the password (customers whose own address is verified; one whose address never was is claimed by the verified owner either way)", func(s *Settings) *bool { return &s.SocialAutoLink }),
	"notify.webhook_url": {
		doc: "deliver notifications as signed JSON posts to this URL instead of by e-mail (empty: e-mail)",
		set: func(s *Settings, v string) error {
			if v == "" {
				s.WebhookURL = ""
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname()))) {
				return fmt.Errorf("want an https URL (http only for loopback), got %q", v)
			}
			s.WebhookURL = v
			return nil
		},
		get: func(s *Settings) string { return s.WebhookURL },
	},
	"notify.webhook_secret": {
		doc: "HMAC-SHA256 key of the webhook signature (at least 32 characters; shown as REDACTED)",
		set: func(s *Settings, v string) error {
			if v != "" && len(v) < 32 {
				return errors.New("want at least 32 characters")
			}
			s.WebhookSecret = SealedSecret{plain: v}
			return nil
		},
		get: func(s *Settings) string {
			if !s.WebhookSecret.IsSet() {
				return ""
			}
			return "REDACTED"
		},
	},
	"import.firebase.signer_key": {
		doc: "base64 signer key of the Firebase project whose firebase-scrypt hashes were imported (shown as REDACTED)",
		set: func(s *Settings, v string) error {
			if v != "" {
				if err := firebaseBase64(v, 256); err != nil {
					return err
				}
			}
			s.FirebaseSignerKey = SealedSecret{plain: v}
			return nil
		},
		get: func(s *Settings) string {
			if !s.FirebaseSignerKey.IsSet() {
				return ""
			}
			return "REDACTED"
		},
	},
	"import.firebase.salt_separator": {
		doc: "base64 salt separator of that Firebase project",
		set: func(s *Settings, v string) error {
			if v != "" {
				if err := firebaseBase64(v, 64); err != nil {
					return err
				}
			}
			s.FirebaseSaltSeparator = v
			return nil
		},
		get: func(s *Settings) string { return s.FirebaseSaltSeparator },
	},
	"ratelimit.login_per_ip": intSetting("password and second-factor attempts (all entry points) and password-reset completions per client address per minute (0: no limit)",
		0, MaxRatePerMinute, func(s *Settings) *int { return &s.LoginPerIP }),
	"ratelimit.login_per_account": intSetting("password attempts per account (e-mail address) per minute, and authenticator-app attempts per customer (0: no limit)",
		0, MaxRatePerMinute, func(s *Settings) *int { return &s.LoginPerAccount }),
	"ratelimit.signup_per_ip": intSetting("sign-ups, password-reset requests and opt-in resends, counted together, per client address per minute (0: no limit)",
		0, MaxRatePerMinute, func(s *Settings) *int { return &s.SignupPerIP }),
	"import.firebase.rounds":   intSetting("rounds of that Firebase project's scrypt (1 to 8; 0: unset)", 0, 8, func(s *Settings) *int { return &s.FirebaseRounds }),
	"import.firebase.mem_cost": intSetting("mem_cost of that Firebase project's scrypt (1 to 14; 0: unset)", 0, 14, func(s *Settings) *int { return &s.FirebaseMemCost }),
	"import.weak_hash_action": {
		doc: "what the first sign-in does with an imported hash the strength rules call weak: upgrade (re-hash it, the default) or reset (send a password reset mail instead of signing in)",
		set: func(s *Settings, v string) error {
			switch v {
			case WeakHashUpgrade, "":
				s.WeakHashAction = ""
			case WeakHashReset:
				s.WeakHashAction = WeakHashReset
			default:
				return fmt.Errorf("want upgrade or reset, got %q", v)
			}
			return nil
		},
		get: func(s *Settings) string {
			if s.WeakHashAction == "" {
				return WeakHashUpgrade
			}
			return s.WeakHashAction
		},
	},
	"b2b.self_declared":    boolSetting("a company registration id the shopper gives (signup, PATCH /me) makes the account B2B (businessModel, accountType, twofactor.b2b_required); false: only memberships the admin assigns do", func(s *Settings) *bool { return &s.B2BSelfDeclared }),
	"social.autoprovision": boolSetting("create a customer on a first social sign-in", func(s *Settings) *bool { return &s.SocialAutoProvision }),
})

// withBranding adds the branding.* keys (branding.go) to the other settings.
func withBranding(keys map[string]setting) map[string]setting {
	maps.Copy(keys, brandingSettings())
	return keys
}

// SettingKeys lists the stable setting keys, sorted, with a line of documentation each.
func SettingKeys() [][2]string {
	out := make([][2]string, 0, len(settingKeys))
	for k, v := range settingKeys {
		out = append(out, [2]string{k, v.doc})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// Set changes one setting by its stable key. Relations between settings are checked
// by Validate once every change is applied, so related keys can change together.
func (s *Settings) Set(key, value string) error {
	st, ok := settingKeys[key]
	if !ok {
		return fmt.Errorf("%w: unknown setting %q", ErrInvalid, key)
	}
	if err := st.set(s, strings.TrimSpace(value)); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, key, err)
	}
	return nil
}

// Get returns one setting by its stable key, formatted as Set accepts it.
func (s *Settings) Get(key string) (string, bool) {
	st, ok := settingKeys[key]
	if !ok {
		return "", false
	}
	return st.get(s), true
}

// Validate checks the relations between settings.
func (s *Settings) Validate() error {
	var errs []error
	if s.AccessTTL > s.MaxAccessTTL {
		errs = append(errs, fmt.Errorf("tokens.access_ttl (%s) is above tokens.max_access_ttl (%s)", s.AccessTTL, s.MaxAccessTTL))
	}
	if s.WebhookURL != "" && !s.WebhookSecret.IsSet() {
		errs = append(errs, errors.New("notify.webhook_url needs notify.webhook_secret"))
	}
	if fb := s.FirebaseSignerKey.IsSet() || s.FirebaseSaltSeparator != "" || s.FirebaseRounds != 0 || s.FirebaseMemCost != 0; fb &&
		(!s.FirebaseSignerKey.IsSet() || s.FirebaseRounds == 0 || s.FirebaseMemCost == 0) {
		errs = append(errs, errors.New("import.firebase.signer_key, import.firebase.rounds and import.firebase.mem_cost go together (the salt separator too, when the project has one)"))
	}
	if s.RefreshTTL > s.MaxRefreshTTL {
		errs = append(errs, fmt.Errorf("tokens.refresh_ttl (%s) is above tokens.max_refresh_ttl (%s)", s.RefreshTTL, s.MaxRefreshTTL))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// DecodeSettings reads settings as the database keeps them: keys the stored JSON lacks
// (added by later releases) keep their defaults, and durations above their key's bound
// (stored before bounds existed) are read as the bound.
func DecodeSettings(raw []byte) (Settings, error) {
	st := DefaultSettings()
	if err := json.Unmarshal(raw, &st); err != nil {
		return Settings{}, err
	}
	for _, k := range settingKeys {
		if k.clamp != nil {
			k.clamp(&st)
		}
	}
	return st, nil
}

// Duration is a time.Duration that reads and writes as a Go duration string in JSON.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
