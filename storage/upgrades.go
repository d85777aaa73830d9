package storage

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
)

// dataUpgrades are changes to stored data that need Go, run in order after the schema
// migrations. Each runs once per database: its name goes into data_upgrades in the
// same transaction, and a node that finds the name there (after waiting for the node
// that wrote it) skips it.
var dataUpgrades = []struct {
	name string
	run  func(s *Store, ctx context.Context) error
}{
	{"email-key-v2", (*Store).rekeyEmails},
}

func (s *Store) runDataUpgrades(ctx context.Context) error {
	for _, u := range dataUpgrades {
		err := s.InTx(ctx, func(ctx context.Context) error {
			n, err := s.exec(ctx, `INSERT INTO data_upgrades (name, applied_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, u.name, s.clock())
			if err != nil || n == 0 {
				return err
			}
			return u.run(s, ctx)
		})
		if err != nil {
			return fmt.Errorf("data upgrade %s: %w", u.name, err)
		}
	}
	return nil
}

// EventEmailCollision is recorded for an account whose address became the same as
// another account's when the e-mail key rule changed.
const EventEmailCollision = "customer.email_collision"

type rekeyRow struct {
	ID       int64  `db:"id"`
	Tenant   string `db:"tenant"`
	Email    string `db:"email"`
	Key      string `db:"email_key"`
	Verified bool   `db:"email_verified"`
	newKey   string
}

// movingEmailKeys lists the accounts whose stored e-mail key is not the current rule's,
// and the accounts that already hold a key one of them moves to (they compete for it).
func (s *Store) movingEmailKeys(ctx context.Context) ([]rekeyRow, error) {
	rows, err := s.q(ctx).QueryxContext(ctx, s.rebind(`SELECT id, tenant, email, email_key, email_verified FROM customers
		ORDER BY tenant, email_verified DESC, id`))
	if err != nil {
		return nil, fmt.Errorf("read e-mail keys: %w", s.mapErr(err))
	}
	var moved []rekeyRow
	for rows.Next() {
		var r rekeyRow
		if err := rows.StructScan(&r); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read e-mail keys: %w", err)
		}
		if r.newKey = customer.EmailKey(r.Email); r.newKey != r.Key {
			moved = append(moved, r)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read e-mail keys: %w", err)
	}
	// An account that already has a key another one moves to competes for it too.
	taken := map[[2]string]bool{}
	for _, r := range moved {
		taken[[2]string{r.Tenant, r.Key}] = true
	}
	for _, r := range slices.Clone(moved) {
		var h rekeyRow
		err := s.get(ctx, &h, `SELECT id, tenant, email, email_key, email_verified FROM customers WHERE tenant = ? AND email_key = ?`, r.Tenant, r.newKey)
		if errors.Is(err, sql.ErrNoRows) || taken[[2]string{h.Tenant, h.Key}] {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("re-key customer %d: %w", r.ID, err)
		}
		h.newKey = h.Key
		taken[[2]string{h.Tenant, h.Key}] = true
		moved = append(moved, h)
	}
	return moved, nil
}

// rekeyEmails moves every stored e-mail key to the current rule (customer.EmailKey).
// Until this release the key was the lower-cased address, under which bİll@x and
// bill@x were one address while ｂｉｌｌ@x, a decomposed é and an IDN domain in
// Unicode and in xn-- form were several. Accounts whose keys now coincide collide: the
// one with a verified address, else the oldest, keeps the key; each other one is set
// aside under a key no address has ("collision:{id}:{old key}"): it keeps its data,
// tokens and linked social sign-ins but is no longer found by its e-mail address until
// an operator resolves it, and a customer.email_collision security event names it.
func (s *Store) rekeyEmails(ctx context.Context) error {
	moved, err := s.movingEmailKeys(ctx)
	if err != nil {
		return err
	}
	// The verified address first, then the oldest account.
	slices.SortStableFunc(moved, func(a, b rekeyRow) int {
		switch {
		case a.Tenant != b.Tenant:
			return strings.Compare(a.Tenant, b.Tenant)
		case a.Verified != b.Verified:
			if a.Verified {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	// First every moving key steps aside, so that keys can trade places freely.
	for _, r := range moved {
		if _, err := s.exec(ctx, `UPDATE customers SET email_key = ? WHERE id = ?`, "rekey:"+strconv.FormatInt(r.ID, 10), r.ID); err != nil {
			return fmt.Errorf("re-key customer %d: %w", r.ID, err)
		}
	}
	collisions := 0
	for _, r := range moved {
		var holder int64
		err := s.get(ctx, &holder, `SELECT id FROM customers WHERE tenant = ? AND email_key = ?`, r.Tenant, r.newKey)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := s.exec(ctx, `UPDATE customers SET email_key = ? WHERE id = ?`, r.newKey, r.ID); err != nil {
				return fmt.Errorf("re-key customer %d: %w", r.ID, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("re-key customer %d: %w", r.ID, err)
		}
		collisions++
		if _, err := s.exec(ctx, `UPDATE customers SET email_key = ? WHERE id = ?`,
			"collision:"+strconv.FormatInt(r.ID, 10)+":"+r.Key, r.ID); err != nil {
			return fmt.Errorf("set aside customer %d: %w", r.ID, err)
		}
		id := r.ID
		if err := s.RecordEvent(ctx, &identity.SecurityEvent{Tenant: r.Tenant, Kind: EventEmailCollision, CustomerID: &id,
			Subject: strconv.FormatInt(id, 10), Detail: map[string]any{"keptBy": holder}, CreatedAt: s.clock()}); err != nil {
			return err
		}
		s.log.WarnContext(ctx, "two accounts now have the same e-mail address; this one was set aside and is no longer found by it",
			"tenant", r.Tenant, "customer", r.ID, "kept_by", holder)
	}
	if len(moved) > 0 {
		s.log.InfoContext(ctx, "re-keyed e-mail addresses", "accounts", len(moved), "set_aside", collisions)
	}
	return nil
}
