package custodian_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestOversizedBodiesEveryDialect: through the server's own router, each dialect answers
// a body over the limit with 413 in its own shape, before it authenticates anyone, and
// the operations routes are no dialect's.
func TestOversizedBodiesEveryDialect(t *testing.T) {
	e := newEnv(t, storagetest.Backends(t)[0])
	big := `{"name":"` + strings.Repeat("x", 100<<10) + `"}`
	for _, tc := range []struct {
		dialect, path string
		check         func(ticketReply) bool
	}{
		{"admin", "/admin/tenants", func(g ticketReply) bool { return g.body["type"] == "bad_request" && g.body["status"] == float64(413) }},
		{"login API admin switch", "/customer/" + testTenant + "/customers/1",
			func(g ticketReply) bool { return g.body["type"] == "bad_request" && g.body["status"] == float64(413) }},
		{"anonymous tokens", "/customerlogin/auth/anonymous/login",
			func(g ticketReply) bool { return g.body["type"] == "bad_request" && g.body["status"] == float64(413) }},
		{"ticket API", "/api/commerce/customer/authtickets/refresh",
			func(g ticketReply) bool { return g.body["errorCode"] == "MISSING_OR_INVALID_PARAMETER" }},
		{"OAuth", "/oauth2/" + testTenant + "/introspect",
			func(g ticketReply) bool { return g.body["error"] == "invalid_request" }},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			method := http.MethodPost
			switch {
			case strings.HasPrefix(tc.path, "/customer/"):
				method = http.MethodPatch
			case strings.HasPrefix(tc.path, "/customerlogin/"):
				method = http.MethodGet
			case strings.HasSuffix(tc.path, "/refresh"):
				method = http.MethodPut
			}
			target := *e
			if tc.dialect == "admin" || tc.dialect == "login API admin switch" {
				target.url = e.admin // the admin routes are only on the admin listener
			}
			got := ticketCall(t, &target, method, tc.path, big)
			if got.status != http.StatusRequestEntityTooLarge || !tc.check(got) {
				t.Errorf("%s %s: %d %s", method, tc.path, got.status, got.raw)
			}
		})
	}
}
