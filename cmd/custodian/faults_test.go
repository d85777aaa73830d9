package main

import (
	"strings"
	"testing"

	"github.com/custodian-id/custodian/storage/storagetest"
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
