package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
	"github.com/custodian-id/custodian/twofactor"
)

// A node started with another secret than the one the stored keys and secrets were
// sealed with refuses to start, and says why.
func TestWrongSecretRefused(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			right := map[string]string{"CUSTODIAN_SECRET": strings.Repeat("r", 48)}
			wrong := map[string]string{"CUSTODIAN_SECRET": strings.Repeat("w", 48)}
			c := &cliTest{t: t, env: map[string]string{"CUSTODIAN_DATABASE_URL": b.URL, "CUSTODIAN_LOG_LEVEL": "warn"}}
			if code, _, stderr := c.runWith(right, "tenant", "create", "shop"); code != exitOK {
				t.Fatalf("tenant create: %d %s", code, stderr)
			}
			for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0"}, {"tenant", "show", "shop"}} {
				code, out, stderr := c.runWith(wrong, args...)
				if code != exitFailure || !strings.Contains(stderr, "CUSTODIAN_SECRET") || !strings.Contains(stderr, `signing key`) ||
					!strings.Contains(stderr, `of tenant "shop" cannot be opened`) || strings.Contains(out, "listening") {
					t.Errorf("%s with the wrong secret: status %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, stderr)
				}
			}
			// The right secret still works, and so does a connector sealed with it.
			if code, _, stderr := c.runWith(right, "connector", "add", "--tenant", "shop", "--id", "google", "--issuer",
				"https://accounts.google.com", "--client-id", "cid", "--client-secret", "cs"); code != exitOK {
				t.Fatalf("connector add: %d %s", code, stderr)
			}
			if code, _, stderr := c.runWith(right, "tenant", "show", "shop"); code != exitOK {
				t.Errorf("tenant show with the right secret: %d %s", code, stderr)
			}
		})
	}
}

// Each kind of stored secret is opened at start: a tenant setting secret
// (import.firebase.signer_key) or an authenticator-app (TOTP) secret sealed under
// another secret than the node's stops the node (serve, or any command) with a message
// naming it, though the signing keys open.
func TestWrongSecretRefusedPerKind(t *testing.T) {
	right, wrong := strings.Repeat("r", 48), strings.Repeat("w", 48)
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			c := &cliTest{t: t, env: map[string]string{"CUSTODIAN_DATABASE_URL": b.URL, "CUSTODIAN_LOG_LEVEL": "warn", "CUSTODIAN_SECRET": right}}
			c.ok("tenant", "create", "shop")
			c.ok("customer", "create", "--tenant", "shop", "--email", "totp@example.com", "--password", "password123 horse")
			store, err := storage.Open(t.Context(), b.URL, storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			refused := func(kind, want string) {
				t.Helper()
				// Every command opens the server as serve does (and cannot hang as serve would).
				code, out, stderr := c.run("tenant", "show", "shop")
				if code != exitFailure || !strings.Contains(stderr, "CUSTODIAN_SECRET") || !strings.Contains(stderr, want) {
					t.Errorf("%s sealed under another secret: status %d\nstdout:\n%s\nstderr:\n%s", kind, code, out, stderr)
				}
			}

			// A secret setting.
			tenant, err := store.GetTenant(t.Context(), "shop")
			if err != nil {
				t.Fatal(err)
			}
			other, err := identity.NewSettingSecrets([]byte(wrong))
			if err != nil {
				t.Fatal(err)
			}
			settings := tenant.Settings
			if err := json.Unmarshal([]byte(`"signer-key"`), &settings.FirebaseSignerKey); err != nil {
				t.Fatal(err)
			}
			if err := other.SealSetting("shop", "import.firebase.signer_key", &settings.FirebaseSignerKey); err != nil {
				t.Fatal(err)
			}
			if err := store.UpdateTenantSettings(t.Context(), "shop", settings); err != nil {
				t.Fatal(err)
			}
			refused("a tenant setting", `the setting import.firebase.signer_key of tenant "shop" cannot be opened`)
			if err := store.UpdateTenantSettings(t.Context(), "shop", tenant.Settings); err != nil {
				t.Fatal(err)
			}
			c.ok("tenant", "show", "shop") // the node starts again

			// An authenticator-app secret.
			acct, err := store.GetAccountByEmail(t.Context(), "shop", "totp@example.com")
			if err != nil {
				t.Fatal(err)
			}
			sealer, err := identity.NewSealerFor([]byte(wrong), "custodian/totp-seal/v1")
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := sealer.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("totp|shop|"+strconv.FormatInt(acct.ID, 10)))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.PutPendingTOTP(t.Context(), &twofactor.TOTP{Tenant: "shop", CustomerID: acct.ID, Secret: sealed, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			refused("a TOTP secret", fmt.Sprintf(`the authenticator-app (TOTP) secret of customer %d of tenant "shop" cannot be opened`, acct.ID))
			if err := store.DeleteTOTP(t.Context(), "shop", acct.ID); err != nil {
				t.Fatal(err)
			}
			c.ok("tenant", "show", "shop")
		})
	}
}
