package custodian_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestTwoNodes runs two servers on one PostgreSQL (a throwaway cluster), as two nodes
// behind one load balancer: tokens of one work on the other, 16 concurrent refreshes
// of one token split across both keep the family, a key rotation on one is served by
// both (within a second: each node caches keys until notified), lockouts count once
// across both, and each outbox mail is sent exactly once.
func TestTwoNodes(t *testing.T) {
	pg := startCluster(t, 15436)
	smtp := notifytest.StartSMTP(t)
	a := newEnv(t, storagetest.Backend{Name: "postgres", URL: pg.URL()}, withSMTP(smtp))
	nodeB, err := custodian.New(context.Background(), custodian.Config{DatabaseURL: pg.URL(), PublicURL: a.url,
		Secret: "test-secret-0123456789-0123456789-0123456789", AdminToken: adminToken, Now: a.clock.Now,
		SMTPURL: custodian.Secret(smtp.URL()), MailFrom: "shop@example.com", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer nodeB.Close()
	pub := httptest.NewServer(nodeB.Handler())
	defer pub.Close()
	adm := httptest.NewServer(nodeB.AdminHandler())
	defer adm.Close()
	// b is node B seen through the test helpers: same public URL (issuer), its own listener.
	b := &env{t: t, srv: nodeB, url: pub.URL, admin: adm.URL, clock: a.clock, backend: a.backend}
	issuerB := pub.URL + "/oauth2/" + testTenant
	tokenAt := func(base string, form url.Values) (int, map[string]any) {
		resp, err := http.PostForm(base+"/token", form)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		return resp.StatusCode, out
	}
	introspectAt := func(base, tok string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, base+"/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(backendID, backendSec)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		return out
	}

	t.Run("tokens of one node work on the other", func(t *testing.T) {
		tok := anonymousToken(t, a)
		if in := introspectAt(issuerB, tok["access_token"].(string)); in["active"] != true {
			t.Errorf("A's token on B: %v", in)
		}
		if in := introspectAt(issuerB, tok["jwt_access_token"].(string)); in["active"] != true {
			t.Errorf("A's JWT on B: %v", in)
		}
		cust := customerLogin(t, b)
		got := loginCall(t, a, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", "Authorization", "Bearer "+cust["access_token"].(string))
		if got.status != http.StatusOK {
			t.Errorf("B's customer token on A: %d %s", got.status, got.raw)
		}
	})

	t.Run("16 concurrent refreshes across both nodes keep the family", func(t *testing.T) {
		rt := anonymousToken(t, a)["refresh_token"].(string)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var issued []string
		failures := 0
		for i := range 16 {
			base := a.issuer()
			if i%2 == 1 {
				base = issuerB
			}
			wg.Go(func() {
				status, body := tokenAt(base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {spaClient}})
				mu.Lock()
				defer mu.Unlock()
				if status != http.StatusOK {
					failures++
					t.Errorf("refresh on %s: %d %v", base, status, body)
					return
				}
				issued = append(issued, body["access_token"].(string), body["refresh_token"].(string))
			})
		}
		wg.Wait()
		if failures > 0 || len(issued) != 32 {
			t.Fatalf("%d of 16 refreshes failed", failures)
		}
		for i, tok := range issued {
			base := a.issuer()
			if i%4 >= 2 {
				base = issuerB
			}
			if in := introspectAt(base, tok); in["active"] != true {
				t.Errorf("token %d handed out by a concurrent refresh is not active: %v", i, in)
			}
		}
	})

	t.Run("a key rotation on one node is served by both", func(t *testing.T) {
		before := jwksKids(t, issuerB)
		if err := a.srv.OAuth.RotateKeys(context.Background(), testTenant); err != nil {
			t.Fatal(err)
		}
		// B caches the keys; the rotation's notification reaches it within a second.
		afterA := jwksKids(t, a.issuer())
		deadline := time.Now().Add(time.Second)
		afterB := jwksKids(t, issuerB)
		for fmt.Sprint(afterA) != fmt.Sprint(afterB) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			afterB = jwksKids(t, issuerB)
		}
		if fmt.Sprint(afterA) != fmt.Sprint(afterB) || fmt.Sprint(afterB) == fmt.Sprint(before) {
			t.Errorf("JWKS a second after rotating on A: A %v, B %v (before %v)", afterA, afterB, before)
		}
		// B signs with the new current key, and A accepts it.
		_, tok := tokenAt(issuerB, url.Values{"grant_type": {"urn:custodian:grant-type:anonymous"}, "client_id": {spaClient}})
		jwt, _ := tok["jwt_access_token"].(string)
		if kid := jwtKid(t, jwt); kid != afterA[0] {
			t.Errorf("B signs with %q, want the new current key %q", kid, afterA[0])
		}
		if in := introspectAt(a.issuer(), jwt); in["active"] != true {
			t.Errorf("B's JWT after the rotation on A: %v", in)
		}
	})

	t.Run("lockouts count once across both nodes", func(t *testing.T) {
		login := func(e *env, password string) loginReply {
			anon := anonymousLogin(t, e)["access_token"].(string)
			return loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login",
				`{"email":"`+shopperEmail+`","password":"`+password+`"}`, jsonBearer(anon)...)
		}
		for i := range 5 { // the default lockout.threshold, split across the nodes
			e := a
			if i%2 == 1 {
				e = b
			}
			if got := login(e, "wrong password"); got.status != http.StatusUnauthorized {
				t.Fatalf("failed attempt %d: %d %s", i+1, got.status, got.raw)
			}
		}
		for _, e := range []*env{a, b} {
			if got := login(e, shopperPass); got.status != http.StatusForbidden || !strings.Contains(got.raw, "locked") {
				t.Errorf("the right password after 5 failures across both nodes: %d %s", got.status, got.raw)
			}
		}
	})

	t.Run("each outbox mail is sent exactly once", func(t *testing.T) {
		ctx := context.Background()
		tenant, err := a.srv.OAuth.GetTenant(ctx, testTenant)
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		for i := range n {
			email := fmt.Sprintf("twonodes%d@example.com", i)
			if _, err := a.srv.Customers.CreateAccount(ctx, testTenant, customerNew(email, shopperPass)); err != nil {
				t.Fatal(err)
			}
			if err := a.srv.Customers.RequestPasswordReset(ctx, tenant, email, ""); err != nil {
				t.Fatal(err)
			}
		}
		before := len(smtp.Messages())
		var wg sync.WaitGroup
		for _, srv := range []*custodian.Server{a.srv, nodeB} {
			for range 2 {
				wg.Go(func() {
					for range 20 {
						if _, err := srv.DeliverNotifications(ctx); err != nil {
							t.Errorf("deliver: %v", err)
						}
						time.Sleep(10 * time.Millisecond)
					}
				})
			}
		}
		wg.Wait()
		count := map[string]int{}
		for _, m := range smtp.Messages()[before:] {
			for _, to := range m.To {
				count[to]++
			}
		}
		for i := range n {
			email := fmt.Sprintf("twonodes%d@example.com", i)
			if count[email] != 1 {
				t.Errorf("%s got %d mails, want exactly 1 (all: %v)", email, count[email], count)
			}
		}
	})
}

// jwksKids lists the kids a tenant's JWKS publishes, in its order (current first).
func jwksKids(t *testing.T, issuer string) []string {
	t.Helper()
	resp, err := http.Get(issuer + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}

// jwtKid reads the kid of a compact JWS's header.
func jwtKid(t *testing.T, jws string) string {
	t.Helper()
	head, _, _ := strings.Cut(jws, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}
