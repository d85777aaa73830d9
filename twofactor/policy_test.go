package twofactor

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	key := []byte("0123456789abcdef0123456789abcdef")
	fpA, fpB := DeviceHash(key, "shop", "device-a"), DeviceHash(key, "shop", "device-b")
	later, earlier := now.Add(24*time.Hour), now.Add(-time.Second)
	recent, old := now.Add(-24*time.Hour), now.Add(-31*24*time.Hour)
	trustedA := Device{FingerprintHash: fpA, Region: "DE", TrustedUntil: &later}
	expiredA := Device{FingerprintHash: fpA, Region: "DE", TrustedUntil: &earlier}
	knownA := Device{FingerprintHash: fpA, Region: "DE"} // seen, never trusted
	trustedBUS := Device{FingerprintHash: fpB, Region: "US", TrustedUntil: &later}

	off := Policy{Mode: ModeOff}
	always := Policy{Mode: ModeAlways}
	fp := Policy{Mode: ModeTriggered, Fingerprint: true}
	region := Policy{Mode: ModeTriggered, Region: true}
	both := Policy{Mode: ModeTriggered, Fingerprint: true, Region: true}
	reverify := Policy{Mode: ModeTriggered, Fingerprint: true, ReverifyAfter: 30 * 24 * time.Hour}
	b2b := Policy{Mode: ModeOff, B2BRequired: true}
	verified := Subject{Last2FA: &recent}

	tests := []struct {
		name    string
		policy  Policy
		subject Subject
		devices []Device
		attempt Attempt
		want    Decision
	}{
		{"off never asks", off, Subject{}, nil, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{}},
		{"off ignores a new device", off, verified, []Device{trustedA}, Attempt{FingerprintHash: fpB, Region: "FR"}, Decision{}},
		{"always asks on a trusted device", always, verified, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonAlways}},
		{"first sign-in asks", fp, Subject{}, nil, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonNewDevice}},
		{"trusted fingerprint passes", fp, verified, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{}},
		{"trusted fingerprint from a new region passes without the region trigger", fp, verified, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "FR"}, Decision{}},
		{"expired trust asks", fp, verified, []Device{expiredA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonNewDevice}},
		{"known but never trusted asks", fp, verified, []Device{knownA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonNewDevice}},
		{"other fingerprint asks", fp, verified, []Device{trustedA}, Attempt{FingerprintHash: fpB, Region: "DE"}, Decision{true, ReasonNewDevice}},
		{"no fingerprint never matches", fp, verified, []Device{trustedA, {FingerprintHash: "", Region: "DE", TrustedUntil: &later}}, Attempt{Region: "DE"}, Decision{true, ReasonNewDevice}},
		{"new region asks", region, verified, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "FR"}, Decision{true, ReasonNewRegion}},
		{"region seen on another device passes", region, verified, []Device{trustedA}, Attempt{FingerprintHash: fpB, Region: "DE"}, Decision{}},
		{"both: same fingerprint, new region asks", both, verified, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "FR"}, Decision{true, ReasonNewRegion}},
		{"both: new fingerprint, seen region asks", both, verified, []Device{trustedA}, Attempt{FingerprintHash: fpB, Region: "DE"}, Decision{true, ReasonNewDevice}},
		{"both: each seen on some trusted device passes", both, verified, []Device{trustedA, trustedBUS}, Attempt{FingerprintHash: fpB, Region: "DE"}, Decision{}},
		{"reverify: recent second factor passes", reverify, verified, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{}},
		{"reverify: old second factor asks", reverify, Subject{Last2FA: &old}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonReverify}},
		{"reverify: exactly at the age asks", reverify, Subject{Last2FA: ptr(now.Add(-30 * 24 * time.Hour))}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonReverify}},
		{"reverify: a second before the age passes", reverify, Subject{Last2FA: ptr(now.Add(-30*24*time.Hour + time.Second))}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{}},
		{"reverify: never verified asks", reverify, Subject{}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonReverify}},
		{"b2b required: buyer on a new device asks", b2b, Subject{B2B: true}, nil, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonNewDevice}},
		{"b2b required: buyer on a trusted device and region passes", b2b, Subject{B2B: true, Last2FA: &recent}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{}},
		{"b2b required: buyer from a new region asks", b2b, Subject{B2B: true, Last2FA: &recent}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "FR"}, Decision{true, ReasonNewRegion}},
		{"b2b required: B2C shopper passes", b2b, Subject{}, nil, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{}},
		{"b2b required under the fingerprint trigger: a new region asks too", Policy{Mode: ModeTriggered, Fingerprint: true, B2BRequired: true},
			Subject{B2B: true, Last2FA: &recent}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "FR"}, Decision{true, ReasonNewRegion}},
		{"fingerprint trigger: a B2C shopper from a new region passes", Policy{Mode: ModeTriggered, Fingerprint: true, B2BRequired: true},
			Subject{Last2FA: &recent}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "FR"}, Decision{}},
		{"b2b not required: buyer passes", off, Subject{B2B: true}, nil, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{}},
		{"opted-in shopper under off asks on a new device", off, Subject{OptedIn: true}, nil, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonNewDevice}},
		{"opted-in shopper on a trusted device passes", off, Subject{OptedIn: true, Last2FA: &recent}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{}},
		{"opted-in shopper under always is asked every time", always, Subject{OptedIn: true, Last2FA: &recent}, []Device{trustedA}, Attempt{FingerprintHash: fpA, Region: "DE"}, Decision{true, ReasonAlways}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.policy, tt.subject, tt.devices, tt.attempt, now); got != tt.want {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func ptr(t time.Time) *time.Time { return &t }

func TestPolicyOf(t *testing.T) {
	tests := []struct {
		triggers []string
		want     Policy
		wantErr  bool
	}{
		{[]string{"off"}, Policy{Mode: ModeOff}, false},
		{nil, Policy{Mode: ModeOff}, false},
		{[]string{"always"}, Policy{Mode: ModeAlways}, false},
		{[]string{"fingerprint"}, Policy{Mode: ModeTriggered, Fingerprint: true}, false},
		{[]string{"region"}, Policy{Mode: ModeTriggered, Region: true}, false},
		{[]string{"fingerprint", " region"}, Policy{Mode: ModeTriggered, Fingerprint: true, Region: true}, false},
		{[]string{"sms"}, Policy{}, true},
	}
	for _, tt := range tests {
		got, err := PolicyOf(tt.triggers, 0, false)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("PolicyOf(%q) = %+v, %v; want %+v (error %v)", tt.triggers, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDeviceHash(t *testing.T) {
	k1, k2 := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	if DeviceHash(k1, "shop", "") != "" {
		t.Error("an empty fingerprint must hash to empty (never matches)")
	}
	a := DeviceHash(k1, "shop", "fp")
	for name, other := range map[string]string{
		"other key": DeviceHash(k2, "shop", "fp"), "other tenant": DeviceHash(k1, "mall", "fp"), "other fingerprint": DeviceHash(k1, "shop", "fq"),
	} {
		if other == a {
			t.Errorf("%s hashes the same", name)
		}
	}
	if a != DeviceHash(k1, "shop", "fp") {
		t.Error("hash is not stable")
	}
}

func BenchmarkDecide(b *testing.B) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	key := []byte("0123456789abcdef0123456789abcdef")
	until := now.Add(time.Hour)
	var devices []Device
	for i := range 20 {
		devices = append(devices, Device{FingerprintHash: DeviceHash(key, "shop", string(rune('a'+i))), Region: "DE", TrustedUntil: &until})
	}
	p := Policy{Mode: ModeTriggered, Fingerprint: true, Region: true, ReverifyAfter: 30 * 24 * time.Hour}
	last := now.Add(-time.Hour)
	a := Attempt{FingerprintHash: DeviceHash(key, "shop", "t"), Region: "DE"}
	for b.Loop() {
		Decide(p, Subject{Last2FA: &last}, devices, a, now)
	}
}

func TestStatusMethods(t *testing.T) {
	for _, tc := range []struct {
		st   Status
		want string
	}{
		{Status{}, "email"},
		{Status{TOTPPending: true, RecoveryRemaining: 10}, "email"},
		{Status{TOTP: true, RecoveryRemaining: 3}, "totp recovery"},
		{Status{TOTP: true}, "totp"},
	} {
		if got := strings.Join(tc.st.Methods(), " "); got != tc.want {
			t.Errorf("%+v: methods %q, want %q", tc.st, got, tc.want)
		}
	}
}
