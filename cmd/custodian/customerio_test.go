package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestCustomerImportExportCommands: the import reports refused lines with their numbers
// and exits 1, a fixed re-run exits 0 and updates, --dry-run writes nothing, stdin works,
// legacy digests need the flag, and an export from SQLite imports into a fresh database
// (PostgreSQL when it runs) and exports the same bytes.
func TestCustomerImportExportCommands(t *testing.T) {
	c := newCLITest(t)
	c.ok("tenant", "create", "shop")
	dir := t.TempDir()
	file := filepath.Join(dir, "in.jsonl")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"email":"jane@example.com","externalId":"1","firstName":"Jane","password":{"format":"bcrypt","hash":"$2b$04$hYnbN/JEINbjNtmqdgOa6OM2bvDvi4kslacD8It1VM.y4IL8J3HOG"},"b2b":{"legalEntities":[{"id":"le-1","name":"ACME"}]},"addresses":[{"street":"Main St","zipCode":"1","city":"X","country":"US"}]}
{"email":"broken"}
{"email":"bob@example.com","localeCode":"en-US"}
`)
	code, out, errs := c.run("customer", "import", "--tenant", "shop", "--file", file)
	if code != exitFailure || !strings.Contains(out, "line 2: refused: email:") || !strings.Contains(out, "2 created, 0 updated, 1 refused") {
		t.Fatalf("import with a bad line: %d\n%s\n%s", code, out, errs)
	}
	write(`{"email":"JANE@example.com","firstName":"Janet"}` + "\n")
	if out := c.ok("customer", "import", "--tenant", "shop", "--file", file); !strings.Contains(out, "0 created, 1 updated, 0 refused") {
		t.Errorf("re-run: %s", out)
	}
	write(`{"email":"dry@example.com"}` + "\n")
	if out := c.ok("customer", "import", "--tenant", "shop", "--file", file, "--dry-run"); !strings.Contains(out, "dry run") || !strings.Contains(out, "1 created") {
		t.Errorf("dry run: %s", out)
	}
	var stdout, stderr bytes.Buffer
	legacy := `{"email":"old@example.com","password":{"format":"md5","hash":"5f4dcc3b5aa765d61d8327deb882cf99"}}` + "\n"
	code = runIO(t.Context(), []string{"customer", "import", "--tenant", "shop", "--file", "-"}, mapEnv(c.env), strings.NewReader(legacy), &stdout, &stderr)
	if code != exitFailure || !strings.Contains(stdout.String(), "line 1: refused: password: md5") {
		t.Errorf("legacy digest without the flag: %d %s %s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	code = runIO(t.Context(), []string{"customer", "import", "--tenant", "shop", "--file", "-", "--allow-insecure-legacy-hashes"}, mapEnv(c.env),
		strings.NewReader(legacy), &stdout, &stderr)
	if code != exitOK || !strings.Contains(stdout.String(), "1 created") || !strings.Contains(stdout.String(), "weak") {
		t.Errorf("legacy digest with the flag: %d %s %s", code, stdout.String(), stderr.String())
	}
	for _, args := range [][]string{{"customer", "import", "--file", file}, {"customer", "import", "--tenant", "shop"},
		{"customer", "export"}, {"customer", "import", "--tenant", "shop", "--file", file, "--batch", "0"}} {
		if code, _, _ := c.run(args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, errs := c.run("customer", "import", "--tenant", "nope", "--file", file); code != exitFailure || !strings.Contains(errs, "nope") {
		t.Errorf("unknown tenant: %d %s", code, errs)
	}

	exported := filepath.Join(dir, "out.jsonl")
	c.ok("customer", "export", "--tenant", "shop", "--file", exported)
	first, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(first, []byte("\n")); n != 3 || !bytes.Contains(first, []byte(`"format":"bcrypt"`)) || !bytes.Contains(first, []byte(`"Janet"`)) {
		t.Fatalf("export:\n%s", first)
	}
	if out := c.ok("customer", "export", "--tenant", "shop"); out != string(first) {
		t.Errorf("export to stdout differs from the file:\n%s", out)
	}

	// Into a fresh database: PostgreSQL when it runs. The export holds the MD5 digest, so
	// its import needs the flag again.
	fresh := storagetest.Backends(t)
	d := &cliTest{t: t, env: map[string]string{"CUSTODIAN_DATABASE_URL": fresh[len(fresh)-1].URL, "CUSTODIAN_LOG_LEVEL": "warn",
		"CUSTODIAN_SECRET": "another server secret, at least thirty-two bytes long"}}
	d.ok("tenant", "create", "shop")
	if code, out, errs := d.run("customer", "import", "--tenant", "shop", "--file", exported,
		"--allow-insecure-legacy-hashes"); code != 0 || !strings.Contains(out, "3 created, 0 updated, 0 refused") {
		t.Logf("%s", errs)
		t.Errorf("import of the export: %s", out)
	}
	if out := d.ok("customer", "export", "--tenant", "shop"); out != string(first) {
		t.Errorf("the round trip changed the export:\n%s\nwas\n%s", out, first)
	}
}
