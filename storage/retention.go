package storage

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Retention is how long rows that only grow are kept once they are of no more use:
// expired, used, delivered or old. Every period counts from the moment the row stopped
// mattering (a token's expiry, a message's creation), not from its creation alone. The
// defaults (DefaultRetention) are documented in README.md, "Retention".
type Retention struct {
	// ExpiredTokens: OAuth tokens, codes and request state after they expire, so a late
	// replay is still recognised as one (refresh-token reuse detection reads them).
	ExpiredTokens time.Duration
	// OneTimeTokens: opt-in, password reset and e-mail change tokens after they expire
	// or are used.
	OneTimeTokens time.Duration
	// BrowserSessions: sign-in sessions of the login pages after they expire.
	BrowserSessions time.Duration
	// Challenges: second-factor challenges (and their e-mailed codes) after they expire.
	Challenges time.Duration
	// UpstreamLogins: social sign-ins in flight (state, nonce, PKCE verifier) and their
	// hand-offs after they expire.
	UpstreamLogins time.Duration
	// RateLimits: rate-limit windows and lockout counters after they start (a window is
	// far shorter).
	RateLimits time.Duration
	// Outbox: delivered and given-up messages (already scrubbed of their content) after
	// they were queued: the record that a message went out.
	Outbox time.Duration
	// SecurityEvents: the audit trail (sign-ins, lockouts, replays, admin actions).
	SecurityEvents time.Duration
	// Devices: devices not seen for this long and no longer trusted (the next sign-in
	// from one counts as a new device again).
	Devices time.Duration
}

// DefaultRetention is the retention of a Config that names none.
func DefaultRetention() Retention {
	return Retention{
		ExpiredTokens:   24 * time.Hour,
		OneTimeTokens:   24 * time.Hour,
		BrowserSessions: 24 * time.Hour,
		Challenges:      time.Hour,
		UpstreamLogins:  time.Hour,
		RateLimits:      24 * time.Hour,
		Outbox:          30 * 24 * time.Hour,
		SecurityEvents:  365 * 24 * time.Hour,
		Devices:         365 * 24 * time.Hour,
	}
}

// WithDefaults fills every zero period with its default.
func (r Retention) WithDefaults() Retention {
	d := DefaultRetention()
	for _, p := range []struct{ v, def *time.Duration }{
		{&r.ExpiredTokens, &d.ExpiredTokens}, {&r.OneTimeTokens, &d.OneTimeTokens}, {&r.BrowserSessions, &d.BrowserSessions},
		{&r.Challenges, &d.Challenges}, {&r.UpstreamLogins, &d.UpstreamLogins}, {&r.RateLimits, &d.RateLimits},
		{&r.Outbox, &d.Outbox}, {&r.SecurityEvents, &d.SecurityEvents}, {&r.Devices, &d.Devices},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	return r
}

// sweep is the removal of one table's rows past their retention: key names the
// table's primary key (a row value for a composite one), where selects the rows with
// one ? per cutoff.
type sweep struct {
	table, key, where string
	cutoffs           func(now time.Time, r Retention) []any
}

func before(d func(Retention) time.Duration, n int) func(time.Time, Retention) []any {
	return func(now time.Time, r Retention) []any {
		c := ts(now.Add(-d(r)))
		out := make([]any, n)
		for i := range out {
			out[i] = c
		}
		return out
	}
}

var sweeps = []sweep{
	{"oauth2_tokens", "kind, signature", "expires_at IS NOT NULL AND expires_at < ?", before(func(r Retention) time.Duration { return r.ExpiredTokens }, 1)},
	{"one_time_tokens", "token_hash", "expires_at < ? OR used_at < ?", before(func(r Retention) time.Duration { return r.OneTimeTokens }, 2)},
	{"browser_sessions", "id_hash", "expires_at < ?", before(func(r Retention) time.Duration { return r.BrowserSessions }, 1)},
	{"twofactor_challenges", "id_hash", "expires_at < ?", before(func(r Retention) time.Duration { return r.Challenges }, 1)},
	{"upstream_logins", "state_hash", "expires_at < ?", before(func(r Retention) time.Duration { return r.UpstreamLogins }, 1)},
	{"social_handoffs", "tenant, request_id", "expires_at < ?", before(func(r Retention) time.Duration { return r.UpstreamLogins }, 1)},
	{"rate_limits", "bucket", "window_start < ?", before(func(r Retention) time.Duration { return r.RateLimits }, 1)},
	{"login_lockouts", "tenant, customer_id, side", "first_failure_at < ? AND (locked_until IS NULL OR locked_until < ?)",
		before(func(r Retention) time.Duration { return r.RateLimits }, 2)},
	{"outbox", "id", "next_attempt_at IS NULL AND created_at < ?", before(func(r Retention) time.Duration { return r.Outbox }, 1)},
	{"security_events", "id", "created_at < ?", before(func(r Retention) time.Duration { return r.SecurityEvents }, 1)},
	{"devices", "id", "last_seen_at < ? AND (trusted_until IS NULL OR trusted_until < ?)",
		before(func(r Retention) time.Duration { return r.Devices }, 2)},
}

// SweepBatch is how many rows one DELETE removes at most: a sweep of a large backlog is
// many short statements, never one that holds locks on millions of rows.
const SweepBatch = 1000

// Sweep deletes, table by table, the rows past their retention at now, in batches of
// at most batch rows (SweepBatch when batch <= 0), each its own statement:
// DELETE … WHERE key IN (SELECT key … LIMIT batch), repeated until a batch comes back
// short. It returns how many rows went per table. Any number of nodes may sweep at
// once: a row deleted twice is deleted once.
func (s *Store) Sweep(ctx context.Context, now time.Time, r Retention, batch int) (map[string]int64, error) {
	if batch <= 0 {
		batch = SweepBatch
	}
	r = r.WithDefaults()
	out := map[string]int64{}
	for _, sw := range sweeps {
		key := sw.key
		if strings.Contains(sw.key, ",") {
			key = "(" + sw.key + ")"
		}
		q := `DELETE FROM ` + sw.table + ` WHERE ` + key + ` IN (SELECT ` + sw.key + ` FROM ` + sw.table +
			` WHERE ` + sw.where + ` LIMIT ?)`
		args := append(sw.cutoffs(now, r), batch)
		for {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			n, err := s.exec(ctx, q, args...)
			if err != nil {
				return out, fmt.Errorf("sweep %s: %w", sw.table, err)
			}
			out[sw.table] += n
			if n < int64(batch) {
				break
			}
		}
	}
	return out, nil
}
