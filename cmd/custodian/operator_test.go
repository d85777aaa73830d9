package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// operatorCLI is a cliTest on one backend with a fixed secret, and the server the
// checks read through.
func operatorCLI(t *testing.T, b storagetest.Backend) (*cliTest, *custodian.Server) {
	t.Helper()
	secret := strings.Repeat("k", 48)
	c := &cliTest{t: t, env: map[string]string{"CUSTODIAN_DATABASE_URL": b.URL, "CUSTODIAN_SECRET": secret, "CUSTODIAN_LOG_LEVEL": "warn"}}
	c.ok("tenant", "create", "shop")
	c.ok("tenant", "create", "outlet")
	srv, err := custodian.New(t.Context(), custodian.Config{DatabaseURL: b.URL, PublicURL: "http://127.0.0.1:8080", Secret: custodian.Secret(secret)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return c, srv
}

// runStdin runs a command with standard input.
func (c *cliTest) runStdin(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = runIO(c.t.Context(), args, mapEnv(c.env), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestOperatorTenantsAndClients(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			c, srv := operatorCLI(t, b)
			const oldSecret = "backend-secret-0123456789-abcdefghijk"
			c.ok("client", "create", "--tenant", "shop", "--id", "backend", "--secret", oldSecret)
			c.ok("client", "create", "--tenant", "shop", "--id", "spa", "--public", "--redirect-uri", "http://127.0.0.1:3000/cb", "--name", "Storefront")

			out := c.ok("tenant", "list")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "outlet ") ||
				!strings.Contains(lines[2], "http://127.0.0.1:8080/oauth2/shop") {
				t.Errorf("tenant list:\n%s", out)
			}
			var tenants []tenantJSON
			if err := json.Unmarshal([]byte(c.ok("tenant", "list", "--json")), &tenants); err != nil || len(tenants) != 2 || tenants[1].Name != "shop" {
				t.Errorf("tenant list --json: %+v %v", tenants, err)
			}

			out = c.ok("client", "list", "--tenant", "shop")
			if !strings.Contains(out, "backend  confidential") || !strings.Contains(out, "spa      public") || !strings.Contains(out, "Storefront") {
				t.Errorf("client list:\n%s", out)
			}
			var clients []clientJSON
			if err := json.Unmarshal([]byte(c.ok("client", "list", "--tenant", "shop", "--json")), &clients); err != nil || len(clients) != 2 ||
				clients[0].ID != "backend" || clients[1].RedirectURIs[0] != "http://127.0.0.1:3000/cb" {
				t.Errorf("client list --json: %+v %v", clients, err)
			}
			if out := c.ok("client", "list", "--tenant", "outlet"); strings.TrimSpace(out) != "ID  TYPE  FIRST-PARTY  GRANTS  NAME" {
				t.Errorf("client list of a tenant without clients:\n%q", out)
			}
			if code, _, stderr := c.run("client", "list", "--tenant", "nope"); code != exitFailure || !strings.Contains(stderr, "not found") {
				t.Errorf("client list of an unknown tenant: %d %s", code, stderr)
			}
			out = c.ok("client", "show", "--tenant", "shop", "--id", "spa")
			if !strings.Contains(out, "type=public\n") || !strings.Contains(out, "redirect_uris=http://127.0.0.1:3000/cb\n") {
				t.Errorf("client show:\n%s", out)
			}
			if out := c.ok("client", "show", "--tenant", "shop", "--id", "backend", "--json"); strings.Contains(out, "secret") {
				t.Errorf("client show prints a secret:\n%s", out)
			}

			// rotate-secret: printed once, the old secret stops working, the new one works.
			code, out, stderr := c.run("client", "rotate-secret", "--tenant", "shop", "--id", "backend")
			secret, found := strings.CutPrefix(strings.Split(out, "\n")[1], "client_secret=")
			if code != exitOK || !found || len(secret) < 32 || !strings.Contains(stderr, "shown this once") {
				t.Fatalf("rotate-secret: %d\n%s\n%s", code, out, stderr)
			}
			if _, err := srv.OAuth.AuthenticateClient(t.Context(), "shop", "backend", oldSecret); err == nil {
				t.Error("the old secret still authenticates")
			}
			if _, err := srv.OAuth.AuthenticateClient(t.Context(), "shop", "backend", secret); err != nil {
				t.Errorf("the new secret: %v", err)
			}
			var rotated struct{ ID, Secret string }
			if err := json.Unmarshal([]byte(c.ok("client", "rotate-secret", "--tenant", "shop", "--id", "backend", "--json")), &rotated); err != nil ||
				rotated.ID != "backend" || rotated.Secret == secret {
				t.Errorf("rotate-secret --json: %+v %v", rotated, err)
			}
			if code, _, stderr := c.run("client", "rotate-secret", "--tenant", "shop", "--id", "spa"); code != exitUsage || !strings.Contains(stderr, "public") {
				t.Errorf("rotate-secret of a public client: %d %s", code, stderr)
			}
			if code, _, stderr := c.run("client", "rotate-secret", "--tenant", "outlet", "--id", "backend"); code != exitFailure || !strings.Contains(stderr, "not found") {
				t.Errorf("rotate-secret of another tenant's client: %d %s", code, stderr)
			}

			if out := c.ok("client", "delete", "--tenant", "shop", "--id", "backend"); out != "deleted client backend of tenant shop\n" {
				t.Errorf("client delete: %q", out)
			}
			if _, err := srv.OAuth.AuthenticateClient(t.Context(), "shop", "backend", rotated.Secret); err == nil {
				t.Error("a deleted client authenticates")
			}
			if code, _, stderr := c.run("client", "delete", "--tenant", "shop", "--id", "backend"); code != exitFailure || !strings.Contains(stderr, "not found") {
				t.Errorf("client delete again: %d %s", code, stderr)
			}
			if code, _, stderr := c.run("client", "show", "--tenant", "shop"); code != exitUsage || !strings.Contains(stderr, "missing --id") {
				t.Errorf("client show without --id: %d %s", code, stderr)
			}
		})
	}
}

func TestOperatorCustomers(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			c, srv := operatorCLI(t, b)
			c.ok("customer", "create", "--tenant", "shop", "--email", "jane@example.com", "--password", "correct horse battery", "--first-name", "Jane")

			out := c.ok("customer", "find", "--tenant", "shop", "--email", " JANE@Example.com")
			if !strings.Contains(out, "email=jane@example.com\n") || !strings.Contains(out, "first_name=Jane\n") || !strings.Contains(out, "locked=false\n") {
				t.Errorf("customer find:\n%s", out)
			}
			var found customerJSON
			if err := json.Unmarshal([]byte(c.ok("customer", "find", "--tenant", "shop", "--email", "jane@example.com", "--json")), &found); err != nil ||
				found.EmailAddress != "jane@example.com" || found.ID == 0 || found.LoginState.IsLocked {
				t.Errorf("customer find --json: %+v %v", found, err)
			}
			if code, _, stderr := c.run("customer", "find", "--tenant", "shop", "--email", "nobody@example.com"); code != exitFailure || !strings.Contains(stderr, "not found") {
				t.Errorf("find of nobody: %d %s", code, stderr)
			}
			if code, _, stderr := c.run("customer", "find", "--tenant", "outlet", "--email", "jane@example.com"); code != exitFailure || !strings.Contains(stderr, "not found") {
				t.Errorf("find in another tenant: %d %s", code, stderr)
			}
			if code, _, stderr := c.run("customer", "find", "--tenant", "shop", "--email", "not an address"); code != exitUsage {
				t.Errorf("find of a malformed address: %d %s", code, stderr)
			}

			// set-password: --password as the contract has it, with a warning; the
			// policy applies to it as to stdin.
			if code, _, stderr := c.run("customer", "set-password", "--tenant", "shop", "--email", "jane@example.com", "--password", "x"); code != exitUsage ||
				!strings.Contains(stderr, "shell history") || !strings.Contains(stderr, "at least") {
				t.Errorf("--password too short: %d %s", code, stderr)
			}
			if code, _, stderr := c.run("customer", "set-password", "--tenant", "shop", "--email", "jane@example.com", "--password", "x", "--password-file", "-"); code != exitUsage ||
				!strings.Contains(stderr, "give the password once") {
				t.Errorf("--password with --password-file: %d %s", code, stderr)
			}
			if code, _, stderr := c.runStdin("", "customer", "set-password", "--tenant", "shop", "--email", "jane@example.com"); code != exitUsage ||
				!strings.Contains(stderr, "no password given") {
				t.Errorf("empty stdin: %d %s", code, stderr)
			}
			if code, _, stderr := c.runStdin("password\n", "customer", "set-password", "--tenant", "shop", "--email", "jane@example.com"); code != exitUsage ||
				!strings.Contains(stderr, "common") {
				t.Errorf("a common password: %d %s", code, stderr)
			}
			code, out, stderr := c.runStdin("a brand new password\n", "customer", "set-password", "--tenant", "shop", "--email", "JANE@example.com")
			if code != exitOK || !strings.Contains(out, "set the password of customer") {
				t.Fatalf("set-password: %d %s %s", code, out, stderr)
			}
			if _, err := srv.Customers.Login(t.Context(), mustTenant(t, srv, "shop"), "jane@example.com", "a brand new password"); err != nil {
				t.Errorf("the new password: %v", err)
			}
			if _, err := srv.Customers.Login(t.Context(), mustTenant(t, srv, "shop"), "jane@example.com", "correct horse battery"); err == nil {
				t.Error("the old password still signs in")
			}
			if code, out, stderr := c.run("customer", "set-password", "--tenant", "shop", "--email", "jane@example.com", "--password", "the contract's own way"); code != exitOK ||
				!strings.Contains(out, "set the password of customer") || !strings.Contains(stderr, "warning") {
				t.Errorf("set-password --password: %d %s %s", code, out, stderr)
			}
			if _, err := srv.Customers.Login(t.Context(), mustTenant(t, srv, "shop"), "jane@example.com", "the contract's own way"); err != nil {
				t.Errorf("the password given with --password: %v", err)
			}
			if code, _, stderr := c.runStdin("x", "customer", "set-password", "--tenant", "shop", "--email", "nobody@example.com"); code != exitFailure ||
				!strings.Contains(stderr, "not found") {
				t.Errorf("set-password of nobody: %d %s", code, stderr)
			}

			// unlock clears a lock.
			tn := mustTenant(t, srv, "shop")
			if err := srv.Customers.SetLock(t.Context(), tn, found.ID, true); err != nil {
				t.Fatal(err)
			}
			if out := c.ok("customer", "find", "--tenant", "shop", "--email", "jane@example.com"); !strings.Contains(out, "locked=true\n") {
				t.Errorf("find of a locked customer:\n%s", out)
			}
			if out := c.ok("customer", "unlock", "--tenant", "shop", "--email", "jane@example.com"); !strings.Contains(out, "unlocked customer") {
				t.Errorf("unlock: %q", out)
			}
			if out := c.ok("customer", "find", "--tenant", "shop", "--email", "jane@example.com"); !strings.Contains(out, "locked=false\n") {
				t.Errorf("find after unlock:\n%s", out)
			}
			if _, err := srv.Customers.Login(t.Context(), tn, "jane@example.com", "the contract's own way"); err != nil {
				t.Errorf("sign-in after unlock: %v", err)
			}
		})
	}
}

func mustTenant(t *testing.T, srv *custodian.Server, name string) *identity.Tenant {
	t.Helper()
	tn, err := srv.OAuth.GetTenant(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}
