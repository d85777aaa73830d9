package storage

// The bulk import and export of customers (customer.ImportStore): new rows stream in
// with COPY on PostgreSQL and with multi-row statements on SQLite (split only where its
// parameter limit requires), one per table and batch; the export pages by key.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/custodian-id/custodian/customer"
)

var _ customer.ImportStore = (*Store)(nil)

// maxParams bounds the placeholders of one statement: SQLite allows 32766, PostgreSQL 65535.
const maxParams = 30000

// importColumns are the customer columns an import writes.
var importColumns = []string{"tenant", "email", "email_key", "password_hash", "password_format", "password_salt", "active",
	"on_hold", "user_name", "title", "first_name", "middle_name", "last_name", "contact_email", "contact_phone", "company",
	"preferred_language", "preferred_currency", "preferred_site", "company_registration_id", "locale_code",
	"accepts_marketing", "tax_exempt", "tax_id", "external_id", "customer_set", "has_external_password",
	"migration_required", "attributes", "notes", "segments", "commerce_summary", "mixins", "email_verified",
	"created_at", "created_by", "updated_at", "updated_by"}

func importValues(a *customer.Account) []any {
	return []any{a.Tenant, a.Email, customer.EmailKey(a.Email), a.PasswordHash, a.PasswordFormat, a.PasswordSalt, a.Active,
		a.OnHold, a.UserName, a.Title, a.FirstName, a.MiddleName, a.LastName, a.ContactEmail, a.ContactPhone, a.Company,
		a.PreferredLanguage, a.PreferredCurrency, a.PreferredSite, a.CompanyRegistrationID, a.LocaleCode,
		a.AcceptsMarketing, a.TaxExempt, a.TaxID, a.ExternalID, a.CustomerSet, a.HasExternalPassword,
		a.MigrationRequired, rawOr(a.Attributes, "[]"), rawOr(a.Notes, "[]"), rawOr(a.Segments, "[]"),
		rawOr(a.CommerceSummary, "{}"), rawOr(a.Mixins, "{}"), a.EmailVerified, ts(a.CreatedAt), a.CreatedBy,
		ts(a.UpdatedAt), a.UpdatedBy}
}

// placeholders writes "(?, ?, …)" for n columns.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// chunks splits rows so that each statement stays under maxParams placeholders.
func chunks[T any](rows []T, perRow int) [][]T {
	size := max(1, maxParams/max(1, perRow))
	var out [][]T
	for len(rows) > size {
		out = append(out, rows[:size])
		rows = rows[size:]
	}
	if len(rows) > 0 {
		out = append(out, rows)
	}
	return out
}

// insertMany runs head VALUES (…), (…) tail for the rows, in as few statements as the
// parameter limit allows.
func (s *Store) insertMany(ctx context.Context, head, tail string, ncols int, rows [][]any) error {
	for _, part := range chunks(rows, ncols) {
		var sb strings.Builder
		sb.WriteString(head)
		sb.WriteString(" VALUES ")
		ph := placeholders(ncols)
		args := make([]any, 0, len(part)*ncols)
		for i, r := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(ph)
			args = append(args, r...)
		}
		sb.WriteString(" ")
		sb.WriteString(tail)
		if _, err := s.exec(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// inList writes "?, ?, …" for n values.
func inList(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// MatchImport returns the tenant's accounts with one of the external ids or e-mail keys.
func (s *Store) MatchImport(ctx context.Context, tenant string, externalIDs, emailKeys []string) ([]*customer.Account, error) {
	var out []*customer.Account
	// external_id <> '' lets both databases use the partial unique index on external ids.
	for _, q := range []struct {
		where string
		vals  []string
	}{{"external_id <> '' AND external_id", externalIDs}, {"email_key", emailKeys}} {
		rows, err := s.matchImport(ctx, tenant, q.where, q.vals)
		if err != nil {
			return nil, fmt.Errorf("match import lines: %w", err)
		}
		for _, r := range rows {
			out = append(out, r.account())
		}
	}
	return out, nil
}

// matchImport returns the tenant's customers for which "where = value" holds for one of
// the values, where names a unique key after the tenant.
func (s *Store) matchImport(ctx context.Context, tenant, where string, vals []string) ([]accountRow, error) {
	var rows []accountRow
	if len(vals) == 0 {
		return nil, nil
	}
	if s.dialect == Postgres {
		// One probe of the unique index per value. With "IN (…)" PostgreSQL's planner, whose
		// statistics lag behind a bulk import into a fresh table, takes the tenant alone as
		// the index condition and reads every customer of the tenant for each batch, so the
		// import slowed down with every batch (95 µs a key at 100,000 customers, against 4 µs
		// this way). LIMIT 1 keeps the subquery from being flattened into a join the planner
		// could turn into the same scan.
		err := s.sel(ctx, &rows, `SELECT c.* FROM unnest(?::text[]) AS k(v), LATERAL (SELECT `+accountColumns+
			` FROM customers WHERE tenant = ? AND `+where+` = k.v LIMIT 1) AS c`, pq.Array(vals), tenant)
		return rows, err
	}
	for _, part := range chunks(vals, 1) {
		var more []accountRow
		if err := s.sel(ctx, &more, `SELECT `+accountColumns+` FROM customers WHERE tenant = ? AND `+where+
			` IN (`+inList(len(part))+`)`, append([]any{tenant}, anys(part)...)...); err != nil {
			return nil, err
		}
		rows = append(rows, more...)
	}
	return rows, nil
}

func anys[T any](in []T) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}

// ImportOwners returns the owners of address ids (-1 for an address of another tenant)
// and of the tenant's upstream identities.
func (s *Store) ImportOwners(ctx context.Context, tenant string, addressIDs []string, identities [][2]string) (map[string]int64, map[[2]string]int64, error) {
	addr, ids := map[string]int64{}, map[[2]string]int64{}
	for _, part := range chunks(addressIDs, 1) {
		var rows []struct {
			ID         string `db:"id"`
			Tenant     string `db:"tenant"`
			CustomerID int64  `db:"customer_id"`
		}
		if err := s.sel(ctx, &rows, `SELECT id, tenant, customer_id FROM addresses WHERE id IN (`+inList(len(part))+`)`, anys(part)...); err != nil {
			return nil, nil, fmt.Errorf("address owners: %w", err)
		}
		for _, r := range rows {
			addr[r.ID] = r.CustomerID
			if r.Tenant != tenant {
				addr[r.ID] = -1
			}
		}
	}
	// By issuer and subject, the primary key's columns after the tenant.
	issuers, seenIssuer := []any{}, map[string]bool{}
	subjects := make([]string, 0, len(identities))
	want := map[[2]string]bool{}
	for _, k := range identities {
		if !seenIssuer[k[0]] {
			seenIssuer[k[0]] = true
			issuers = append(issuers, k[0])
		}
		subjects = append(subjects, k[1])
		want[k] = true
	}
	type owner struct {
		Issuer     string `db:"issuer"`
		Subject    string `db:"subject"`
		CustomerID int64  `db:"customer_id"`
	}
	if s.dialect == Postgres && len(identities) > 0 {
		// One probe of the primary key per identity, for the reason matchImport gives.
		is, ss := make([]string, len(identities)), make([]string, len(identities))
		for i, k := range identities {
			is[i], ss[i] = k[0], k[1]
		}
		var rows []owner
		if err := s.sel(ctx, &rows, `SELECT o.* FROM unnest(?::text[], ?::text[]) AS k(i, s), LATERAL (SELECT issuer,
			subject, customer_id FROM identities WHERE tenant = ? AND issuer = k.i AND subject = k.s LIMIT 1) AS o`,
			pq.Array(is), pq.Array(ss), tenant); err != nil {
			return nil, nil, fmt.Errorf("identity owners: %w", err)
		}
		for _, r := range rows {
			ids[[2]string{r.Issuer, r.Subject}] = r.CustomerID
		}
		return addr, ids, nil
	}
	for _, part := range chunks(subjects, 1) {
		var rows []owner
		args := append(append([]any{tenant}, issuers...), anys(part)...)
		if err := s.sel(ctx, &rows, `SELECT issuer, subject, customer_id FROM identities WHERE tenant = ? AND issuer IN (`+
			inList(len(issuers))+`) AND subject IN (`+inList(len(part))+`)`, args...); err != nil {
			return nil, nil, fmt.Errorf("identity owners: %w", err)
		}
		for _, r := range rows {
			if k := [2]string{r.Issuer, r.Subject}; want[k] {
				ids[k] = r.CustomerID
			}
		}
	}
	return addr, ids, nil
}

// WriteImport writes a batch of import rows in the caller's transaction.
func (s *Store) WriteImport(ctx context.Context, tenant string, rows []customer.ImportRow) error {
	err := s.writeImport(ctx, tenant, rows)
	switch {
	case errors.Is(err, errUnique):
		return fmt.Errorf("import: %w", customer.ErrConflict)
	case errors.Is(err, errForeign):
		return fmt.Errorf("import: tenant %q: %w", tenant, customer.ErrNotFound)
	case err != nil:
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

func (s *Store) writeImport(ctx context.Context, tenant string, rows []customer.ImportRow) error {
	var fresh, existing []*customer.Account
	isNew := map[*customer.Account]bool{}
	for _, r := range rows {
		isNew[r.Account] = r.Account.ID == 0
		r.Account.Tenant = tenant
		if r.Account.ID == 0 {
			fresh = append(fresh, r.Account)
		} else {
			existing = append(existing, r.Account)
		}
	}
	if s.dialect == Postgres {
		if err := s.copyAccounts(ctx, fresh); err != nil {
			return err
		}
	} else if err := s.insertAccounts(ctx, fresh); err != nil {
		return err
	}
	if len(existing) > 0 {
		vals := make([][]any, len(existing))
		for i, a := range existing {
			vals[i] = append([]any{a.ID}, importValues(a)...)
		}
		var set []string
		for _, c := range importColumns {
			if c != "tenant" && c != "created_by" {
				set = append(set, c+" = excluded."+c)
			}
		}
		if err := s.insertMany(ctx, `INSERT INTO customers (id, `+strings.Join(importColumns, ", ")+`)`,
			`ON CONFLICT (id) DO UPDATE SET `+strings.Join(set, ", ")+`, version = customers.version + 1
			WHERE customers.tenant = excluded.tenant`, len(importColumns)+1, vals); err != nil {
			return fmt.Errorf("update customers: %w", err)
		}
	}
	return s.writeImportLists(ctx, tenant, rows, isNew)
}

// insertAccounts inserts new accounts with one statement per chunk and sets their ids,
// matched back by e-mail key (unique in the tenant, and in the batch).
func (s *Store) insertAccounts(ctx context.Context, accounts []*customer.Account) error {
	n := len(importColumns)
	for _, part := range chunks(accounts, n) {
		var sb strings.Builder
		sb.WriteString(`INSERT INTO customers (` + strings.Join(importColumns, ", ") + `) VALUES `)
		args := make([]any, 0, len(part)*n)
		byKey := make(map[string]*customer.Account, len(part))
		for i, a := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(placeholders(n))
			args = append(args, importValues(a)...)
			byKey[customer.EmailKey(a.Email)] = a
		}
		sb.WriteString(` RETURNING id, email_key`)
		rows, err := s.q(ctx).QueryxContext(ctx, s.rebind(sb.String()), args...)
		if err != nil {
			return fmt.Errorf("insert customers: %w", s.mapErr(err))
		}
		for rows.Next() {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				rows.Close()
				return fmt.Errorf("insert customers: %w", err)
			}
			if a := byKey[key]; a != nil {
				a.ID = id
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("insert customers: %w", s.mapErr(err))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("insert customers: %w", s.mapErr(err))
		}
		for _, a := range part {
			if a.ID == 0 {
				return fmt.Errorf("insert customers: no id returned for one of them")
			}
		}
	}
	return nil
}

// copyAccounts inserts new accounts on PostgreSQL: their ids are drawn from the table's
// identity sequence in one query and the rows stream in with one COPY. A taken e-mail
// or external id fails the COPY (errUnique) as it fails an INSERT.
func (s *Store) copyAccounts(ctx context.Context, accounts []*customer.Account) error {
	if len(accounts) == 0 {
		return nil
	}
	var ids []int64
	if err := s.sel(ctx, &ids, `SELECT nextval(pg_get_serial_sequence('customers', 'id')) FROM generate_series(1, ?)`,
		len(accounts)); err != nil {
		return fmt.Errorf("draw customer ids: %w", err)
	}
	if len(ids) != len(accounts) {
		return fmt.Errorf("draw customer ids: %d for %d customers", len(ids), len(accounts))
	}
	rows := make([][]any, len(accounts))
	for i, a := range accounts {
		rows[i] = append([]any{ids[i]}, importValues(a)...)
	}
	if err := s.copyRows(ctx, "customers", append([]string{"id"}, importColumns...), rows); err != nil {
		return fmt.Errorf("insert customers: %w", err)
	}
	for i, a := range accounts {
		a.ID = ids[i]
	}
	return nil
}

// copyRows streams rows into a table with COPY … FROM STDIN in the caller's transaction
// (PostgreSQL only; lib/pq allows COPY only in a transaction). The values are strings,
// integers, booleans and times, which lib/pq writes in COPY's text format.
func (s *Store) copyRows(ctx context.Context, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	tx, ok := ctx.Value(txKey{}).(*sqlx.Tx)
	if !ok {
		return fmt.Errorf("copy into %s: %w", table, ErrNoTx)
	}
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return s.mapErr(err)
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r...); err != nil {
			return s.mapErr(err)
		}
	}
	// The call without values ends the COPY and returns the server's verdict on it.
	if _, err := stmt.ExecContext(ctx); err != nil {
		return s.mapErr(err)
	}
	return nil
}

// insertRows inserts rows into a table: COPY on PostgreSQL, multi-row INSERTs on SQLite.
func (s *Store) insertRows(ctx context.Context, table string, cols []string, rows [][]any) error {
	if s.dialect == Postgres {
		return s.copyRows(ctx, table, cols, rows)
	}
	return s.insertMany(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`)`, ``, len(cols), rows)
}

// Columns of the lists an import writes, in the order writeImportLists gives the values.
var (
	importAddressColumns = []string{"id", "tenant", "customer_id", "contact_name", "company_name", "street",
		"street_number", "street_appendix", "extra_line1", "extra_line2", "extra_line3", "extra_line4", "zip_code", "city",
		"country", "state", "contact_phone", "tags", "is_default", "created_at", "updated_at"}
	importMembershipColumns = []string{"tenant", "customer_id", "account_id", "name", "contact_assignment_id", "created_at"}
	importIdentityColumns   = []string{"tenant", "issuer", "subject", "connector_id", "customer_id", "email", "created_at"}
)

// writeImportLists replaces the addresses, memberships and identities of the rows that
// carry them. Their created_at steps by a microsecond in the line's order, so that the
// order they are listed and exported in is the line's.
func (s *Store) writeImportLists(ctx context.Context, tenant string, rows []customer.ImportRow, isNew map[*customer.Account]bool) error {
	now := s.clock()
	step := func(i int) time.Time { return now.Add(time.Duration(i) * time.Microsecond) }
	var addrOwners, memberOwners, identOwners []int64
	var addrs, members, idents [][]any
	for _, r := range rows {
		id := r.Account.ID
		if r.Addresses != nil {
			if !isNew[r.Account] {
				addrOwners = append(addrOwners, id)
			}
			for i := range *r.Addresses {
				a := &(*r.Addresses)[i]
				if a.ID == "" {
					b := make([]byte, 5)
					if _, err := rand.Read(b); err != nil {
						return fmt.Errorf("address id: %w", err)
					}
					a.ID = hex.EncodeToString(b)
				}
				at := step(i)
				addrs = append(addrs, []any{a.ID, tenant, id, a.ContactName, a.CompanyName, a.Street, a.StreetNumber,
					a.StreetAppendix, a.ExtraLine1, a.ExtraLine2, a.ExtraLine3, a.ExtraLine4, a.ZipCode, a.City, a.Country,
					a.State, a.ContactPhone, jsonList(a.Tags).text(), a.IsDefault, at, at})
			}
		}
		if r.Memberships != nil {
			if !isNew[r.Account] {
				memberOwners = append(memberOwners, id)
			}
			for i, m := range *r.Memberships {
				members = append(members, []any{tenant, id, m.AccountID, m.Name, m.ContactAssignmentID, step(i)})
			}
		}
		if r.Identities != nil {
			if !isNew[r.Account] {
				identOwners = append(identOwners, id)
			}
			for i, x := range *r.Identities {
				at := ts(x.CreatedAt)
				if x.CreatedAt.IsZero() {
					at = step(i)
				}
				idents = append(idents, []any{tenant, x.Issuer, x.Subject, x.ConnectorID, id, x.Email, at})
			}
		}
	}
	for _, d := range []struct {
		table  string
		owners []int64
	}{{"addresses", addrOwners}, {"customer_memberships", memberOwners}, {"identities", identOwners}} {
		for _, part := range chunks(d.owners, 1) {
			if _, err := s.exec(ctx, `DELETE FROM `+d.table+` WHERE tenant = ? AND customer_id IN (`+inList(len(part))+`)`,
				append([]any{tenant}, anys(part)...)...); err != nil {
				return fmt.Errorf("replace %s: %w", d.table, err)
			}
		}
	}
	if err := s.insertRows(ctx, "addresses", importAddressColumns, addrs); err != nil {
		return fmt.Errorf("insert addresses: %w", err)
	}
	if err := s.insertRows(ctx, "customer_memberships", importMembershipColumns, members); err != nil {
		return fmt.Errorf("insert memberships: %w", err)
	}
	if err := s.insertRows(ctx, "identities", importIdentityColumns, idents); err != nil {
		return fmt.Errorf("insert identities: %w", err)
	}
	return nil
}

// ExportAccounts returns a page of the tenant's accounts after an id, with their lists.
func (s *Store) ExportAccounts(ctx context.Context, tenant string, after int64, limit int) ([]*customer.Account, error) {
	var rows []accountRow
	if err := s.sel(ctx, &rows, `SELECT `+accountColumns+` FROM customers WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?`,
		tenant, after, limit); err != nil {
		return nil, fmt.Errorf("export customers: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	out := make([]*customer.Account, len(rows))
	byID := make(map[int64]*customer.Account, len(rows))
	ids := make([]any, len(rows))
	for i, r := range rows {
		a := r.account()
		a.Addresses, a.Memberships, a.Identities = []customer.Address{}, []customer.Membership{}, []customer.Identity{}
		out[i], byID[a.ID], ids[i] = a, a, a.ID
	}
	in := inList(len(ids))
	args := append([]any{tenant}, ids...)
	var addrs []struct {
		addressRow
		CustomerID int64 `db:"customer_id"`
	}
	if err := s.sel(ctx, &addrs, `SELECT customer_id, `+addressColumns+` FROM addresses WHERE tenant = ? AND customer_id IN (`+in+`)
		ORDER BY customer_id, is_default DESC, created_at, id`, args...); err != nil {
		return nil, fmt.Errorf("export addresses: %w", err)
	}
	for _, r := range addrs {
		a, err := r.address()
		if err != nil {
			return nil, err
		}
		byID[r.CustomerID].Addresses = append(byID[r.CustomerID].Addresses, a)
	}
	var members []struct {
		CustomerID          int64  `db:"customer_id"`
		AccountID           string `db:"account_id"`
		Name                string `db:"name"`
		ContactAssignmentID string `db:"contact_assignment_id"`
	}
	if err := s.sel(ctx, &members, `SELECT customer_id, account_id, name, contact_assignment_id FROM customer_memberships
		WHERE tenant = ? AND customer_id IN (`+in+`) ORDER BY customer_id, created_at, account_id`, args...); err != nil {
		return nil, fmt.Errorf("export memberships: %w", err)
	}
	for _, m := range members {
		a := byID[m.CustomerID]
		a.Memberships = append(a.Memberships, customer.Membership{AccountID: m.AccountID, Name: m.Name, ContactAssignmentID: m.ContactAssignmentID})
	}
	var idents []identityRow
	if err := s.sel(ctx, &idents, `SELECT tenant, issuer, subject, connector_id, customer_id, email, created_at FROM identities
		WHERE tenant = ? AND customer_id IN (`+in+`) ORDER BY customer_id, created_at, issuer, subject`, args...); err != nil {
		return nil, fmt.Errorf("export identities: %w", err)
	}
	for _, r := range idents {
		a := byID[r.CustomerID]
		a.Identities = append(a.Identities, r.identity())
	}
	return out, nil
}
