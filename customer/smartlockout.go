package customer

// Smart lockout: failed passwords lock the side of an account they come from, not the
// account. The rule (README, "Smart lockout"):
//
//   - A sign-in is familiar when its fingerprint is one of the account's devices: a
//     device is only ever recorded after a successful sign-in (touchDevice), so an
//     attacker cannot make one without the password. Each familiar device has its own
//     side, "device:<id>", with a budget of 2 × lockout.threshold: the owner's own
//     typos get more room, and failures on one device never lock another.
//   - Every other sign-in (no fingerprint, or one the account has never succeeded
//     with) is unfamiliar and counts twice: on its address's side, "addr:<keyed hash
//     of the /32 or /64>", with a budget of lockout.threshold, and on the unfamiliar
//     side as a whole, "unfamiliar", with a budget of 2 × lockout.threshold. One
//     address that guesses locks only itself; an attacker who rotates addresses,
//     fingerprints or both still gets at most 2 × threshold guesses per
//     lockout.duration in total before every unfamiliar sign-in of the account is
//     locked, and the owner on a known device goes on signing in.
//   - A locked side refuses the right password with ErrLocked (as the whole account did
//     before); a wrong one reads like an unknown e-mail. Counts run in windows of
//     lockout.duration: a side's count starts again when its lock runs out or when its
//     first failure is older than that. A success forgets the counts of its own side
//     only, so the owner signing in does not hand an attacker fresh guesses elsewhere.
//   - Wrong second-factor codes count like wrong passwords, on the sides of the
//     challenge's sign-in. A password lockout is no account lock: social sign-in and
//     password reset stay open (a reset clears every side); the administrator's lock
//     (customers.locked_until) still closes everything.

import (
	"context"
	"crypto/hmac"
	"fmt"
	"net/netip"
	"time"

	"github.com/custodian-id/custodian/identity"
)

// LockoutSide is one side of an account that failed passwords are counted against,
// with the count at which it locks (0: never).
type LockoutSide struct {
	Key       string
	Threshold int
}

// Lockout is a locked side of an account.
type Lockout struct {
	Side  string     `json:"side"`
	Until *time.Time `json:"until"`
}

// Sides of the smart lockout.
const (
	sideUnfamiliar = "unfamiliar"
	sideDevice     = "device:"
	sideAddr       = "addr:"
)

// familiarFactor is how many times lockout.threshold a familiar device, and the
// unfamiliar side as a whole, may fail before they lock.
const familiarFactor = 2

// signInSides are the sides a sign-in from a device (the keyed hash of its fingerprint,
// "" without one) and the caller's address counts against.
func (s *Service) signInSides(ctx context.Context, t *identity.Tenant, id int64, fingerprintHash string) ([]LockoutSide, error) {
	threshold := max(t.Settings.LockoutThreshold, 0)
	if fingerprintHash != "" {
		devices, err := s.tf.Devices(ctx, t.Name, id)
		if err != nil {
			return nil, fmt.Errorf("lockout sides: %w", err)
		}
		for _, d := range devices {
			if hmac.Equal([]byte(d.FingerprintHash), []byte(fingerprintHash)) {
				return []LockoutSide{{Key: sideDevice + d.ID, Threshold: familiarFactor * threshold}}, nil
			}
		}
	}
	return []LockoutSide{
		{Key: sideAddr + s.addressKey(t.Name, identity.RequestMetaFromContext(ctx).IP), Threshold: threshold},
		{Key: sideUnfamiliar, Threshold: familiarFactor * threshold},
	}, nil
}

// addressKey names the network an address belongs to for the lockout: the address
// itself for IPv4, its /64 for IPv6 (one subscriber's network, where rotating is
// free), under a keyed hash so that the table holds no addresses.
func (s *Service) addressKey(tenant, ip string) string {
	prefix := ip
	if a, err := netip.ParseAddr(ip); err == nil {
		a = a.Unmap()
		if a.Is6() {
			if p, err := a.Prefix(64); err == nil {
				prefix = p.String()
			}
		} else {
			prefix = a.String()
		}
	}
	return s.tf.DeviceHash(tenant, "lockout-address|"+prefix)[:32]
}

// successKeys are the sides a success forgets the count of: its own device or address,
// never the unfamiliar side as a whole (an attacker's spread-out guesses would start
// again each time the owner signs in somewhere new).
func successKeys(sides []LockoutSide) []string {
	keys := make([]string, 0, len(sides))
	for _, sd := range sides {
		if sd.Key != sideUnfamiliar {
			keys = append(keys, sd.Key)
		}
	}
	return keys
}

// lockedSide reports the first of sides that is locked at now.
func (s *Service) lockedSide(ctx context.Context, t *identity.Tenant, id int64, sides []LockoutSide, now time.Time) (*Lockout, error) {
	locks, err := s.guard.Lockouts(ctx, t.Name, id, now)
	if err != nil {
		return nil, fmt.Errorf("lockout: %w", err)
	}
	for _, l := range locks {
		for _, sd := range sides {
			if l.Side == sd.Key {
				return &l, nil
			}
		}
	}
	return nil, nil
}

// recordFailure counts a failure against sides and writes the audit trail.
func (s *Service) recordFailure(ctx context.Context, t *identity.Tenant, id int64, sides []LockoutSide, kind string, detail map[string]any) error {
	out, err := s.guard.RecordFailedLogin(ctx, t.Name, id, s.now().UTC(), sides, time.Duration(t.Settings.LockoutDuration))
	if err != nil {
		return fmt.Errorf("record failure: %w", err)
	}
	detail["count"] = out.Count
	detail["familiar"] = len(sides) == 1
	s.event(ctx, t.Name, kind, &id, detail)
	for _, l := range out.Locked {
		s.event(ctx, t.Name, identity.EventAccountLocked, &id, map[string]any{"until": l.Until, "side": publicSide(l.Side)})
	}
	return nil
}

// publicSide is how a side reads in the audit trail and the admin view: which kind of
// side, and the device for a familiar one (an address stays a hash).
func publicSide(key string) string {
	if len(key) > len(sideAddr) && key[:len(sideAddr)] == sideAddr {
		return "address"
	}
	return key
}
