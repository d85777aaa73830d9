package custodian_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Input that is not what it claims to be (issue 10, items 5 and 6).

// rawCall sends a request with a body of raw bytes and answers the status and body.
func rawCall(t *testing.T, method, target, contentType, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := browser(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readBody(t, resp)
}

// TestInvalidUTF8Refused: every dialect refuses JSON, form bodies and queries that are
// not valid UTF-8 with a 400 in its own shape, instead of decoding them with U+FFFD in
// place of the bad bytes (two different passwords would become one).
func TestInvalidUTF8Refused(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			anon := anonymousLogin(t, e)["access_token"].(string)
			app := appToken(t, e, backendID, backendSec)
			base := e.url + "/customer/" + testTenant
			const jsonType = "application/json"
			bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

			// Two passwords that differ only in an invalid byte: the first signup must not
			// create an account the second can sign in to.
			status, body := rawCall(t, http.MethodPost, base+"/signup", jsonType,
				"{\"email\":\"utf8@example.com\",\"password\":\"p\xe4ssw\xf6rd-1\xff\"}", bearer(anon)...)
			wantShape(t, "login API signup", status, body, "type", "bad_request")
			status, body = rawCall(t, http.MethodPost, base+"/login", jsonType,
				"{\"email\":\"utf8@example.com\",\"password\":\"p\xe4ssw\xf6rd-1\xfe\"}", bearer(anon)...)
			wantShape(t, "login API login", status, body, "type", "bad_request")
			if r := loginWith(t, e, anon, "utf8@example.com", "p\uFFFDssw\uFFFDrd-1\uFFFD"); r.status == http.StatusOK {
				t.Errorf("an account was created from invalid UTF-8")
			}
			status, body = rawCall(t, http.MethodPost, base+"/login", jsonType, `{"email":"`+shopperEmail+`","password":"\ud800"}`, bearer(anon)...)
			wantShape(t, "login API lone surrogate", status, body, "type", "bad_request")
			status, body = rawCall(t, http.MethodGet, e.url+"/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id=sp%FFa", "", "")
			wantShape(t, "login API query", status, body, "type", "bad_request")
			status, body = rawCall(t, http.MethodPost, base+"/signup", jsonType,
				"{\"email\":\"gar\xc0bage@example.com\",\"password\":\"password123\"}", bearer(anon)...)
			wantShape(t, "login API e-mail with garbage", status, body, "type", "bad_request")

			// Ticket API.
			status, body = rawCall(t, http.MethodPost, e.url+"/api/commerce/customer/authtickets", jsonType,
				"{\"username\":\""+shopperEmail+"\",\"password\":\"correct horse battery\xff\"}", append(bearer(app), "x-vol-tenant", testTenant)...)
			wantShape(t, "ticket API body", status, body, "errorCode", "MISSING_OR_INVALID_PARAMETER")
			status, body = rawCall(t, http.MethodPut, e.url+"/api/commerce/customer/authtickets/refresh?refreshToken=ab%FEcd", "", "",
				append(bearer(app), "x-vol-tenant", testTenant)...)
			wantShape(t, "ticket API query", status, body, "errorCode", "MISSING_OR_INVALID_PARAMETER")

			// Admin API.
			admin := []string{"Authorization", "Bearer " + adminToken}
			status, body = rawCall(t, http.MethodPatch, e.admin+"/admin/tenants/"+testTenant+"/settings", jsonType,
				"{\"branding.display_name\":\"Sh\xffp\"}", admin...)
			wantShape(t, "admin body", status, body, "type", "bad_request")
			status, body = rawCall(t, http.MethodGet, e.admin+"/admin/tenants/"+testTenant+"/events?limit=%FF", "", "", admin...)
			wantShape(t, "admin query", status, body, "type", "bad_request")

			// OAuth endpoints: invalid_request.
			form := "application/x-www-form-urlencoded"
			for _, ep := range []string{"/token", "/introspect", "/revoke"} {
				status, body = rawCall(t, http.MethodPost, e.issuer()+ep, form, "grant_type=client_credentials&token=x&scope=openid%FF",
					"Authorization", basicAuth(backendID, backendSec))
				wantShape(t, "oauth "+ep, status, body, "error", "invalid_request")
			}
			status, body = rawCall(t, http.MethodPost, e.issuer()+"/token?scope=%FF", form, "grant_type=client_credentials",
				"Authorization", basicAuth(backendID, backendSec))
			wantShape(t, "oauth /token query", status, body, "error", "invalid_request")
			auth := e.issuer() + "/auth?response_type=code&client_id=" + spaClient + "&redirect_uri=" + url.QueryEscape(spaRedirect) +
				"&scope=openid&state=state-123456&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGlSstw-cM&code_challenge_method=S256"
			for what, target := range map[string]string{"auth query": auth + "&nonce=n%FFnce-123456", "logout query": e.issuer() + "/logout?state=%FF"} {
				// An API caller gets the RFC 6749 JSON, a browser the error page.
				status, body = rawCall(t, http.MethodGet, target, "", "", "Accept", "application/json")
				if status != http.StatusBadRequest || !strings.Contains(body, "invalid_request") || !strings.Contains(body, "UTF-8") {
					t.Errorf("%s: %d %s", what, status, body)
				}
				status, body = rawCall(t, http.MethodGet, target, "", "", "Accept", "text/html")
				if status != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, `id="request-id"`) {
					t.Errorf("%s (browser): %d %s", what, status, body)
				}
			}
			// The login form posts to /auth.
			c := browser(t)
			action, csrf := loginForm(t, c, auth)
			resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}, "step": {"password"}, "email": {shopperEmail},
				"password": {"correct horse battery\xff"}})
			if page := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `role="alert"`) {
				t.Errorf("login form: %d %s", resp.StatusCode, page)
			}
		})
	}
}

// wantShape checks a 400 in a dialect's error shape: key names the field that carries
// the error's kind.
func wantShape(t *testing.T, what string, status int, body, key, want string) {
	t.Helper()
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	if status != http.StatusBadRequest || m[key] != want {
		t.Errorf("%s: %d %s, want 400 with %s %q", what, status, body, key, want)
	}
}

// TestEmailLookAlikes: an address is normalised once and compared by one canonical
// key everywhere. A look-alike cannot squat the real address (bİll@ took bill@'s place
// and received its reset mail), look-alikes from other scripts and invisible
// characters are refused with a field error, and width or case variants are the same
// address.
func TestEmailLookAlikes(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			base := "/customer/" + testTenant
			anon := anonymousLogin(t, e)["access_token"].(string)
			signup := func(email string) loginReply {
				return loginCall(t, e, http.MethodPost, base+"/signup", `{"email":"`+email+`","password":"password123"}`, jsonBearer(anon)...)
			}
			// The Turkish dotted capital I no longer squats the plain address.
			if r := signup("bİll@example.com"); r.status != http.StatusCreated {
				t.Fatalf("signup of bİll: %d %s", r.status, r.raw)
			}
			if r := signup("bill@example.com"); r.status != http.StatusCreated {
				t.Fatalf("the real bill cannot sign up: %d %s", r.status, r.raw)
			}
			if r := loginCall(t, e, http.MethodPost, base+"/password/reset", `{"email":"bill@example.com"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
				t.Fatalf("reset: %d %s", r.status, r.raw)
			}
			if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			m := smtp.WaitFor(t, "bill@example.com", 10*time.Second)
			if !strings.Contains(m.Subject, "Reset") {
				t.Errorf("bill's reset mail: %+v", m)
			}
			for _, got := range smtp.Messages() {
				for _, to := range got.To {
					if strings.Contains(to, "İ") {
						t.Errorf("the look-alike got mail: %+v", got)
					}
				}
			}

			// Other scripts and invisible characters: a field error.
			for email, reason := range map[string]string{
				"j\u0430ne@example.com":  "scripts", // Cyrillic а
				"jane@ex\u0430mple.com":  "scripts",
				"ja\u200bne@example.com": "invisible",
				"jane\u200d@example.com": "invisible",
				"\u202ejane@example.com": "invisible",
			} {
				r := signup(email)
				if r.status != http.StatusBadRequest || !strings.Contains(r.raw, `"field":"email"`) || !strings.Contains(r.raw, reason) {
					t.Errorf("signup %q: %d %s", email, r.status, r.raw)
				}
			}
			// Width and case variants are the same address as the shopper's.
			for _, email := range []string{"ｊａｎｅ@example.com", "JANE@EXAMPLE.COM", "jane@ＥＸＡＭＰＬＥ.com"} {
				if r := signup(email); r.status != http.StatusConflict {
					t.Errorf("signup %q beside %s: %d %s", email, shopperEmail, r.status, r.raw)
				}
				if r := loginWith(t, e, anon, email, shopperPass); r.status != http.StatusOK {
					t.Errorf("login as %q: %d %s", email, r.status, r.raw)
				}
			}
			app := appToken(t, e, backendID, backendSec)
			got := ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets",
				`{"username":"ｊａｎｅ@example.com","password":"`+shopperPass+`"}`, "x-vol-tenant", testTenant, "Authorization", "Bearer "+app)
			if got.status != http.StatusOK {
				t.Errorf("ticket for the full-width username: %d %s", got.status, got.raw)
			}
			// Stored once, in normal form.
			if r := signup("  Zoe\u0308@Example.ORG "); r.status != http.StatusCreated {
				t.Fatalf("signup: %d %s", r.status, r.raw)
			}
			a, err := e.srv.Store().GetAccountByEmail(context.Background(), testTenant, "zoë@example.org")
			if err != nil || a.Email != "Zoë@example.org" {
				t.Errorf("stored as %v, %v", a, err)
			}
			// The e-mail change and the admin surface apply the same rule.
			me := loginWith(t, e, anon, shopperEmail, shopperPass).body["access_token"].(string)
			r := loginCall(t, e, http.MethodPost, base+"/me/accounts/internal/email/change",
				`{"email":"`+shopperEmail+`","password":"`+shopperPass+`","newEmail":"b\u0456ll@example.com"}`, jsonBearer(me)...)
			if r.status != http.StatusBadRequest || !strings.Contains(r.raw, `"field":"newEmail"`) {
				t.Errorf("e-mail change to a look-alike: %d %s", r.status, r.raw)
			}
			r = loginCall(t, e, http.MethodPost, base+"/me/accounts/internal/email/change",
				`{"email":"`+shopperEmail+`","password":"`+shopperPass+`","newEmail":"ＢＩＬＬ@example.com"}`, jsonBearer(me)...)
			if r.status != http.StatusConflict {
				t.Errorf("e-mail change to bill's address in full width: %d %s", r.status, r.raw)
			}
			status, body := adminDo(t, e, http.MethodPost, "/admin/tenants/"+testTenant+"/customers",
				`{"email":"bi\u200bll@example.com","password":"password123"}`)
			if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body), "invisible") {
				t.Errorf("admin create with an invisible character: %d %v", status, body)
			}
		})
	}
}

// TestPasswordResetSameWork: a reset request for an address with an account and one
// without do the same work before they answer (count the rate limits, queue one job);
// the token and the mail come from the outbox worker, so no answer waits for them.
func TestPasswordResetSameWork(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			db, _ := storagetest.SQL(t, b)
			anon := anonymousLogin(t, e)["access_token"].(string)
			trace := func() (tokens, queued int, kinds string) {
				t.Helper()
				if err := db.QueryRow(`SELECT COUNT(*) FROM one_time_tokens`).Scan(&tokens); err != nil {
					t.Fatal(err)
				}
				var ks []string
				for _, r := range outboxRows(t, db) {
					if !r.delivered {
						queued++
						ks = append(ks, r.kind)
					}
				}
				return tokens, queued, strings.Join(ks, ",")
			}
			var traces []string
			for _, email := range []string{shopperEmail, "nobody@example.com"} {
				before, _, _ := trace()
				if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/password/reset", `{"email":"`+email+`"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
					t.Fatalf("reset %s: %d %s", email, r.status, r.raw)
				}
				tokens, queued, kinds := trace()
				traces = append(traces, fmt.Sprintf("tokens=%d queued=%d kinds=%s", tokens-before, queued, kinds))
				if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if traces[0] != "tokens=0 queued=1 kinds=job.password_reset" || traces[1] != traces[0] {
				t.Errorf("the two answers left different traces: known %q, unknown %q", traces[0], traces[1])
			}
			// The worker did the rest: one mail, to the account; nothing for the stranger.
			mails := smtp.Messages()
			if len(mails) != 1 || mails[0].To[0] != shopperEmail || !resetTokenRE.MatchString(mails[0].Body) {
				t.Errorf("mails after the worker: %+v", mails)
			}
			if tokens, queued, _ := trace(); tokens != 1 || queued != 0 {
				t.Errorf("after the worker: %d tokens, %d queued", tokens, queued)
			}
			for _, r := range outboxRows(t, db) {
				if r.data != "{}" {
					t.Errorf("%s kept %s", r.kind, r.data)
				}
			}
			evs, _ := e.srv.Store().ListEvents(context.Background(), testTenant, nil, 10)
			requested := 0
			for _, ev := range evs {
				if ev.Kind == "password.reset_requested" && ev.IP != "" {
					requested++
				}
			}
			if requested != 2 {
				t.Errorf("%d reset requests recorded with the caller's address, want 2", requested)
			}
		})
	}
}
