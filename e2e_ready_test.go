package custodian_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// getReady answers GET /readyz of base.
func getReady(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readBody(t, resp)
}

// /readyz says not ready when this node cannot sign: here, a node whose secret is not
// the one the tenant's keys were sealed with (another node created the tenant). The
// same node is refused at start once the keys exist.
func TestReadyzChecksSigning(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			cfg := custodian.Config{DatabaseURL: b.URL, PublicURL: "http://127.0.0.1:9", Secret: custodian.Secret(strings.Repeat("o", 40)),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			other, err := custodian.New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			ts := httptest.NewServer(other.AdminHandler())
			defer ts.Close()
			if code, body := getReady(t, ts.URL); code != http.StatusOK || !strings.Contains(body, `"signing":"ok"`) {
				t.Fatalf("readyz before any tenant: %d %s", code, body)
			}

			e := newEnv(t, b) // creates the tenant and its keys under its own secret
			if code, body := getReady(t, e.admin); code != http.StatusOK || !strings.Contains(body, `"database":"`+b.Name+`"`) {
				t.Errorf("readyz of the node that sealed the keys: %d %s", code, body)
			}
			if code, body := getReady(t, ts.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "signing keys do not open") {
				t.Errorf("readyz of the node with another secret: %d %s", code, body)
			}
			if _, err := custodian.New(context.Background(), cfg); !errors.Is(err, oauth.ErrWrongSecret) ||
				!strings.Contains(err.Error(), `signing key`) || !strings.Contains(err.Error(), "CUSTODIAN_SECRET") {
				t.Errorf("start with another secret: %v", err)
			}
		})
	}
}
