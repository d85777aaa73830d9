package custodian_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Issue 5 end to end: the seed's profile, address and credential requests replayed
// verbatim, every bad input and cross-customer attempt, and the races.

// seedProfilePatch, seedAddress and seedAddressPatch are the seed's request bodies.
const seedProfilePatch = `{
"title": "MR",
"firstName": "John",
"lastName": "Doe",
"contactEmail": "john.doe@example.com",
"contactPhone": "123456789",
"company": "Emporix",
"preferredLanguage": "en_US",
"preferredCurrency": "EUR",
"preferredSite": "DE",
"b2b": {
"companyRegistrationId": "123-456-789"
},
"metadata": {
"version": 1
}
}`

const seedAddress = `{
"contactName": "John Doe",
"companyName": "Emporix",
"street": "Platz der Republik",
"streetNumber": "1",
"streetAppendix": "",
"extraLine1": "",
"extraLine2": "",
"extraLine3": "",
"extraLine4": "",
"zipCode": "11011",
"city": "Berlin",
"country": "DE",
"state": "Berlin",
"contactPhone": "123456789",
"tags": ["BILLING", "SHIPPING"]
}`

const seedAddressPatch = `{
"contactName": "John Doe",
"companyName": "Emporix",
"street": "Platz der Republik",
"streetNumber": "2",
"streetAppendix": "Platz",
"extraLine1": "",
"extraLine2": "",
"extraLine3": "",
"extraLine4": "",
"zipCode": "11011",
"city": "Berlin",
"country": "DE",
"state": "Berlin",
"contactPhone": "123456789",
"tags": ["BILLING", "SHIPPING"],
"isDefault": true
}`

var resetTokenRE = regexp.MustCompile(`(?m)^([A-Za-z0-9_-]{43})\r?$`)

// mailedToken flushes the outbox and reads the token of the newest mail to the address.
func mailedToken(t *testing.T, e *env, smtp *notifytest.SMTPServer, email string, before int) string {
	t.Helper()
	if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(smtp.Messages()); n <= before {
		t.Fatalf("no new mail (still %d)", n)
	}
	m := resetTokenRE.FindStringSubmatch(smtp.WaitFor(t, email, 10*time.Second).Body)
	if m == nil {
		t.Fatalf("no token in the newest mail to %s", email)
	}
	return m[1]
}

// signedUp signs a seed customer up and in and returns the anonymous and customer tokens.
func signedUp(t *testing.T, e *env, email string) (anon, me string) {
	t.Helper()
	anon = anonymousLogin(t, e)["access_token"].(string)
	if got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/signup", seedSignup(email), jsonBearer(anon)...); got.status != http.StatusCreated {
		t.Fatalf("signup: %d %s", got.status, got.raw)
	}
	got := loginWith(t, e, anon, email, "password123")
	if got.status != http.StatusOK {
		t.Fatalf("login: %d %s", got.status, got.raw)
	}
	return anon, got.body["access_token"].(string)
}

func TestProfileSeed(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			e.clock.Advance(0)
			const email = "john.doe@example.com"
			anon, me := signedUp(t, e, email)
			base := "/customer/" + testTenant

			// 1. The profile, expanded: the seed's shape.
			got := loginCall(t, e, http.MethodGet, base+"/me?expand=addresses,mixin:*", "", jsonBearer(me)...)
			if got.status != http.StatusOK {
				t.Fatalf("GET /me: %d %s", got.status, got.raw)
			}
			wantKeys(t, "profile", got.body, "id", "customerNumber", "title", "firstName", "middleName", "lastName", "contactEmail",
				"contactPhone", "company", "preferredLanguage", "preferredCurrency", "preferredSite", "accounts", "businessModel", "b2b",
				"mixins", "metadata", "lastLogin", "addresses", "defaultAddress")
			// The seed's company registration id is kept and shown back, but the shopper's
			// word does not make the account B2B (b2b.self_declared is off).
			if b2b, _ := got.body["b2b"].(map[string]any); b2b == nil || b2b["companyRegistrationId"] != "123-456-789" {
				t.Errorf("b2b block: %v", got.body["b2b"])
			}
			if got.body["id"] != got.body["customerNumber"] || got.body["businessModel"] != "B2C" || got.body["title"] != "MR" ||
				got.body["metadata"].(map[string]any)["version"] != float64(1) {
				t.Errorf("profile %s", got.raw)
			}
			if acc := got.body["accounts"].([]any)[0].(map[string]any); acc["id"] != email {
				t.Errorf("accounts %v", got.body["accounts"])
			}
			if addrs := got.body["addresses"].([]any); len(addrs) != 1 || addrs[0].(map[string]any)["isDefault"] != true {
				t.Errorf("signup address: %v", got.body["addresses"])
			}
			if plain := loginCall(t, e, http.MethodGet, base+"/me", "", jsonBearer(me)...); plain.body["addresses"] != nil {
				t.Errorf("addresses without expand: %s", plain.raw)
			}

			// 2. Updating the profile with the seed's body: version 1 → 2.
			got = loginCall(t, e, http.MethodPatch, base+"/me", seedProfilePatch, jsonBearer(me)...)
			if got.status != http.StatusOK || got.body["preferredSite"] != "DE" || got.body["metadata"].(map[string]any)["version"] != float64(2) {
				t.Fatalf("PATCH /me: %d %s", got.status, got.raw)
			}
			stale := loginCall(t, e, http.MethodPatch, base+"/me", strings.Replace(seedProfilePatch, `"DE"`, `"FR"`, 1), jsonBearer(me)...)
			wantLoginError(t, "stale version", stale, http.StatusConflict, "conflict_resource")
			if now := loginCall(t, e, http.MethodGet, base+"/me", "", jsonBearer(me)...); now.body["preferredSite"] != "DE" {
				t.Errorf("a stale PATCH changed the profile: %s", now.raw)
			}
			// A merge patch: null clears, mixins merge, a GET-modify-PATCH round trip works.
			mp := loginCall(t, e, http.MethodPatch, base+"/me", `{"title":null,"mixins":{"loyalty":{"tier":"gold","points":10}}}`,
				"Authorization", "Bearer "+me, "Content-Type", "application/merge-patch+json")
			if mp.status != http.StatusOK || mp.body["title"] != "" || mp.body["mixins"].(map[string]any)["loyalty"] == nil {
				t.Fatalf("merge patch: %d %s", mp.status, mp.raw)
			}
			mp = loginCall(t, e, http.MethodPatch, base+"/me", `{"mixins":{"loyalty":{"points":null},"news":{"on":true}}}`,
				"Authorization", "Bearer "+me, "Content-Type", "application/merge-patch+json")
			loyalty := mp.body["mixins"].(map[string]any)["loyalty"].(map[string]any)
			if loyalty["tier"] != "gold" || loyalty["points"] != nil || mp.body["mixins"].(map[string]any)["news"] == nil {
				t.Errorf("mixins merge: %s", mp.raw)
			}
			roundTrip := loginCall(t, e, http.MethodPatch, base+"/me?expand=addresses", mp.raw, jsonBearer(me)...)
			if roundTrip.status != http.StatusOK {
				t.Errorf("GET-modify-PATCH round trip: %d %s", roundTrip.status, roundTrip.raw)
			}

			// 3. Adding an address (seed body) → 201 {id}; 4. listing; 5. one; 6. updating.
			got = loginCall(t, e, http.MethodPost, base+"/me/addresses", seedAddress, jsonBearer(me)...)
			if got.status != http.StatusCreated {
				t.Fatalf("add address: %d %s", got.status, got.raw)
			}
			wantKeys(t, "address created", got.body, "id")
			addrID := got.body["id"].(string)
			list := loginCall(t, e, http.MethodGet, base+"/me/addresses", "", jsonBearer(me)...)
			var addrs []map[string]any
			_ = json.Unmarshal([]byte(list.raw), &addrs)
			if list.status != http.StatusOK || len(addrs) != 2 {
				t.Fatalf("addresses: %d %s", list.status, list.raw)
			}
			one := loginCall(t, e, http.MethodGet, base+"/me/addresses/"+addrID, "", jsonBearer(me)...)
			wantKeys(t, "address", one.body, "id", "contactName", "companyName", "street", "streetNumber", "streetAppendix", "extraLine1",
				"extraLine2", "extraLine3", "extraLine4", "zipCode", "city", "country", "state", "contactPhone", "tags", "isDefault")
			if one.body["isDefault"] != false {
				t.Errorf("a second address became the default: %s", one.raw)
			}
			got = loginCall(t, e, http.MethodPatch, base+"/me/addresses/"+addrID, seedAddressPatch, jsonBearer(me)...)
			if got.status != http.StatusOK || got.body["streetNumber"] != "2" || got.body["isDefault"] != true {
				t.Fatalf("patch address: %d %s", got.status, got.raw)
			}
			_ = json.Unmarshal([]byte(loginCall(t, e, http.MethodGet, base+"/me/addresses", "", jsonBearer(me)...).raw), &addrs)
			defaults := 0
			for _, a := range addrs {
				if a["isDefault"] == true {
					defaults++
				}
			}
			if defaults != 1 || addrs[0]["id"] != addrID {
				t.Errorf("after making the new address the default: %v", addrs)
			}
			// Tags.
			if r := loginCall(t, e, http.MethodPost, base+"/me/addresses/"+addrID+"/tags?tags=PICKUP,BILLING", "", jsonBearer(me)...); r.status != http.StatusNoContent {
				t.Errorf("add tags: %d %s", r.status, r.raw)
			}
			if r := loginCall(t, e, http.MethodDelete, base+"/me/addresses/"+addrID+"/tags?tags=SHIPPING", "", jsonBearer(me)...); r.status != http.StatusNoContent {
				t.Errorf("remove tags: %d %s", r.status, r.raw)
			}
			if r := loginCall(t, e, http.MethodGet, base+"/me/addresses/"+addrID, "", jsonBearer(me)...); fmt.Sprint(r.body["tags"]) != "[BILLING PICKUP]" {
				t.Errorf("tags %v", r.body["tags"])
			}
			// The ticket API's customerAccount shows the same book as contacts.
			app := []string{"x-vol-tenant", testTenant, "Authorization", basicAuth(backendID, backendSec)}
			tk := ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets?responseFields=customerAccount(contacts,firstName)",
				`{"username":"`+email+`","password":"password123"}`, app...)
			contacts, _ := tk.body["customerAccount"].(map[string]any)["contacts"].([]any)
			if tk.status != http.StatusOK || len(contacts) != 2 {
				t.Errorf("ticket contacts: %d %s", tk.status, tk.raw)
			}
			// Deleting the default promotes the other address.
			if r := loginCall(t, e, http.MethodDelete, base+"/me/addresses/"+addrID, "", jsonBearer(me)...); r.status != http.StatusNoContent {
				t.Fatalf("delete address: %d %s", r.status, r.raw)
			}
			_ = json.Unmarshal([]byte(loginCall(t, e, http.MethodGet, base+"/me/addresses", "", jsonBearer(me)...).raw), &addrs)
			if len(addrs) != 1 || addrs[0]["isDefault"] != true {
				t.Errorf("after deleting the default: %v", addrs)
			}

			// E-mail change (seed body, current password), confirmed from the new inbox.
			e.clock.Advance(time.Minute)
			const newEmail = "johnny@example.com"
			sent := len(smtp.Messages())
			ec := loginCall(t, e, http.MethodPost, base+"/me/accounts/internal/email/change",
				`{"email":"`+email+`","password":"password123","newEmail":"`+newEmail+`","syncContactEmail":true}`, jsonBearer(me)...)
			if ec.status != http.StatusNoContent {
				t.Fatalf("email change: %d %s", ec.status, ec.raw)
			}
			tok := mailedToken(t, e, smtp, newEmail, sent)
			if loginWith(t, e, anon, newEmail, "password123").status != http.StatusUnauthorized {
				t.Error("the new e-mail works before confirmation")
			}
			if r := loginCall(t, e, http.MethodPost, base+"/me/accounts/internal/email/change/confirm", `{"token":"`+tok+`"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
				t.Fatalf("confirm: %d %s", r.status, r.raw)
			}
			if r := loginCall(t, e, http.MethodPost, base+"/me/accounts/internal/email/change/confirm", `{"token":"`+tok+`"}`, jsonBearer(anon)...); r.status != http.StatusBadRequest {
				t.Errorf("confirm twice: %d", r.status)
			}
			if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			if m := smtp.WaitFor(t, email, 10*time.Second); !strings.Contains(m.Body, newEmail) {
				t.Errorf("the old address was not told: %q", m.Body)
			}
			if loginWith(t, e, anon, email, "password123").status != http.StatusUnauthorized {
				t.Error("the old e-mail still signs in")
			}
			if p := loginCall(t, e, http.MethodGet, base+"/me", "", jsonBearer(me)...); p.body["contactEmail"] != newEmail {
				t.Errorf("contact e-mail not synced: %s", p.raw)
			}

			// Password reset (seed bodies): 204, a mailed token, the seed's new password.
			sent = len(smtp.Messages())
			if r := loginCall(t, e, http.MethodPost, base+"/password/reset", `{"email":"`+newEmail+`","site":"main"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
				t.Fatalf("reset: %d %s", r.status, r.raw)
			}
			reset := mailedToken(t, e, smtp, newEmail, sent)
			if r := loginCall(t, e, http.MethodPost, base+"/password/reset/update", `{"token":"`+reset+`","password":"P@ssw0rd123"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
				t.Fatalf("reset update: %d %s", r.status, r.raw)
			}
			if r := loginCall(t, e, http.MethodGet, base+"/me", "", jsonBearer(me)...); r.status != http.StatusUnauthorized {
				t.Errorf("a session survived the reset: %d", r.status)
			}
			if r := loginWith(t, e, anon, newEmail, "P@ssw0rd123"); r.status != http.StatusOK {
				t.Errorf("login with the new password: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestProfileBadInput: every bad request is a 400/404/409/415 in the login API's shape
// and changes nothing.
func TestProfileBadInput(t *testing.T) {
	smtp := notifytest.StartSMTP(t)
	e := newEnv(t, storagetest.Backends(t)[0], withSMTP(smtp))
	e.clock.Advance(0)
	anon, me := signedUp(t, e, "john.doe@example.com")
	_, other := signedUp(t, e, "mary@example.com")
	base := "/customer/" + testTenant
	add := loginCall(t, e, http.MethodPost, base+"/me/addresses", seedAddress, jsonBearer(me)...)
	johnsAddress := add.body["id"].(string)
	before := loginCall(t, e, http.MethodGet, base+"/me?expand=addresses", "", jsonBearer(me)...).raw

	cases := []struct {
		name, method, path, body, token string
		status                          int
		typ                             string
		fields                          []string
	}{
		{"unknown field", http.MethodPatch, "/me", `{"admin":true}`, me, 400, "bad_request", []string{"admin"}},
		{"wrong type", http.MethodPatch, "/me", `{"firstName":5}`, me, 400, "bad_request", []string{"firstName"}},
		{"contactEmail removed", http.MethodPatch, "/me", `{"contactEmail":null}`, me, 400, "bad_request", []string{"contactEmail"}},
		{"contactEmail invalid", http.MethodPatch, "/me", `{"contactEmail":"not an address"}`, me, 400, "bad_request", []string{"contactEmail"}},
		{"version not a number", http.MethodPatch, "/me", `{"metadata":{"version":"x"}}`, me, 400, "bad_request", []string{"metadata.version"}},
		{"mixins not an object", http.MethodPatch, "/me", `{"mixins":[1]}`, me, 400, "bad_request", []string{"mixins"}},
		{"name too long", http.MethodPatch, "/me", `{"lastName":"` + strings.Repeat("x", 300) + `"}`, me, 400, "bad_request", []string{"lastName"}},
		{"b2b not an object", http.MethodPatch, "/me", `{"b2b":"x"}`, me, 400, "bad_request", []string{"b2b"}},
		{"anonymous token", http.MethodPatch, "/me", `{"firstName":"X"}`, anon, 401, "unauthorized", nil},
		{"address: required fields", http.MethodPost, "/me/addresses", `{"country":"DE"}`, me, 400, "bad_request", []string{"street", "zipCode", "city"}},
		{"address: country", http.MethodPost, "/me/addresses", strings.Replace(seedAddress, `"DE"`, `"Germany"`, 1), me, 400, "bad_request", []string{"country"}},
		{"address: unknown country", http.MethodPost, "/me/addresses", strings.Replace(seedAddress, `"DE"`, `"XX"`, 1), me, 400, "bad_request", []string{"country"}},
		{"address: too long", http.MethodPost, "/me/addresses", strings.Replace(seedAddress, `"Berlin"`, `"`+strings.Repeat("B", 300)+`"`, 1), me, 400, "bad_request", []string{"city"}},
		{"address: tags type", http.MethodPost, "/me/addresses", `{"tags":"BILLING"}`, me, 400, "bad_request", []string{"tags"}},
		{"another customer's address: get", http.MethodGet, "/me/addresses/" + johnsAddress, "", other, 404, "resource_not_found", nil},
		{"another customer's address: patch", http.MethodPatch, "/me/addresses/" + johnsAddress, `{"city":"Paris"}`, other, 404, "resource_not_found", nil},
		{"another customer's address: delete", http.MethodDelete, "/me/addresses/" + johnsAddress, "", other, 404, "resource_not_found", nil},
		{"another customer's address: tags", http.MethodPost, "/me/addresses/" + johnsAddress + "/tags?tags=X", "", other, 404, "resource_not_found", nil},
		{"tags missing", http.MethodPost, "/me/addresses/" + johnsAddress + "/tags", "", me, 400, "bad_request", []string{"tags"}},
		{"reset: no email", http.MethodPost, "/password/reset", `{"site":"main"}`, anon, 400, "bad_request", []string{"email"}},
		{"reset: customer token", http.MethodPost, "/password/reset", `{"email":"john.doe@example.com"}`, me, 401, "unauthorized", nil},
		{"reset update: unknown token", http.MethodPost, "/password/reset/update", `{"token":"nope","password":"a long new password"}`, anon, 400, "bad_request", nil},
		{"reset update: missing fields", http.MethodPost, "/password/reset/update", `{}`, anon, 400, "bad_request", []string{"token", "password"}},
		{"change: wrong current", http.MethodPost, "/password/change", `{"currentPassword":"wrong password!","newPassword":"a long new password"}`, me, 401, "unauthorized", nil},
		{"change: common new", http.MethodPost, "/password/change", `{"currentPassword":"password123","newPassword":"qwertyuiop"}`, me, 400, "bad_request", []string{"newPassword"}},
		{"change: short new", http.MethodPost, "/password/change", `{"currentPassword":"password123","newPassword":"short"}`, me, 400, "bad_request", []string{"newPassword"}},
		{"change: same", http.MethodPost, "/password/change", `{"currentPassword":"password123","newPassword":"password123"}`, me, 400, "bad_request", []string{"newPassword"}},
		{"change: the e-mail", http.MethodPost, "/password/change", `{"currentPassword":"password123","newPassword":"john.doe@example.com"}`, me, 400, "bad_request", []string{"newPassword"}},
		{"email change: taken", http.MethodPost, "/me/accounts/internal/email/change", `{"email":"john.doe@example.com","password":"password123","newEmail":"MARY@example.com"}`, me, 409, "conflict_resource", nil},
		{"email change: wrong password", http.MethodPost, "/me/accounts/internal/email/change", `{"email":"john.doe@example.com","password":"wrong password!","newEmail":"j2@example.com"}`, me, 401, "unauthorized", nil},
		{"email change: not the current e-mail", http.MethodPost, "/me/accounts/internal/email/change", `{"email":"mary@example.com","password":"password123","newEmail":"j2@example.com"}`, me, 400, "bad_request", []string{"email"}},
		{"email change: invalid new", http.MethodPost, "/me/accounts/internal/email/change", `{"email":"john.doe@example.com","password":"password123","newEmail":"j2"}`, me, 400, "bad_request", []string{"newEmail"}},
		{"email change confirm: unknown token", http.MethodPost, "/me/accounts/internal/email/change/confirm", `{"token":"nope"}`, anon, 400, "bad_request", nil},
		{"erase: no password", http.MethodDelete, "/me", `{}`, me, 400, "bad_request", []string{"password"}},
		{"erase: wrong password", http.MethodDelete, "/me", `{"password":"wrong password!"}`, me, 401, "unauthorized", nil},
	}
	for i, tc := range cases {
		if i%5 == 4 {
			e.clock.Advance(time.Minute) // stay under the per-account sign-in limit
		}
		got := loginCall(t, e, tc.method, base+tc.path, tc.body, jsonBearer(tc.token)...)
		wantLoginError(t, tc.name, got, tc.status, tc.typ, tc.fields...)
	}
	if r := loginCall(t, e, http.MethodPatch, base+"/me", `{"firstName":"X"}`, "Authorization", "Bearer "+me, "Content-Type", "text/plain"); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain PATCH: %d", r.status)
	}
	e.clock.Advance(time.Minute)
	if after := loginCall(t, e, http.MethodGet, base+"/me?expand=addresses", "", jsonBearer(me)...).raw; after != before {
		t.Errorf("bad requests changed the profile:\nbefore %s\nafter  %s", before, after)
	}
	// Reset for an unknown address: the same 204, and no mail.
	sent := len(smtp.Messages())
	if r := loginCall(t, e, http.MethodPost, base+"/password/reset", `{"email":"nobody@example.com","site":"main"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
		t.Errorf("reset for an unknown address: %d", r.status)
	}
	if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(smtp.Messages()) != sent {
		t.Error("a reset mail went to an unknown address")
	}
}

// TestProfileVersionRace: PATCHes with the same version race; exactly one wins.
func TestProfileVersionRace(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			_, me := signedUp(t, e, "john.doe@example.com")
			const n = 8
			var wg sync.WaitGroup
			statuses := make(chan int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body := fmt.Sprintf(`{"firstName":"Racer %d","metadata":{"version":1}}`, i)
					statuses <- loginCall(t, e, http.MethodPatch, "/customer/"+testTenant+"/me", body, jsonBearer(me)...).status
				}()
			}
			wg.Wait()
			close(statuses)
			won, lost := 0, 0
			for s := range statuses {
				switch s {
				case http.StatusOK:
					won++
				case http.StatusConflict:
					lost++
				default:
					t.Errorf("status %d", s)
				}
			}
			if won != 1 || lost != n-1 {
				t.Errorf("%d won, %d lost; want exactly one winner", won, lost)
			}
			p := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/me", "", jsonBearer(me)...)
			if p.body["metadata"].(map[string]any)["version"] != float64(2) || !strings.HasPrefix(p.body["firstName"].(string), "Racer ") {
				t.Errorf("after the race: %s", p.raw)
			}
		})
	}
}

// TestCredentials: reset unlocks and invalidates older tokens; change keeps the
// caller's session and ends the others; export and erasure.
func TestCredentials(t *testing.T) {
	smtp := notifytest.StartSMTP(t)
	e := newEnv(t, storagetest.Backends(t)[0], withSMTP(smtp))
	e.clock.Advance(0)
	ctx := context.Background()
	base := "/customer/" + testTenant
	const email = "john.doe@example.com"
	anon, me := signedUp(t, e, email)
	// Another device: another anonymous session, so another shopper session.
	other := anonymousLogin(t, e)["access_token"].(string)
	second := loginWith(t, e, other, email, "password123").body["access_token"].(string)

	// Change: the caller's session stays, the other one ends.
	if r := loginCall(t, e, http.MethodPost, base+"/password/change", `{"currentPassword":"password123","newPassword":"a brand new secret"}`, jsonBearer(me)...); r.status != http.StatusNoContent {
		t.Fatalf("change: %d %s", r.status, r.raw)
	}
	if r := loginCall(t, e, http.MethodGet, base+"/me", "", jsonBearer(me)...); r.status != http.StatusOK {
		t.Errorf("the caller's session ended: %d", r.status)
	}
	if r := loginCall(t, e, http.MethodGet, base+"/me", "", jsonBearer(second)...); r.status != http.StatusUnauthorized {
		t.Errorf("another session survived the change: %d", r.status)
	}

	// Reset: a newer request retires the older token; the reset unlocks the account.
	e.clock.Advance(time.Minute)
	sent := len(smtp.Messages())
	loginCall(t, e, http.MethodPost, base+"/password/reset", `{"email":"`+email+`"}`, jsonBearer(anon)...)
	first := mailedToken(t, e, smtp, email, sent)
	loginCall(t, e, http.MethodPost, base+"/password/reset", `{"email":"`+email+`"}`, jsonBearer(anon)...)
	newest := mailedToken(t, e, smtp, email, sent+1)
	for range 5 {
		loginWith(t, e, anon, email, "wrong password!")
	}
	if r := loginWith(t, e, anon, email, "a brand new secret"); r.status != http.StatusForbidden {
		t.Fatalf("not locked after five wrong passwords: %d", r.status)
	}
	wantLoginError(t, "older reset token", loginCall(t, e, http.MethodPost, base+"/password/reset/update",
		`{"token":"`+first+`","password":"another fine secret"}`, jsonBearer(anon)...), http.StatusBadRequest, "bad_request")
	wantLoginError(t, "common password", loginCall(t, e, http.MethodPost, base+"/password/reset/update",
		`{"token":"`+newest+`","password":"password"}`, jsonBearer(anon)...), http.StatusBadRequest, "bad_request", "password")
	if r := loginCall(t, e, http.MethodPost, base+"/password/reset/update", `{"token":"`+newest+`","password":"another fine secret"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
		t.Fatalf("reset with the newest token: %d %s", r.status, r.raw)
	}
	e.clock.Advance(time.Minute)
	login := loginWith(t, e, anon, email, "another fine secret")
	if login.status != http.StatusOK {
		t.Fatalf("the reset did not unlock: %d %s", login.status, login.raw)
	}
	me = login.body["access_token"].(string)

	// Export: everything in one document.
	x := loginCall(t, e, http.MethodGet, base+"/me/export", "", jsonBearer(me)...)
	wantKeys(t, "export", x.body, "exportedAt", "profile", "login", "addresses", "devices", "twoFactor", "securityEvents")
	if evs, _ := x.body["securityEvents"].([]any); len(evs) < 5 {
		t.Errorf("export has %d security events", len(evs))
	}

	// Erasure: tokens end, the e-mail is free again, the audit trail keeps no address.
	acc, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, email)
	if err != nil {
		t.Fatal(err)
	}
	if r := loginCall(t, e, http.MethodDelete, base+"/me", `{"password":"another fine secret"}`, jsonBearer(me)...); r.status != http.StatusNoContent {
		t.Fatalf("erase: %d %s", r.status, r.raw)
	}
	if r := loginCall(t, e, http.MethodGet, base+"/me", "", jsonBearer(me)...); r.status != http.StatusUnauthorized {
		t.Errorf("a token survived the erasure: %d", r.status)
	}
	if _, err := e.srv.Store().GetAccount(ctx, testTenant, acc.ID); err == nil {
		t.Error("the account is still there")
	}
	events, err := e.srv.Store().ListEvents(ctx, testTenant, &acc.ID, 1000)
	if err != nil || len(events) == 0 {
		t.Fatalf("audit trail: %d events, %v", len(events), err)
	}
	for _, ev := range events {
		if ev.IP != "" || ev.UserAgent != "" || len(ev.Detail) > 0 {
			t.Errorf("event %s keeps personal data: %+v", ev.Kind, ev)
		}
	}
	if got := loginCall(t, e, http.MethodPost, base+"/signup", seedSignup(email), jsonBearer(anon)...); got.status != http.StatusCreated {
		t.Errorf("sign up again with the erased e-mail: %d %s", got.status, got.raw)
	}
	_ = customer.ErrStale
}
