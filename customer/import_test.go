package customer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/customer/passwordhash"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage/storagetest"
)

func (f *fixture) importLines(t *testing.T, text string, opt customer.ImportOptions) (customer.ImportSummary, []customer.ImportResult) {
	t.Helper()
	var results []customer.ImportResult
	opt.Report = func(r customer.ImportResult) error { results = append(results, r); return nil }
	sum, err := f.svc.Import(context.Background(), "shop", strings.NewReader(text), opt)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return sum, results
}

func (f *fixture) export(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	err := f.svc.ExportTenant(context.Background(), "shop", func(l *customer.Line) error {
		b, err := customer.MarshalLine(l)
		buf.Write(b)
		return err
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return buf.String()
}

// TestImportMatchesAndUpdates: a line creates a customer with its addresses, memberships,
// identities and attributes; a re-run updates and never duplicates; lines match by
// externalId first (an e-mail change follows it) and else by the canonical e-mail key.
func TestImportMatchesAndUpdates(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			file := `{"email":"Jane@Example.com","externalId":"m-1","firstName":"Jane","lastName":"Doe","localeCode":"de-DE","emailVerified":true,"createdAt":"2019-05-01T10:00:00Z","attributes":[{"fullyQualifiedName":"tenant~tier","values":["gold"]}],"addresses":[{"street":"Platz der Republik","streetNumber":"1","zipCode":"11011","city":"Berlin","country":"de","tags":["BILLING"]},{"street":"Hauptstr.","zipCode":"10115","city":"Berlin","country":"DE","isDefault":true}],"b2b":{"companyRegistrationId":"HRB 1","legalEntities":[{"id":"le-1","name":"ACME","contactAssignmentId":"ca-1"}]},"identities":[{"issuer":"https://accounts.example","subject":"g-1","connectorId":"google","email":"jane@example.com"}]}
{"email":"bob@example.com","firstName":"Bob"}
`
			sum, res := f.importLines(t, file, customer.ImportOptions{})
			if sum.Created != 2 || sum.Updated != 0 || sum.Refused != 0 || len(res) != 2 || res[0].Outcome != customer.ImportCreated {
				t.Fatalf("first run: %+v %+v", sum, res)
			}
			jane, err := f.svc.Account(ctx, "shop", res[0].CustomerID)
			if err != nil {
				t.Fatal(err)
			}
			if jane.Email != "Jane@example.com" || jane.ExternalID != "m-1" || jane.LocaleCode != "de-DE" || !jane.EmailVerified ||
				!jane.Active || jane.CreatedAt.Year() != 2019 || jane.CompanyRegistrationID != "HRB 1" || jane.CreatedBy != "import" {
				t.Errorf("jane: %+v", jane)
			}
			if len(jane.Memberships) != 1 || jane.Memberships[0] != (customer.Membership{AccountID: "le-1", Name: "ACME", ContactAssignmentID: "ca-1"}) {
				t.Errorf("memberships: %+v", jane.Memberships)
			}
			if len(jane.Addresses) != 2 || !jane.Addresses[0].IsDefault || jane.Addresses[0].Street != "Hauptstr." || jane.Addresses[1].Country != "DE" {
				t.Errorf("addresses: %+v", jane.Addresses)
			}
			if len(jane.Identities) != 1 || jane.Identities[0].Subject != "g-1" {
				t.Errorf("identities: %+v", jane.Identities)
			}
			if !strings.Contains(string(jane.Attributes), "gold") {
				t.Errorf("attributes: %s", jane.Attributes)
			}
			// A re-run of the same file updates both and creates nothing.
			sum, res = f.importLines(t, file, customer.ImportOptions{})
			if sum.Created != 0 || sum.Updated != 2 || res[0].CustomerID != jane.ID {
				t.Fatalf("re-run: %+v %+v", sum, res)
			}
			again, _ := f.svc.Account(ctx, "shop", jane.ID)
			if len(again.Addresses) != 2 || len(again.Memberships) != 1 || len(again.Identities) != 1 {
				t.Errorf("lists duplicated on re-run: %+v", again)
			}
			// By externalId: the e-mail changes, the customer stays; absent fields stay.
			sum, res = f.importLines(t, `{"email":"jane.doe@example.com","externalId":"m-1","lastName":"Smith"}`, customer.ImportOptions{})
			if sum.Updated != 1 || res[0].CustomerID != jane.ID {
				t.Fatalf("by external id: %+v %+v", sum, res)
			}
			again, _ = f.svc.Account(ctx, "shop", jane.ID)
			if again.Email != "jane.doe@example.com" || again.LastName != "Smith" || again.FirstName != "Jane" || len(again.Addresses) != 2 {
				t.Errorf("after the external-id line: %+v", again)
			}
			// By e-mail, compared by the canonical key (case of the local part, IDN domain).
			sum, res = f.importLines(t, `{"email":" BOB@EXAMPLE.COM ","lastName":"Builder"}`, customer.ImportOptions{})
			if sum.Updated != 1 {
				t.Fatalf("by e-mail: %+v %+v", sum, res)
			}
			bob, _ := f.store.GetAccountByEmail(ctx, "shop", "bob@example.com")
			if bob.LastName != "Builder" || bob.FirstName != "Bob" {
				t.Errorf("bob: %+v", bob)
			}
			// An e-mail that belongs to another customer than the external id names is refused.
			sum, res = f.importLines(t, `{"email":"bob@example.com","externalId":"m-1"}`, customer.ImportOptions{})
			if sum.Refused != 1 || !strings.Contains(res[0].Reason, "another customer") {
				t.Errorf("e-mail of another customer: %+v %+v", sum, res)
			}
			// Two lines naming one customer in a file: the second updates after the first.
			sum, _ = f.importLines(t, "{\"email\":\"carol@example.com\",\"firstName\":\"C1\"}\n{\"email\":\"carol@example.com\",\"firstName\":\"C2\"}\n", customer.ImportOptions{})
			carol, _ := f.store.GetAccountByEmail(ctx, "shop", "carol@example.com")
			if sum.Created != 1 || sum.Updated != 1 || carol.FirstName != "C2" {
				t.Errorf("same customer twice: %+v %+v", sum, carol)
			}
		})
	}
}

// TestImportBadLines: each bad line is refused with its number and reason, the others
// are imported, and an empty line keeps the numbering.
func TestImportBadLines(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			file := strings.Join([]string{
				`{"email":"ok1@example.com"}`,
				`{"email":"not an address"}`,
				``,
				`{"email":"ok2@example.com","unknownField":1}`,
				`{"email":"ok3@example.com","active":"yes"}`,
				`not json`,
				`{"firstName":"no e-mail"}`,
				`{"email":"ok4@example.com","password":{"format":"md5","hash":"5f4dcc3b5aa765d61d8327deb882cf99"}}`,
				`{"email":"ok5@example.com","password":{"format":"rot13","hash":"x"}}`,
				`{"email":"ok6@example.com","password":{"format":"bcrypt","hash":"$2b$10$short"}}`,
				`{"email":"ok7@example.com","addresses":[{"street":"","zipCode":"1","city":"X","country":"ZZZ"}]}`,
				"{\"email\":\"ok8@example.com\",\"firstName\":\"\xff\"}",
				`{"email":"ok9@example.com"}`,
			}, "\n")
			sum, res := f.importLines(t, file, customer.ImportOptions{BatchSize: 2})
			if sum.Lines != 12 || sum.Created != 2 || sum.Refused != 10 {
				t.Fatalf("summary: %+v", sum)
			}
			want := map[int]string{2: "email", 4: "unknownField", 5: "active", 6: "invalid character", 7: "email: is required",
				8: "refused unless", 9: "unknown format", 10: "bcrypt", 11: "addresses[0].street", 12: "UTF-8"}
			seen := map[int]bool{}
			for _, r := range res {
				if r.Outcome != customer.ImportRefused {
					if r.Line != 1 && r.Line != 13 {
						t.Errorf("line %d: %+v", r.Line, r)
					}
					continue
				}
				seen[r.Line] = true
				if w, ok := want[r.Line]; !ok || !strings.Contains(r.Reason, w) {
					t.Errorf("line %d refused with %q, want it to mention %q", r.Line, r.Reason, w)
				}
			}
			for l := range want {
				if !seen[l] {
					t.Errorf("line %d was not refused", l)
				}
			}
			for i := 1; i < len(res); i++ {
				if res[i].Line <= res[i-1].Line {
					t.Errorf("results out of line order: %+v", res)
				}
			}
		})
	}
}

// TestImportDryRun: a dry run reports what a run would do and writes nothing.
func TestImportDryRun(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			f.account(t, "existing@example.com", "correct horse battery")
			before := f.export(t)
			sum, res := f.importLines(t, "{\"email\":\"new@example.com\"}\n{\"email\":\"existing@example.com\",\"firstName\":\"X\"}\n{\"email\":\"\"}\n",
				customer.ImportOptions{DryRun: true})
			if !sum.DryRun || sum.Created != 1 || sum.Updated != 1 || sum.Refused != 1 || res[0].Outcome != customer.ImportCreated {
				t.Fatalf("dry run: %+v %+v", sum, res)
			}
			if after := f.export(t); after != before {
				t.Errorf("the dry run wrote:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

type vector struct {
	Name     string `json:"name"`
	Format   string `json:"format"`
	Hash     string `json:"hash"`
	Salt     string `json:"salt"`
	Password string `json:"password"`
	Refused  string `json:"refused"`
	Legacy   bool   `json:"allowCrackableLegacyHashes"`
	Firebase *struct {
		SignerKey     string `json:"signerKey"`
		SaltSeparator string `json:"saltSeparator"`
		Rounds        int    `json:"rounds"`
		MemCost       int    `json:"memCost"`
	} `json:"firebase"`
}

func loadVectors(t *testing.T) []vector {
	var out []vector
	for _, name := range []string{"python", "php", "node", "published"} {
		b, err := os.ReadFile("passwordhash/testdata/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(b, &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.Refused == "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// TestImportFormats: a hash of every format of the contract, made by the platform's own
// tool, is accepted and stored as it is; the legacy digests only with the flag; a
// Firebase hash only with the project's parameters in the tenant settings.
func TestImportFormats(t *testing.T) {
	vectors := loadVectors(t)
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			formats := map[string]bool{}
			for i, v := range vectors {
				if v.Firebase != nil && v.Name != "firebase-scrypt-readme" {
					continue
				}
				line, _ := json.Marshal(map[string]any{"email": fmt.Sprintf("v%d@example.com", i), "password": passwordhash.Stored{
					Format: passwordhash.Format(v.Format), Hash: v.Hash, Salt: v.Salt}})
				if v.Firebase != nil {
					sum, res := f.importLines(t, string(line), customer.ImportOptions{})
					if sum.Refused != 1 || !strings.Contains(res[0].Reason, "Firebase") {
						t.Errorf("%s without the project's parameters: %+v", v.Name, res)
					}
					setFirebase(t, f, v.Firebase.SignerKey, v.Firebase.SaltSeparator, v.Firebase.Rounds, v.Firebase.MemCost)
				}
				if v.Legacy {
					sum, res := f.importLines(t, string(line), customer.ImportOptions{})
					if sum.Refused != 1 || !strings.Contains(res[0].Reason, "crackable") {
						t.Errorf("%s without the flag: %+v", v.Name, res)
					}
				}
				sum, res := f.importLines(t, string(line), customer.ImportOptions{AllowCrackableLegacyHashes: v.Legacy})
				if sum.Created != 1 {
					t.Errorf("%s (%s): %+v %+v", v.Name, v.Format, sum, res)
					continue
				}
				formats[v.Format] = true
				a, _ := f.svc.Account(ctx, "shop", res[0].CustomerID)
				foreign := v.Format != customer.PasswordFormatCustodian
				if a.PasswordHash != v.Hash || a.PasswordFormat != v.Format || a.PasswordSalt != v.Salt ||
					a.HasExternalPassword != foreign || a.MigrationRequired != foreign {
					t.Errorf("%s stored as %q %q %q", v.Name, a.PasswordFormat, a.PasswordHash, a.PasswordSalt)
				}
			}
			for _, want := range []string{"bcrypt", "argon2", "scrypt", "pbkdf2", "django", "aspnet-identity", "magento2",
				"firebase-scrypt", "custodian", "md5", "sha1", "sha256", "sha512"} {
				if !formats[want] {
					t.Errorf("no vector of format %s was imported", want)
				}
			}
		})
	}
}

// setFirebase stores a tenant's Firebase import parameters, the signer key sealed as the
// provider seals it.
func setFirebase(t *testing.T, f *fixture, key, sep string, rounds, mem int) {
	t.Helper()
	tn, err := f.store.GetTenant(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"import.firebase.signer_key": key, "import.firebase.salt_separator": sep,
		"import.firebase.rounds": fmt.Sprint(rounds), "import.firebase.mem_cost": fmt.Sprint(mem)} {
		if err := tn.Settings.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	ss, err := identity.NewSettingSecrets([]byte("a test server secret of at least thirty-two bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.SealSetting("shop", "import.firebase.signer_key", &tn.Settings.FirebaseSignerKey); err != nil {
		t.Fatal(err)
	}
	if err := f.store.UpdateTenantSettings(context.Background(), "shop", tn.Settings); err != nil {
		t.Fatal(err)
	}
	if got, _ := tn.Settings.Get("import.firebase.signer_key"); got != "REDACTED" {
		t.Errorf("signer key shown as %q", got)
	}
}

// TestImportKeepsCustodianPassword: a re-run never puts an old platform's hash back over a
// password the customer has since set in Custodian.
func TestImportKeepsCustodianPassword(t *testing.T) {
	b := storagetest.Backends(t)[0]
	f := newFixture(t, b, noLimits())
	a := f.account(t, "kept@example.com", "correct horse battery")
	_, res := f.importLines(t, `{"email":"kept@example.com","password":{"format":"bcrypt","hash":"$2b$04$hYnbN/JEINbjNtmqdgOa6OM2bvDvi4kslacD8It1VM.y4IL8J3HOG"}}`, customer.ImportOptions{})
	got, _ := f.svc.Account(context.Background(), "shop", a.ID)
	if res[0].Outcome != customer.ImportUpdated || !strings.Contains(res[0].Note, "password kept") || got.PasswordHash != a.PasswordHash {
		t.Errorf("%+v %+v", res, got)
	}
}

// TestExportRoundTrip: export → import into a fresh database (SQLite → PostgreSQL when
// both run) → export gives the same bytes, and the customer signs in with the password
// they had.
func TestExportRoundTrip(t *testing.T) {
	src := newFixture(t, storagetest.Backends(t)[0], noLimits())
	fresh := storagetest.Backends(t) // new databases: PostgreSQL when it runs, else another SQLite file
	dst := newFixture(t, fresh[len(fresh)-1], noLimits())
	ctx := context.Background()
	jane := src.account(t, "jane@example.com", "correct horse battery")
	if err := src.svc.AddAddress(ctx, "shop", jane.ID, &customer.Address{Street: "S", ZipCode: "1", City: "C", Country: "DE"}); err != nil {
		t.Fatal(err)
	}
	if err := src.store.AddMembership(ctx, "shop", jane.ID, customer.Membership{AccountID: "le-9", Name: "N"}); err != nil {
		t.Fatal(err)
	}
	if err := src.store.LinkIdentity(ctx, &customer.Identity{Tenant: "shop", Issuer: "https://idp", Subject: "s1", ConnectorID: "c", CustomerID: jane.ID, CreatedAt: src.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.svc.UpdateExternalFields(ctx, "shop", jane.ID, customer.ExternalFields{Attributes: json.RawMessage(`[{"a": 1}]`), CommerceSummary: json.RawMessage(`{"orders":3}`)}); err != nil {
		t.Fatal(err)
	}
	src.importLines(t, `{"email":"old@example.com","externalId":"x-1","password":{"format":"django","hash":"pbkdf2_sha256$260000$XRJUOPfvbkavhnAdPEiOHr$j5VqgvqgjrHR8uFisffgar/bANHDx/HYM6XeGc6a3m8="},"b2b":{"legalEntities":[{"id":"a"},{"id":"b"}]},"addresses":[{"street":"1","zipCode":"2","city":"3","country":"FR"},{"street":"4","zipCode":"5","city":"6","country":"IT","isDefault":true}]}`, customer.ImportOptions{})
	first := src.export(t)
	if strings.Count(first, "\n") != 2 || !strings.Contains(first, `"format":"custodian"`) || !strings.Contains(first, `"format":"django"`) {
		t.Fatalf("export:\n%s", first)
	}
	sum, res := dst.importLines(t, first, customer.ImportOptions{})
	if sum.Created != 2 || sum.Refused != 0 {
		t.Fatalf("re-import: %+v %+v", sum, res)
	}
	if second := dst.export(t); second != first {
		t.Errorf("the round trip changed the export:\n%s\nwas\n%s", second, first)
	}
	if _, err := dst.svc.Login(ctx, dst.tenant, "jane@example.com", "correct horse battery"); err != nil {
		t.Errorf("sign-in after the round trip: %v", err)
	}
	// The imported foreign hash travels as stored and still verifies.
	var line customer.Line
	if err := json.Unmarshal([]byte(strings.Split(dst.export(t), "\n")[1]), &line); err != nil {
		t.Fatal(err)
	}
	h, err := (&passwordhash.Parser{}).Parse(*line.Password)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify("pässwörd ✓ 🔑"); !ok {
		t.Error("the imported Django hash no longer verifies its password")
	}
	if ok, _ := h.Verify("wrong"); ok {
		t.Error("a wrong password verifies")
	}
}

// TestImportStreams: 50,000 lines from a generator behind an io.Pipe are imported without
// the heap growing with the input.
func TestImportStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 50,000 lines")
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			const n = 50_000
			pr, pw := io.Pipe()
			go func() {
				for i := range n {
					fmt.Fprintf(pw, `{"email":"user%d@example.com","externalId":"e%d","firstName":"User %d","attributes":[{"pad":"%s"}]}`+"\n", i, i, i, strings.Repeat("x", 200))
				}
				pw.Close()
			}()
			var peak uint64
			lines := 0
			sum, err := f.svc.Import(context.Background(), "shop", pr, customer.ImportOptions{Report: func(r customer.ImportResult) error {
				lines++
				if lines%5000 == 0 {
					runtime.GC()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
				return nil
			}})
			if err != nil || sum.Created != n {
				t.Fatalf("%+v %v", sum, err)
			}
			// The input is about 15 MB; a reader that kept it would hold far more than this.
			if peak > 40<<20 {
				t.Errorf("heap reached %d MiB while streaming", peak>>20)
			}
		})
	}
}

// TestImportExampleFile: the README's example file imports without a refused line.
func TestImportExampleFile(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	b, err := os.ReadFile("../docs/import-example.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sum, res := f.importLines(t, string(b), customer.ImportOptions{})
	if sum.Refused != 0 || sum.Created != 5 {
		t.Errorf("%+v %+v", sum, res)
	}
}

// TestImportBatchConflict: two new lines of one batch that claim the same address id
// fail the batch's write; the batch is written again line by line, so the first line and
// the batch's other lines are imported, the second is refused (its address id is the
// first's by then), and its customer does not exist without its addresses. Text that COPY's format escapes (backslash, tab, newline)
// arrives unchanged.
func TestImportBatchConflict(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			file := `{"email":"a1@example.com","addresses":[{"id":"addr-x","street":"One","zipCode":"1","city":"C","country":"DE"}]}
{"email":"a2@example.com","addresses":[{"id":"addr-x","street":"Two","zipCode":"2","city":"C","country":"DE"}]}
{"email":"a3@example.com","firstName":"Back\\slash","attributes":[{"v":"tab\there\nnewline \\ \"q\""}],"addresses":[{"street":"Three\\3","zipCode":"3","city":"C","country":"DE"}],"b2b":{"legalEntities":[{"id":"le-1"}]},"identities":[{"issuer":"https://idp.example","subject":"s-3","connectorId":"idp"}]}
`
			sum, res := f.importLines(t, file, customer.ImportOptions{})
			if sum.Created != 2 || sum.Refused != 1 || len(res) != 3 {
				t.Fatalf("%+v %+v", sum, res)
			}
			if res[0].Outcome != customer.ImportCreated || res[1].Outcome != customer.ImportRefused ||
				!strings.Contains(res[1].Reason, "addresses[0].id is taken") || res[2].Outcome != customer.ImportCreated {
				t.Fatalf("results: %+v", res)
			}
			if _, err := f.store.GetAccountByEmail(ctx, "shop", "a2@example.com"); !errors.Is(err, identity.ErrNotFound) {
				t.Errorf("the refused line's customer: %v", err)
			}
			a1, err := f.svc.Account(ctx, "shop", res[0].CustomerID)
			if err != nil || len(a1.Addresses) != 1 || a1.Addresses[0].ID != "addr-x" || a1.Addresses[0].Street != "One" {
				t.Errorf("a1: %+v %v", a1, err)
			}
			a3, err := f.svc.Account(ctx, "shop", res[2].CustomerID)
			if err != nil {
				t.Fatal(err)
			}
			if a3.FirstName != `Back\slash` || string(a3.Attributes) != `[{"v":"tab\there\nnewline \\ \"q\""}]` ||
				len(a3.Addresses) != 1 || a3.Addresses[0].Street != `Three\3` || len(a3.Memberships) != 1 {
				t.Errorf("a3: %+v %s", a3, a3.Attributes)
			}
			// Against stored owners: an address id or an identity of another customer refuses
			// the line; the customer's own are fine.
			sum, res = f.importLines(t, `{"email":"a4@example.com","identities":[{"issuer":"https://idp.example","subject":"s-3","connectorId":"idp"}]}
{"email":"a5@example.com","addresses":[{"id":"addr-x","street":"Five","zipCode":"5","city":"C","country":"DE"}]}
{"email":"a3@example.com","identities":[{"issuer":"https://idp.example","subject":"s-3","connectorId":"idp"}]}
{"email":"a1@example.com","addresses":[{"id":"addr-x","street":"One again","zipCode":"1","city":"C","country":"DE"}]}
`, customer.ImportOptions{})
			if sum.Refused != 2 || sum.Updated != 2 || !strings.Contains(res[0].Reason, "identities[0] is linked to another customer") ||
				!strings.Contains(res[1].Reason, "addresses[0].id is taken by another customer") {
				t.Errorf("stored owners: %+v %+v", sum, res)
			}
		})
	}
}

// failingReader yields its text and then an error, as a dropped upload does.
type failingReader struct{ r io.Reader }

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}

// TestImportReadError: a read error stops the import with the line it happened on; the
// batches completed before it stay, the one it cut is not written.
func TestImportReadError(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			var sb strings.Builder
			for i := range 5 {
				fmt.Fprintf(&sb, "{\"email\":\"r%d@example.com\"}\n", i)
			}
			var reported []customer.ImportResult
			sum, err := f.svc.Import(context.Background(), "shop", &failingReader{strings.NewReader(sb.String())},
				customer.ImportOptions{BatchSize: 2, Report: func(r customer.ImportResult) error { reported = append(reported, r); return nil }})
			if err == nil || !strings.Contains(err.Error(), "read import line 6") || !strings.Contains(err.Error(), "connection reset") {
				t.Fatalf("error: %v", err)
			}
			if sum.Created != 4 || len(reported) != 4 {
				t.Errorf("summary %+v, reported %+v", sum, reported)
			}
			if _, err := f.store.GetAccountByEmail(context.Background(), "shop", "r4@example.com"); !errors.Is(err, identity.ErrNotFound) {
				t.Errorf("the cut batch was written: %v", err)
			}
		})
	}
}
