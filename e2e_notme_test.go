package custodian_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// confirmNotMe opens a "this was not me" link in the browser c and confirms on its
// page; it answers the status and page of the confirmation.
func confirmNotMe(t *testing.T, e *env, c *http.Client, token string) (int, string) {
	t.Helper()
	resp, err := c.Get(e.url + "/customer/" + testTenant + "/security/not-me/" + token)
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("open the not-me link: %d %s", resp.StatusCode, page)
	}
	action, csrf := formParts(t, resp.Request.URL, page)
	resp = postForm(t, c, action, url.Values{"csrf_token": {csrf}})
	return resp.StatusCode, readBody(t, resp)
}

// TestNotMeAsksFirst (issue 10, item 9): opening the "this was not me" link, as a mail
// scanner does, only shows a page that asks; the link works when the shopper confirms
// with the page's CSRF-protected form, once.
func TestNotMeAsksFirst(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			e.clock.Advance(0)
			anon := anonymousLogin(t, e)["access_token"].(string)
			login := func(fp string) string {
				t.Helper()
				body, _ := json.Marshal(map[string]string{"email": shopperEmail, "password": shopperPass, "fingerprint": fp})
				r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", string(body), jsonBearer(anon)...)
				if r.status != http.StatusOK {
					t.Fatalf("login: %d %s", r.status, r.raw)
				}
				return r.body["access_token"].(string)
			}
			session := login("home")
			login("elsewhere")
			if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			m := notMeRE.FindStringSubmatch(smtp.WaitFor(t, shopperEmail, 10*time.Second).Body)
			if m == nil {
				t.Fatal("no not-me link in the new-device mail")
			}
			link := e.url + "/customer/" + testTenant + "/security/not-me/" + m[1]
			alive := func(what string, want bool) {
				t.Helper()
				r := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(session)...)
				if (r.status == http.StatusOK) != want {
					t.Errorf("%s: the session answers %d, want alive %v", what, r.status, want)
				}
			}

			// A scanner opens the link twice: a page that asks, nothing changes.
			for i := 0; i < 2; i++ {
				resp, err := http.Get(link)
				if err != nil {
					t.Fatal(err)
				}
				page := readBody(t, resp)
				if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<form method="post"`) || !strings.Contains(page, `name="csrf_token"`) ||
					strings.Contains(page, "<script") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
					t.Errorf("open %d: %d %s", i, resp.StatusCode, page)
				}
				if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
					t.Errorf("CSP %q", csp)
				}
			}
			alive("after opening the link", true)

			// A post without the page's CSRF token, or from another browser, is refused.
			c := browser(t)
			resp, err := c.Get(link)
			if err != nil {
				t.Fatal(err)
			}
			action, csrf := formParts(t, resp.Request.URL, readBody(t, resp))
			if r := postForm(t, c, action, url.Values{}); readBody(t, r) == "" || r.StatusCode != http.StatusForbidden {
				t.Errorf("post without csrf_token: %d", r.StatusCode)
			}
			if r := postForm(t, browser(t), action, url.Values{"csrf_token": {csrf}}); readBody(t, r) == "" || r.StatusCode != http.StatusForbidden {
				t.Errorf("post from another browser: %d", r.StatusCode)
			}
			alive("after refused posts", true)

			// The shopper confirms: every session ends; the link then is spent.
			status, page := confirmNotMe(t, e, c, m[1])
			if status != http.StatusOK || !strings.Contains(page, "signed out") {
				t.Errorf("confirm: %d %s", status, page)
			}
			alive("after confirming", false)
			if r := postForm(t, c, action, url.Values{"csrf_token": {csrf}}); readBody(t, r) == "" || r.StatusCode != http.StatusBadRequest {
				t.Errorf("confirm again: %d", r.StatusCode)
			}
			resp, _ = http.Get(link)
			if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("open a spent link: %d", resp.StatusCode)
			}
		})
	}
}
