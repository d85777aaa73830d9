package customer

// Bulk import of a shop's customers (CONTRACT.md §6): a stream of JSON lines, read line by
// line and written in batches, each batch in one transaction with multi-row statements.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodian-id/custodian/customer/passwordhash"
	"github.com/custodian-id/custodian/identity"
)

// ImportStore is what the bulk import and export need of the store.
type ImportStore interface {
	// MatchImport returns the tenant's accounts whose external id or e-mail key is one
	// of those given.
	MatchImport(ctx context.Context, tenant string, externalIDs, emailKeys []string) ([]*Account, error)
	// ImportOwners returns which customer each of the given address ids (of any tenant)
	// and upstream identities (issuer, subject) of the tenant belongs to.
	ImportOwners(ctx context.Context, tenant string, addressIDs []string, identities [][2]string) (map[string]int64, map[[2]string]int64, error)
	// WriteImport writes a batch with multi-row statements in the caller's transaction:
	// it inserts the rows whose Account.ID is 0 (setting the id) and replaces the others,
	// and replaces the lists of each row that are not nil. ErrConflict when a unique key
	// (e-mail, external id, address id, identity) is taken.
	WriteImport(ctx context.Context, tenant string, rows []ImportRow) error
	// ExportAccounts returns up to limit of the tenant's accounts with an id above
	// after, in id order, with their addresses, memberships and identities.
	ExportAccounts(ctx context.Context, tenant string, after int64, limit int) ([]*Account, error)
}

// ImportRow is one customer of a batch to write. A nil list is left as stored.
type ImportRow struct {
	Account     *Account
	Addresses   *[]Address
	Memberships *[]Membership
	Identities  *[]Identity
}

// Outcomes of an import line.
const (
	ImportCreated = "created"
	ImportUpdated = "updated"
	ImportRefused = "refused"
)

// ImportResult is the report of one line.
type ImportResult struct {
	Line       int    `json:"line"`
	Outcome    string `json:"outcome"`
	CustomerID int64  `json:"customerId,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Note       string `json:"note,omitempty"`
}

// ImportSummary counts the lines of an import.
type ImportSummary struct {
	Lines    int  `json:"lines"`
	Created  int  `json:"created"`
	Updated  int  `json:"updated"`
	Refused  int  `json:"refused"`
	WeakHash int  `json:"weakHashes"`
	DryRun   bool `json:"dryRun"`
}

// ImportOptions steer an import.
type ImportOptions struct {
	// DryRun validates and matches every line but writes nothing.
	DryRun bool
	// AllowCrackableLegacyHashes accepts the legacy fast digests (md5, sha1, sha256,
	// sha512 and their -salt-suffix forms, Magento's MD5 chain, Django's sha1/md5).
	AllowCrackableLegacyHashes bool
	// BatchSize is the number of lines written per transaction (default 500).
	BatchSize int
	// Actor is recorded as created_by/updated_by (default "import").
	Actor string
	// Report receives every line's result in line order; an error stops the import.
	Report func(ImportResult) error
}

// DefaultImportBatch is the number of lines per transaction.
const DefaultImportBatch = 500

// ErrImportStore: the store cannot import (a store without ImportStore).
var ErrImportStore = errors.New("the store does not support bulk import")

func (s *Service) importStore() (ImportStore, error) {
	is, ok := s.store.(ImportStore)
	if !ok {
		return nil, ErrImportStore
	}
	return is, nil
}

// importRun is the state of one import.
type importRun struct {
	s       *Service
	st      ImportStore
	tenant  string
	opt     ImportOptions
	parser  *passwordhash.Parser
	sum     ImportSummary
	window  []ImportResult // results since the last flush, in line order
	batch   []*importLine
	keys    map[string]bool // e-mail keys and external ids of the batch
	windowI map[int]int     // line number → index in window
	fbErr   error           // why the tenant's Firebase settings are unusable, if they are
}

// Import reads JSON lines from r and creates or updates the tenant's customers: a line
// is matched by externalId, else by e-mail (the canonical key); a bad line is refused
// with its number and reason and the rest go on. Lines are written in batches, each in
// one transaction. The error is a failure of the store or of ctx, not of a line.
func (s *Service) Import(ctx context.Context, tenant string, r io.Reader, opt ImportOptions) (ImportSummary, error) {
	st, err := s.importStore()
	if err != nil {
		return ImportSummary{}, err
	}
	t, err := s.tenantOf(ctx, tenant)
	if err != nil {
		return ImportSummary{}, err
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultImportBatch
	}
	if opt.Actor == "" {
		opt.Actor = "import"
	}
	// Settings that make Firebase's parameters unusable refuse the firebase-scrypt lines
	// with the reason, not the whole import.
	parser, fbErr := s.HashParser(t, opt.AllowCrackableLegacyHashes)
	if fbErr != nil {
		parser = &passwordhash.Parser{Custodian: s.hasher, AllowCrackableLegacyHashes: opt.AllowCrackableLegacyHashes}
	}
	run := &importRun{s: s, st: st, tenant: t.Name, opt: opt, parser: parser, fbErr: fbErr, keys: map[string]bool{}, windowI: map[int]int{}}
	run.sum.DryRun = opt.DryRun
	if err := run.read(ctx, r); err != nil {
		return run.sum, err
	}
	if !opt.DryRun {
		s.event(ctx, t.Name, "customer.import", nil, map[string]any{"created": run.sum.Created, "updated": run.sum.Updated,
			"refused": run.sum.Refused, "actor": opt.Actor})
	}
	return run.sum, nil
}

// parsedLine is a line as the reading goroutine hands it over: validated (il), or
// refused with its reason.
type parsedLine struct {
	no     int
	il     *importLine
	reason string
}

// parseChunk is how many parsed lines travel together from the reading goroutine.
const parseChunk = 64

// read imports the lines of r. One goroutine reads, decodes and validates the lines
// (parse); this one matches and writes them in batches, so that on a machine with two
// cores the parsing of the next batch overlaps the database's work on this one. The
// reader stays at most about one batch ahead, so memory stays bounded by the batch size.
// read returns only after the reading goroutine has stopped: a caller may rely on r
// being no longer read (an HTTP handler's request body).
func (run *importRun) read(ctx context.Context, r io.Reader) error {
	pctx, cancel := context.WithCancel(ctx)
	chunks := make(chan []parsedLine, max(1, run.opt.BatchSize/parseChunk))
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		readErr <- run.parse(pctx, r, chunks)
	}()
	defer func() {
		cancel()
		for range chunks { // let the reader see the cancellation and stop
		}
	}()
	for chunk := range chunks {
		for _, p := range chunk {
			if err := run.take(ctx, p); err != nil {
				return err
			}
		}
	}
	if err := <-readErr; err != nil {
		return err
	}
	return run.flush(ctx)
}

// parse reads, decodes and validates lines and sends them in chunks, in line order.
// An empty line keeps its number and is not sent. The error is a read error of r, or
// ctx's when the import stopped.
func (run *importRun) parse(ctx context.Context, r io.Reader, out chan<- []parsedLine) error {
	br := bufio.NewReaderSize(r, 64<<10)
	chunk := make([]parsedLine, 0, parseChunk)
	send := func() error {
		if len(chunk) == 0 {
			return nil
		}
		select {
		case out <- chunk:
			chunk = make([]parsedLine, 0, parseChunk)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for no := 1; ; no++ {
		raw, tooLong, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			// The lines before the failed one are handed over; the batch they are in is
			// not written (the import stops), as the failure may have cut the input.
			return errors.Join(send(), fmt.Errorf("read import line %d: %w", no, err))
		}
		eof := err != nil
		if !eof || len(raw) > 0 || tooLong {
			if no == 1 {
				raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
			}
			if len(bytes.TrimSpace(raw)) > 0 || tooLong {
				chunk = append(chunk, run.parseLine(no, raw, tooLong))
			}
		}
		if eof || len(chunk) == parseChunk {
			if err := send(); err != nil {
				return err
			}
		}
		if eof {
			return nil
		}
	}
}

// readLine reads one line without its end, at most MaxImportLineBytes; a longer line is
// read to its end, dropped and reported as tooLong. Memory stays bounded either way.
func readLine(br *bufio.Reader) ([]byte, bool, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxImportLineBytes+2 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		return bytes.TrimRight(buf, "\r\n"), false, err
	}
}

func (run *importRun) refuse(no int, reason string) {
	run.sum.Refused++
	run.windowI[no] = len(run.window)
	run.window = append(run.window, ImportResult{Line: no, Outcome: ImportRefused, Reason: reason})
}

// parseLine decodes and validates one non-empty line.
func (run *importRun) parseLine(no int, raw []byte, tooLong bool) parsedLine {
	switch {
	case tooLong:
		return parsedLine{no: no, reason: fmt.Sprintf("line longer than %d bytes", MaxImportLineBytes)}
	case !utf8.Valid(raw):
		return parsedLine{no: no, reason: "line is not valid UTF-8"}
	}
	l, err := decodeLine(raw)
	if err != nil {
		return parsedLine{no: no, reason: err.Error()}
	}
	il, err := run.s.validateLine(no, l, run.parser)
	if err != nil && run.fbErr != nil && l.Password != nil && l.Password.Format == passwordhash.FirebaseScrypt {
		err = fmt.Errorf("password: %w", run.fbErr)
	}
	if err != nil {
		var ve *identity.ValidationError
		if errors.As(err, &ve) {
			parts := make([]string, len(ve.Fields))
			for i, f := range ve.Fields {
				parts[i] = f.Field + ": " + f.Message
			}
			return parsedLine{no: no, reason: strings.Join(parts, "; ")}
		}
		return parsedLine{no: no, reason: err.Error()}
	}
	return parsedLine{no: no, il: il}
}

// take handles one parsed line: a refusal is noted at once, a valid line joins the
// batch (after a flush when it names a customer the batch already names).
func (run *importRun) take(ctx context.Context, p parsedLine) error {
	run.sum.Lines++
	if p.il == nil {
		run.refuse(p.no, p.reason)
		return run.maybeFlush(ctx)
	}
	il := p.il
	if il.hash != nil && il.hash.Verdict().Weak {
		run.sum.WeakHash++
	}
	if run.keys["e:"+il.emailKey] || (il.extID != "" && run.keys["x:"+il.extID]) {
		if err := run.flush(ctx); err != nil {
			return err
		}
	}
	run.keys["e:"+il.emailKey] = true
	if il.extID != "" {
		run.keys["x:"+il.extID] = true
	}
	run.windowI[il.no] = len(run.window)
	run.window = append(run.window, ImportResult{Line: il.no})
	run.batch = append(run.batch, il)
	return run.maybeFlush(ctx)
}

func (run *importRun) maybeFlush(ctx context.Context) error {
	if len(run.batch) >= run.opt.BatchSize || len(run.window) >= 4*run.opt.BatchSize {
		return run.flush(ctx)
	}
	return nil
}

// flush writes the batch and reports the window's results in line order.
func (run *importRun) flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(run.batch) > 0 {
		if err := run.writeBatch(ctx, run.batch); err != nil {
			return err
		}
	}
	if run.opt.Report != nil {
		for _, r := range run.window {
			if err := run.opt.Report(r); err != nil {
				return err
			}
		}
	}
	run.window, run.batch = run.window[:0], run.batch[:0]
	clear(run.keys)
	clear(run.windowI)
	return nil
}

func (run *importRun) result(no int) *ImportResult { return &run.window[run.windowI[no]] }

// writeBatch writes a batch in one transaction. When the transaction fails on a unique
// key (a concurrent sign-up took an e-mail, two lines swap e-mails), the batch is
// written again one line per transaction, so only the lines that conflict are refused.
func (run *importRun) writeBatch(ctx context.Context, batch []*importLine) error {
	if run.opt.DryRun {
		if err := run.apply(ctx, batch, false); err != nil {
			return fmt.Errorf("check batch of lines %d to %d: %w", batch[0].no, batch[len(batch)-1].no, err)
		}
		run.count(batch)
		return nil
	}
	err := run.s.store.InTx(ctx, func(ctx context.Context) error { return run.apply(ctx, batch, true) })
	if err == nil || !errors.Is(err, identity.ErrConflict) {
		if err != nil {
			return fmt.Errorf("import batch of lines %d to %d: %w", batch[0].no, batch[len(batch)-1].no, err)
		}
		run.count(batch)
		return nil
	}
	for _, il := range batch {
		*run.result(il.no) = ImportResult{Line: il.no}
		err := run.s.store.InTx(ctx, func(ctx context.Context) error { return run.apply(ctx, []*importLine{il}, true) })
		switch {
		case errors.Is(err, identity.ErrConflict):
			*run.result(il.no) = ImportResult{Line: il.no, Outcome: ImportRefused,
				Reason: "conflicts with another customer: the e-mail, external id, an address id or an identity is taken"}
		case err != nil:
			return fmt.Errorf("import line %d: %w", il.no, err)
		}
	}
	run.count(batch)
	return nil
}

func (run *importRun) count(batch []*importLine) {
	for _, il := range batch {
		switch run.result(il.no).Outcome {
		case ImportCreated:
			run.sum.Created++
		case ImportUpdated:
			run.sum.Updated++
		case ImportRefused:
			run.sum.Refused++
		}
	}
}

// apply matches the lines of a batch to stored customers, refuses the ones that
// conflict, and (write) writes the others.
func (run *importRun) apply(ctx context.Context, batch []*importLine, write bool) error {
	var extIDs, keys []string
	for _, il := range batch {
		keys = append(keys, il.emailKey)
		if il.extID != "" {
			extIDs = append(extIDs, il.extID)
		}
	}
	found, err := run.st.MatchImport(ctx, run.tenant, extIDs, keys)
	if err != nil {
		return err
	}
	byExt, byKey := map[string]*Account{}, map[string]*Account{}
	for _, a := range found {
		if a.ExternalID != "" {
			byExt[a.ExternalID] = a
		}
		byKey[EmailKey(a.Email)] = a
	}
	targets := make([]*Account, len(batch))
	claimed := map[int64]int{}
	var addrIDs []string
	var idents [][2]string
	for i, il := range batch {
		res := run.result(il.no)
		target, reason := matchLine(il, byExt, byKey)
		if target != nil {
			if other, dup := claimed[target.ID]; dup && reason == "" {
				reason = fmt.Sprintf("names the same customer as line %d", other)
			}
			claimed[target.ID] = il.no
		}
		if reason != "" {
			*res = ImportResult{Line: il.no, Outcome: ImportRefused, Reason: reason}
			continue
		}
		targets[i] = target
		for _, a := range il.addrs {
			if a.ID != "" {
				addrIDs = append(addrIDs, a.ID)
			}
		}
		for _, id := range il.idents {
			idents = append(idents, [2]string{id.Issuer, id.Subject})
		}
	}
	addrOwner, identOwner, err := run.st.ImportOwners(ctx, run.tenant, addrIDs, idents)
	if err != nil {
		return err
	}
	now := run.s.now().UTC().Truncate(time.Microsecond)
	rows := make([]ImportRow, 0, len(batch))
	lines := make([]*importLine, 0, len(batch))
	for i, il := range batch {
		res := run.result(il.no)
		if res.Outcome == ImportRefused {
			continue
		}
		var targetID int64
		if targets[i] != nil {
			targetID = targets[i].ID
		}
		if reason := ownedElsewhere(il, targetID, addrOwner, identOwner); reason != "" {
			*res = ImportResult{Line: il.no, Outcome: ImportRefused, Reason: reason}
			continue
		}
		row, note := run.merge(il, targets[i], now)
		*res = ImportResult{Line: il.no, Outcome: ImportCreated, Note: note}
		if targets[i] != nil {
			*res = ImportResult{Line: il.no, Outcome: ImportUpdated, CustomerID: targetID, Note: note}
		}
		rows = append(rows, row)
		lines = append(lines, il)
	}
	if !write || len(rows) == 0 {
		return nil
	}
	if err := run.st.WriteImport(ctx, run.tenant, rows); err != nil {
		return err
	}
	for i, il := range lines {
		run.result(il.no).CustomerID = rows[i].Account.ID
	}
	return nil
}

// matchLine finds the stored customer a line names: by externalId, else by e-mail. A
// line whose e-mail belongs to a customer other than the one its external id names, or
// to one with another external id, is refused.
func matchLine(il *importLine, byExt, byKey map[string]*Account) (*Account, string) {
	byMail := byKey[il.emailKey]
	if il.extID != "" {
		if a := byExt[il.extID]; a != nil {
			if byMail != nil && byMail.ID != a.ID {
				return nil, "the e-mail belongs to another customer than the one with this externalId"
			}
			return a, ""
		}
		if byMail != nil && byMail.ExternalID != "" {
			return nil, "the e-mail belongs to a customer with another externalId"
		}
	}
	return byMail, ""
}

func ownedElsewhere(il *importLine, target int64, addrOwner map[string]int64, identOwner map[[2]string]int64) string {
	for i, a := range il.addrs {
		if owner, ok := addrOwner[a.ID]; ok && a.ID != "" && owner != target {
			return fmt.Sprintf("addresses[%d].id is taken by another customer", i)
		}
	}
	for i, id := range il.idents {
		if owner, ok := identOwner[[2]string{id.Issuer, id.Subject}]; ok && owner != target {
			return fmt.Sprintf("identities[%d] is linked to another customer", i)
		}
	}
	return ""
}

// merge applies a line to the stored account (nil: a new one) and returns the row to write.
func (run *importRun) merge(il *importLine, stored *Account, now time.Time) (ImportRow, string) {
	l := il.line
	a := &Account{Tenant: run.tenant, Active: true, CreatedAt: now, CreatedBy: run.opt.Actor, PasswordFormat: PasswordFormatCustodian}
	if stored != nil {
		cp := *stored
		a = &cp
	}
	a.Email = il.email
	if l.ExternalID != nil {
		a.ExternalID = il.extID
	}
	for dst, val := range map[*string]*string{&a.Title: l.Title, &a.FirstName: l.FirstName, &a.MiddleName: l.MiddleName,
		&a.LastName: l.LastName, &a.UserName: l.UserName, &a.ContactEmail: l.ContactEmail, &a.ContactPhone: l.ContactPhone,
		&a.Company: l.Company, &a.PreferredLanguage: l.PreferredLanguage, &a.PreferredCurrency: l.PreferredCurrency,
		&a.PreferredSite: l.PreferredSite, &a.LocaleCode: l.LocaleCode, &a.CustomerSet: l.CustomerSet, &a.TaxID: l.TaxID} {
		if val != nil {
			*dst = *val
		}
	}
	for dst, val := range map[*bool]*bool{&a.TaxExempt: l.TaxExempt, &a.AcceptsMarketing: l.AcceptsMarketing,
		&a.EmailVerified: l.EmailVerified, &a.Active: l.Active, &a.OnHold: l.OnHold} {
		if val != nil {
			*dst = *val
		}
	}
	for dst, val := range map[*json.RawMessage]json.RawMessage{&a.Attributes: l.Attributes, &a.Notes: l.Notes,
		&a.Segments: l.Segments, &a.CommerceSummary: l.CommerceSummary, &a.Mixins: l.Mixins} {
		if val != nil {
			var buf bytes.Buffer
			if json.Compact(&buf, val) == nil {
				*dst = buf.Bytes()
			}
		}
	}
	if l.CreatedAt != nil {
		a.CreatedAt = l.CreatedAt.UTC().Truncate(time.Microsecond)
	}
	if l.B2B != nil && l.B2B.CompanyRegistrationID != nil {
		a.CompanyRegistrationID = *l.B2B.CompanyRegistrationID
	}
	note := ""
	if l.Password != nil {
		format := string(il.hash.Format())
		if stored != nil && stored.PasswordHash != "" && !stored.ForeignPassword() && !stored.HasExternalPassword &&
			format != PasswordFormatCustodian {
			// The customer has set (or been upgraded to) a password in Custodian since: an
			// old platform's hash never replaces it.
			note = "password kept: the customer already has a Custodian password"
		} else {
			a.PasswordHash, a.PasswordFormat, a.PasswordSalt = l.Password.Hash, format, l.Password.Salt
			foreign := format != PasswordFormatCustodian
			a.HasExternalPassword, a.MigrationRequired = foreign, foreign
		}
	}
	a.UpdatedAt, a.UpdatedBy = now, run.opt.Actor
	row := ImportRow{Account: a}
	if l.Addresses != nil {
		addrs := il.addrs
		row.Addresses = &addrs
	}
	if l.B2B != nil && l.B2B.LegalEntities != nil {
		ms := il.members
		row.Memberships = &ms
	}
	if l.Identities != nil {
		ids := il.idents
		row.Identities = &ids
	}
	return row, note
}
