package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-id/custodian/storage"
)

// Seeding fills Custodian's token table for the flat-cost runs (the same figures with
// 10k and with 1M stored tokens). There is no API that stores a million tokens quickly,
// so the harness writes them itself: it copies one real token family (an access and a
// refresh row that Custodian stored for an anonymous shopper) server-side, in batches of
// INSERT … SELECT over a generated series, giving every copy its own signature, request,
// session, subject and jti. The column list is read from the database, so only the
// table's name and the columns overridden below are assumed.

const tokenTable = "oauth2_tokens"

// seedBatch is how many token families one statement inserts.
const seedBatch = 20000

// seedOptions say how many token rows to add and how many of them have expired.
type seedOptions struct {
	Rows         int     // token rows: half access, half refresh (families of two)
	ExpiredShare float64 // 0…1: the share of families whose expiry is in the past
	Tag          string  // makes this seeding's keys unique
	Now          time.Time
}

// seedTokens adds opts.Rows rows to oauth2_tokens, copies of the oldest family that has
// a refresh token. It returns the number of rows added.
func seedTokens(ctx context.Context, db *sql.DB, dialect storage.Dialect, opts seedOptions) (int, error) {
	families := opts.Rows / 2
	if families <= 0 {
		return 0, nil
	}
	cols, err := tokenColumns(ctx, db, dialect)
	if err != nil {
		return 0, err
	}
	var tmpl string
	err = db.QueryRowContext(ctx, rebind(dialect, "SELECT request_id FROM "+tokenTable+
		" WHERE kind = 'refresh' ORDER BY requested_at LIMIT 1")).Scan(&tmpl)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errors.New("seed tokens: no token family to copy (issue a token first)")
	}
	if err != nil {
		return 0, fmt.Errorf("seed tokens: find a family to copy: %w", err)
	}
	expiredPerMille := int(opts.ExpiredShare*1000 + 0.5)
	expiredAt := opts.Now.UTC().Add(-48 * time.Hour)
	added := 0
	for lo := 0; lo < families; lo += seedBatch {
		hi := min(lo+seedBatch, families) - 1
		for _, kind := range []string{"access", "refresh"} {
			q := seedStatement(dialect, cols, kind)
			res, err := db.ExecContext(ctx, q, lo, hi, opts.Tag, expiredPerMille, expiredAt, kind, tmpl)
			if err != nil {
				return added, fmt.Errorf("seed %s tokens %d-%d: %w", kind, lo, hi, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return added, err
			}
			added += int(n)
		}
	}
	if dialect == storage.Postgres {
		// Fresh statistics now, rather than autovacuum's ANALYZE in the middle of a run.
		if _, err := db.ExecContext(ctx, "ANALYZE "+tokenTable); err != nil {
			return added, fmt.Errorf("analyze %s: %w", tokenTable, err)
		}
	}
	return added, nil
}

// tokenColumns lists the columns of oauth2_tokens in table order.
func tokenColumns(ctx context.Context, db *sql.DB, dialect storage.Dialect) ([]string, error) {
	q := "SELECT name FROM pragma_table_info('" + tokenTable + "') ORDER BY cid"
	if dialect == storage.Postgres {
		q = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '" +
			tokenTable + "' ORDER BY ordinal_position"
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", tokenTable, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, need := range []string{"kind", "signature", "request_id", "expires_at"} {
		if !contains(cols, need) {
			return nil, fmt.Errorf("seed tokens: %s has no column %s (the schema changed: update seed.go)", tokenTable, need)
		}
	}
	return cols, nil
}

func contains(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

// seedStatement copies the template row of one kind (the first by signature) for n in [lo, hi]. Parameters in
// order: lo, hi, tag, expired per mille, expired time, kind, template request id.
//
// Keys are spread over the index like real (random) signatures: they start with a
// 32-bit multiplicative hash of n, and end with n itself, which makes them unique.
func seedStatement(dialect storage.Dialect, cols []string, kind string) string {
	var hash, pad string
	switch dialect {
	case storage.Postgres:
		hash = "lpad(to_hex((s.n * 2654435761) % 4294967296), 8, '0')"
		pad = "lpad(CAST(s.n AS TEXT), 10, '0')"
	default:
		hash = "printf('%08x', (s.n * 2654435761) % 4294967296)"
		pad = "printf('%010d', s.n)"
	}
	// 43 characters (with a tag of 8), like a base64url HMAC-SHA256.
	sig := func(k string) string {
		return hash + " || '" + k + "' || " + pad + " || '-' || ? || 'xxxxxxxxxxxxxxx'"
	}
	key := func(prefix string) string { return "'seed-" + prefix + "-' || ? || '-' || " + pad }
	over := map[string]string{
		"signature":        sig(kind[:1]),
		"request_id":       key("req"),
		"session_id":       key("sess"),
		"subject":          key("sub"),
		"jti":              "CASE WHEN t.jti IS NULL THEN NULL ELSE " + key("jti-"+kind) + " END",
		"access_signature": "CASE WHEN t.access_signature IS NULL THEN NULL ELSE " + sig("a") + " END",
		"expires_at":       "CASE WHEN s.n % 1000 < ? THEN ? ELSE t.expires_at END",
	}
	// Each override that uses the tag takes it as its own parameter; the statement's
	// parameters are bound by position, so they are listed in column order.
	var sel []string
	var params []string // which parameter each ? after lo, hi stands for
	for _, c := range cols {
		e, ok := over[c]
		if !ok {
			sel = append(sel, "t."+c)
			continue
		}
		sel = append(sel, e)
		switch c {
		case "expires_at":
			params = append(params, "expiredPerMille", "expiredAt")
		default:
			params = append(params, "tag")
		}
	}
	q := "WITH RECURSIVE s(n) AS (SELECT CAST(? AS BIGINT) UNION ALL SELECT n + 1 FROM s WHERE n < CAST(? AS BIGINT)) " +
		"INSERT INTO " + tokenTable + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(sel, ", ") +
		" FROM s, " + tokenTable + " t WHERE t.kind = ? AND t.request_id = ?" +
		// One template row even when the family holds several tokens of the kind.
		" AND t.signature = (SELECT MIN(m.signature) FROM " + tokenTable + " m WHERE m.kind = t.kind AND m.request_id = t.request_id)"
	return bindSeed(dialect, q, params)
}

// bindSeed turns the statement's ? into the dialect's placeholders, numbering them so
// that lo, hi, tag, expired per mille, expired time, kind and template request id are
// parameters 1 to 7 whatever the column order: PostgreSQL reuses $n; SQLite takes ?NNN.
func bindSeed(dialect storage.Dialect, q string, params []string) string {
	index := map[string]int{"lo": 1, "hi": 2, "tag": 3, "expiredPerMille": 4, "expiredAt": 5, "kind": 6, "template": 7}
	order := append(append([]string{"lo", "hi"}, params...), "kind", "template")
	var b strings.Builder
	i := 0
	for _, r := range q {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n := index[order[i]]
		i++
		if dialect == storage.Postgres {
			b.WriteString("$" + strconv.Itoa(n))
		} else {
			b.WriteString("?" + strconv.Itoa(n))
		}
	}
	return b.String()
}

// rebind turns ? into $n for PostgreSQL.
func rebind(dialect storage.Dialect, q string) string {
	if dialect != storage.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
