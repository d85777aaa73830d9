// Package twofactor decides when a sign-in needs a second factor and runs it: e-mailed
// codes, TOTP authenticator apps, recovery codes, challenges and trusted devices.
//
// It knows nothing about HTTP or tokens: the customer package asks it whether a sign-in
// needs a second factor (Decide), opens a challenge (Service.Begin), checks the code
// (Service.Verify) and then issues tokens itself.
package twofactor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Mode is what a tenant's twofactor.triggers setting says.
type Mode int

// Modes of a Policy.
const (
	ModeOff       Mode = iota // no second factor (unless the account is enforced)
	ModeAlways                // every password sign-in
	ModeTriggered             // when the device or region is not trusted, or the last second factor is too old
)

// Policy is a tenant's second-factor policy.
type Policy struct {
	Mode Mode
	// Fingerprint and Region are the triggers of ModeTriggered.
	Fingerprint bool
	Region      bool
	// ReverifyAfter: a trusted device needs a new second factor once the last one is
	// this old (0: never).
	ReverifyAfter time.Duration
	// B2BRequired enforces a second factor on B2B accounts even when Mode is ModeOff.
	B2BRequired bool
}

// PolicyOf reads the tenant settings twofactor.triggers ("off", "always", or a list of
// "fingerprint" and "region"), twofactor.reverify_after and twofactor.b2b_required.
func PolicyOf(triggers []string, reverifyAfter time.Duration, b2bRequired bool) (Policy, error) {
	p := Policy{ReverifyAfter: reverifyAfter, B2BRequired: b2bRequired}
	for _, t := range triggers {
		switch strings.TrimSpace(t) {
		case "off", "":
		case "always":
			p.Mode = ModeAlways
		case "fingerprint":
			p.Mode, p.Fingerprint = ModeTriggered, true
		case "region":
			p.Mode, p.Region = ModeTriggered, true
		default:
			return Policy{}, fmt.Errorf("twofactor: unknown trigger %q", t)
		}
	}
	return p, nil
}

// Subject is what the policy needs to know about an account.
type Subject struct {
	// B2B accounts belong to a company (memberships or a company registration).
	B2B bool
	// OptedIn: the customer asked for a second factor (or enrolled an authenticator app).
	OptedIn bool
	// Last2FA is when the account last completed a second factor.
	Last2FA *time.Time
}

// Attempt is the sign-in being decided: the device it comes from, as the storefront
// reports it. FingerprintHash is DeviceHash of the fingerprint ("" when none was sent:
// such a sign-in never matches a trusted device).
type Attempt struct {
	FingerprintHash string
	Region          string
}

// Decision is the policy's answer. Reason names the first trigger that fired, for the
// audit trail: "always", "new_device", "new_region", "reverify".
type Decision struct {
	Required bool
	Reason   string
}

// Reasons of a Decision.
const (
	ReasonAlways    = "always"
	ReasonNewDevice = "new_device"
	ReasonNewRegion = "new_region"
	ReasonReverify  = "reverify"
)

// Decide is the policy as a pure function. An enforced account (a B2B account under
// B2BRequired, or a customer who opted in) is asked on every fingerprint and region it
// has not verified whatever the tenant's triggers (unless they say always). Under
// ModeTriggered a sign-in needs a
// second factor when its fingerprint is not among the account's trusted devices (with
// the fingerprint trigger), its region is not (with the region trigger), or the last
// second factor is older than ReverifyAfter. Only devices trusted at now count.
func Decide(p Policy, s Subject, devices []Device, a Attempt, now time.Time) Decision {
	mode, fp, region := p.Mode, p.Fingerprint, p.Region
	if mode != ModeAlways && (s.OptedIn || (p.B2BRequired && s.B2B)) {
		mode, fp, region = ModeTriggered, true, true
	}
	switch mode {
	case ModeOff:
		return Decision{}
	case ModeAlways:
		return Decision{Required: true, Reason: ReasonAlways}
	}
	var fpSeen, regionSeen bool
	for _, d := range devices {
		if !d.TrustedAt(now) {
			continue
		}
		if a.FingerprintHash != "" && hmac.Equal([]byte(d.FingerprintHash), []byte(a.FingerprintHash)) {
			fpSeen = true
		}
		if d.Region == a.Region {
			regionSeen = true
		}
	}
	switch {
	case fp && !fpSeen:
		return Decision{Required: true, Reason: ReasonNewDevice}
	case region && !regionSeen:
		return Decision{Required: true, Reason: ReasonNewRegion}
	case p.ReverifyAfter > 0 && (s.Last2FA == nil || !now.Before(s.Last2FA.Add(p.ReverifyAfter))):
		return Decision{Required: true, Reason: ReasonReverify}
	}
	return Decision{}
}

// Device is a device (fingerprint and region) an account signed in from. It is trusted
// until TrustedUntil after a second factor with rememberDevice; otherwise it is only
// known (for new-device notifications and to tie tokens to it).
type Device struct {
	ID              string
	Tenant          string
	CustomerID      int64
	FingerprintHash string
	Region          string
	UserAgent       string
	CreatedAt       time.Time
	LastSeenAt      time.Time
	TrustedUntil    *time.Time
}

// TrustedAt reports whether the device is trusted at now.
func (d *Device) TrustedAt(now time.Time) bool {
	return d.TrustedUntil != nil && now.Before(*d.TrustedUntil)
}

// DeviceHash is how a fingerprint is stored and compared: an HMAC under a server key,
// so the database holds no storefront device identifiers. An empty fingerprint hashes
// to "".
func DeviceHash(key []byte, tenant, fingerprint string) string {
	if fingerprint == "" {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("device|" + tenant + "|" + fingerprint))
	return hex.EncodeToString(m.Sum(nil))
}
