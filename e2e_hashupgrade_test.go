package custodian_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Imported password hashes upgraded at the first sign-in (issue 15, item 3), with the
// real vectors of customer/passwordhash/testdata: each was made by the platform's own
// tool (passlib, Django, PHP, node ports, Microsoft's and Firebase's published ones).

// hashVector is an entry of customer/passwordhash/testdata/*.json (its README says how
// each was made).
type hashVector struct {
	Name     string   `json:"name"`
	Tool     string   `json:"tool"`
	Format   string   `json:"format"`
	Hash     string   `json:"hash"`
	Salt     string   `json:"salt"`
	Password string   `json:"password"`
	Wrong    []string `json:"wrong"`
	Strength string   `json:"strength"`
	Firebase *struct {
		SignerKey     string `json:"signerKey"`
		SaltSeparator string `json:"saltSeparator"`
		Rounds        int    `json:"rounds"`
		MemCost       int    `json:"memCost"`
	} `json:"firebase"`
}

// hashVectors reads the named vectors.
func hashVectors(t *testing.T, names ...string) []hashVector {
	t.Helper()
	files, err := filepath.Glob("customer/passwordhash/testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	byName := map[string]hashVector{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var vs []hashVector
		if err := json.Unmarshal(b, &vs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range vs {
			byName[v.Name] = v
		}
	}
	out := make([]hashVector, 0, len(names))
	for _, n := range names {
		v, ok := byName[n]
		if !ok {
			t.Fatalf("no vector %q", n)
		}
		out = append(out, v)
	}
	return out
}

// upgradeVectors: one vector of every format of CONTRACT.md §6 made by the platform's tool,
// plus a weak one (upgraded by default) and a legacy digest.
var upgradeVectors = []string{ // the dearest last: failures wait for the dearest seen (failureFloor)
	"legacy-magento1-md5",              // a legacy digest the import let in
	"magento2-sha256",                  // magento2 SHA-256: weak, upgraded under the default setting
	"aspnet-identity-v3-sha256-250000", // aspnet-identity (Microsoft's own test vector)
	"phc-pbkdf2-sha256-150000",         // pbkdf2 PHC (npm @phc/pbkdf2)
	"django-pbkdf2_sha256",             // django (Django make_password)
	"bcrypt-2b-cost10",                 // bcrypt (Python bcrypt)
	"php-bcrypt-2y-cost10",             // bcrypt $2y$ (PHP password_hash)
	"passlib-scrypt-ln14",              // scrypt PHC (passlib)
	"firebase-scrypt-readme",           // firebase-scrypt (Firebase's README)
	"magento2-argon2id13",              // magento2 argon2id13 (PHP, Magento's calls)
	"php-argon2id-default",             // argon2 (PHP password_hash)
}

// importCustomer stores a customer with an imported hash, as the import writes it.
func importCustomer(t *testing.T, e *env, email string, v hashVector) *customer.Account {
	t.Helper()
	a := &customer.Account{Tenant: testTenant, Email: email, Active: true, EmailVerified: true, FirstName: "Imported",
		PasswordHash: v.Hash, PasswordFormat: v.Format, PasswordSalt: v.Salt, HasExternalPassword: true, MigrationRequired: true}
	if err := e.srv.Store().CreateAccount(context.Background(), a); err != nil {
		t.Fatalf("import %s: %v", email, err)
	}
	return a
}

// useFirebaseProject sets the tenant's import.firebase.* settings of a vector.
func useFirebaseProject(t *testing.T, e *env, v hashVector) {
	t.Helper()
	if v.Firebase == nil {
		return
	}
	setTenant(t, e, "import.firebase.signer_key", v.Firebase.SignerKey, "import.firebase.salt_separator", v.Firebase.SaltSeparator,
		"import.firebase.rounds", fmt.Sprint(v.Firebase.Rounds), "import.firebase.mem_cost", fmt.Sprint(v.Firebase.MemCost))
}

// stored reads an account as stored.
func stored(t *testing.T, e *env, email string) *customer.Account {
	t.Helper()
	a, err := e.srv.Store().GetAccountByEmail(context.Background(), testTenant, email)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// eventsOf counts a customer's audit events of a kind and returns the newest one.
func eventsOf(t *testing.T, e *env, id int64, kind string) (int, *identity.SecurityEvent) {
	t.Helper()
	evs, err := e.srv.Customers.Events(context.Background(), testTenant, &id, 200)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var newest *identity.SecurityEvent
	for _, ev := range evs {
		if ev.Kind == kind {
			if n == 0 {
				newest = ev
			}
			n++
		}
	}
	return n, newest
}

// wantUpgraded checks that the account holds argon2id now, its flags are clear, and one
// password.upgraded event names the old format.
func wantUpgraded(t *testing.T, e *env, email string, v hashVector) {
	t.Helper()
	a := stored(t, e, email)
	if a.PasswordFormat != customer.PasswordFormatCustodian || !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$") || a.PasswordSalt != "" ||
		a.HasExternalPassword || a.MigrationRequired || a.ForeignPassword() {
		t.Errorf("%s: not upgraded: format %q hash %.20q salt %q flags %v %v", v.Name, a.PasswordFormat, a.PasswordHash, a.PasswordSalt,
			a.HasExternalPassword, a.MigrationRequired)
	}
	n, ev := eventsOf(t, e, a.ID, customer.EventPasswordUpgraded)
	if n != 1 || ev.Detail["from"] != v.Format || ev.Detail["scheme"] == "" {
		t.Errorf("%s: %d password.upgraded events, newest %+v", v.Name, n, ev)
	}
}

// wantForeign checks that the account still holds the imported hash.
func wantForeign(t *testing.T, e *env, email string, v hashVector) {
	t.Helper()
	a := stored(t, e, email)
	if a.PasswordFormat != v.Format || a.PasswordHash != v.Hash || !a.HasExternalPassword || !a.MigrationRequired {
		t.Errorf("%s: imported hash changed: format %q flags %v %v", v.Name, a.PasswordFormat, a.HasExternalPassword, a.MigrationRequired)
	}
}

func ticketSignIn(t *testing.T, e *env, app, email, password string) ticketReply {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": email, "password": password})
	return ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets", string(body),
		"x-vol-tenant", testTenant, "Authorization", "Bearer "+app)
}

// TestImportedHashUpgradeOnSignIn: for every format, through the ticket API and the login
// API, a wrong password fails (counted, nothing upgraded), the right one signs in and
// upgrades the hash (flags cleared, one event), and the next sign-in uses argon2id.
func TestImportedHashUpgradeOnSignIn(t *testing.T) {
	vectors := hashVectors(t, upgradeVectors...)
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.clock.Advance(0)
			for _, v := range vectors {
				useFirebaseProject(t, e, v)
			}
			app := appToken(t, e, backendID, backendSec)
			for _, v := range vectors {
				e.clock.Advance(time.Minute) // a new rate-limit window per format
				tEmail, lEmail := "t-"+v.Name+"@import.example", "l-"+v.Name+"@import.example"
				importCustomer(t, e, tEmail, v)
				importCustomer(t, e, lEmail, v)

				// Ticket API.
				if got := ticketSignIn(t, e, app, tEmail, v.Wrong[0]); got.status != http.StatusUnauthorized || got.body["errorCode"] != "UNAUTHORIZED" {
					t.Errorf("%s: wrong password at the ticket API: %d %s", v.Name, got.status, got.raw)
				}
				wantForeign(t, e, tEmail, v)
				if n, ev := eventsOf(t, e, stored(t, e, tEmail).ID, identity.EventLoginFailed); n != 1 || ev.Detail["reason"] != "wrong_password" {
					t.Errorf("%s: wrong password recorded %d times: %+v", v.Name, n, ev)
				}
				got := ticketSignIn(t, e, app, tEmail, v.Password)
				if got.status != http.StatusOK {
					t.Fatalf("%s (%s): first sign-in at the ticket API: %d %s", v.Name, v.Tool, got.status, got.raw)
				}
				ca, _ := got.body["customerAccount"].(map[string]any)
				if ca["hasExternalPassword"] != false || ca["migrationRequired"] != false {
					t.Errorf("%s: ticket customerAccount after the upgrade: %v", v.Name, ca)
				}
				wantUpgraded(t, e, tEmail, v)
				if got := ticketSignIn(t, e, app, tEmail, v.Password); got.status != http.StatusOK {
					t.Errorf("%s: second sign-in (argon2id) at the ticket API: %d %s", v.Name, got.status, got.raw)
				}
				if got := ticketSignIn(t, e, app, tEmail, v.Wrong[0]); got.status != http.StatusUnauthorized {
					t.Errorf("%s: wrong password after the upgrade: %d %s", v.Name, got.status, got.raw)
				}
				if n, _ := eventsOf(t, e, stored(t, e, tEmail).ID, customer.EventPasswordUpgraded); n != 1 {
					t.Errorf("%s: %d upgrade events after the second sign-in", v.Name, n)
				}

				// Login API.
				anon := anonymousLogin(t, e)["access_token"].(string)
				if got := loginWith(t, e, anon, lEmail, v.Wrong[0]); got.status != http.StatusUnauthorized || got.body["type"] != "unauthorized" {
					t.Errorf("%s: wrong password at the login API: %d %s", v.Name, got.status, got.raw)
				}
				wantForeign(t, e, lEmail, v)
				if got := loginWith(t, e, anon, lEmail, v.Password); got.status != http.StatusOK || got.body["access_token"] == nil {
					t.Fatalf("%s (%s): first sign-in at the login API: %d %s", v.Name, v.Tool, got.status, got.raw)
				}
				wantUpgraded(t, e, lEmail, v)
				if got := loginWith(t, e, anon, lEmail, v.Password); got.status != http.StatusOK {
					t.Errorf("%s: second sign-in (argon2id) at the login API: %d %s", v.Name, got.status, got.raw)
				}
			}
		})
	}
}

// TestImportedHashConcurrentFirstSignIns: shoppers who press the button several times
// sign in every time, and the hash is upgraded exactly once.
func TestImportedHashConcurrentFirstSignIns(t *testing.T) {
	v := hashVectors(t, "bcrypt-2b-cost10")[0]
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			email := "race@import.example"
			a := importCustomer(t, e, email, v)
			app := appToken(t, e, backendID, backendSec)
			const n = 6
			var wg sync.WaitGroup
			statuses := make(chan int, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses <- ticketSignIn(t, e, app, email, v.Password).status
				}()
			}
			wg.Wait()
			close(statuses)
			for s := range statuses {
				if s != http.StatusOK {
					t.Errorf("a concurrent first sign-in answered %d", s)
				}
			}
			wantUpgraded(t, e, email, v)
			if got, _ := eventsOf(t, e, a.ID, identity.EventLoginSucceeded); got != n {
				t.Errorf("%d sign-ins recorded, want %d", got, n)
			}
		})
	}
}

// TestWeakImportedHashReset: under import.weak_hash_action reset, the right password
// against a weak imported hash does not sign in: a reset mail goes out and each API says
// so in its own shape; a wrong one is a wrong password like any other; the reset sets an
// argon2id password that signs in. A strong imported hash still upgrades.
func TestWeakImportedHashReset(t *testing.T) {
	vs := hashVectors(t, "legacy-magento1-md5", "bcrypt-2b-cost4", "bcrypt-2b-cost10")
	legacy, weakBcrypt, strong := vs[0], vs[1], vs[2]
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			e.clock.Advance(0)
			setTenant(t, e, "import.weak_hash_action", "reset")
			app := appToken(t, e, backendID, backendSec)

			// Ticket API, legacy digest.
			email := "md5@import.example"
			a := importCustomer(t, e, email, legacy)
			if got := ticketSignIn(t, e, app, email, legacy.Wrong[0]); got.status != http.StatusUnauthorized || got.body["errorCode"] != "UNAUTHORIZED" {
				t.Errorf("wrong password: %d %s", got.status, got.raw)
			}
			before := len(smtp.Messages())
			got := ticketSignIn(t, e, app, email, legacy.Password)
			wantTicketError(t, "weak hash at the ticket API", got, http.StatusForbidden, "PASSWORD_RESET_REQUIRED")
			if got.body["accessToken"] != nil {
				t.Errorf("tokens for a weak hash: %s", got.raw)
			}
			wantForeign(t, e, email, legacy)
			if n, ev := eventsOf(t, e, a.ID, customer.EventPasswordResetRequired); n != 1 || ev.Detail["format"] != legacy.Format {
				t.Errorf("%d reset_required events: %+v", n, ev)
			}
			if n, _ := eventsOf(t, e, a.ID, identity.EventLoginSucceeded); n != 0 {
				t.Errorf("a weak hash signed in %d times", n)
			}
			if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			token := mailedToken(t, e, smtp, email, before)
			anon := anonymousLogin(t, e)["access_token"].(string)
			if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/password/reset/update",
				`{"token":"`+token+`","password":"a brand new passphrase"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
				t.Fatalf("reset: %d %s", r.status, r.raw)
			}
			if a := stored(t, e, email); a.ForeignPassword() || a.HasExternalPassword || a.MigrationRequired {
				t.Errorf("after the reset: format %q flags %v %v", a.PasswordFormat, a.HasExternalPassword, a.MigrationRequired)
			}
			if got := ticketSignIn(t, e, app, email, "a brand new passphrase"); got.status != http.StatusOK {
				t.Errorf("sign-in after the reset: %d %s", got.status, got.raw)
			}
			if got := ticketSignIn(t, e, app, email, legacy.Password); got.status != http.StatusUnauthorized {
				t.Errorf("the old password after the reset: %d %s", got.status, got.raw)
			}

			// Login API, bcrypt below cost 10.
			email = "bcrypt4@import.example"
			importCustomer(t, e, email, weakBcrypt)
			if got := loginWith(t, e, anon, email, weakBcrypt.Wrong[0]); got.status != http.StatusUnauthorized || got.body["type"] != "unauthorized" {
				t.Errorf("wrong password at the login API: %d %s", got.status, got.raw)
			}
			before = len(smtp.Messages())
			r := loginWith(t, e, anon, email, weakBcrypt.Password)
			wantLoginError(t, "weak hash at the login API", r, http.StatusForbidden, "forbidden", "password")
			if !strings.Contains(r.raw, "reset_required") || r.body["access_token"] != nil {
				t.Errorf("weak hash at the login API: %s", r.raw)
			}
			if mailedToken(t, e, smtp, email, before) == "" {
				t.Error("no reset mail")
			}
			wantForeign(t, e, email, weakBcrypt)

			// A strong imported hash is upgraded under the same setting.
			email = "bcrypt10@import.example"
			importCustomer(t, e, email, strong)
			if got := ticketSignIn(t, e, app, email, strong.Password); got.status != http.StatusOK {
				t.Fatalf("strong hash under reset: %d %s", got.status, got.raw)
			}
			wantUpgraded(t, e, email, strong)
		})
	}
}

// TestImportedHashHostedPageAndPasswordGrant: the login page and the password grant
// upgrade too; a weak hash under reset reads as such on the page and in the grant.
func TestImportedHashHostedPageAndPasswordGrant(t *testing.T) {
	vs := hashVectors(t, "django-pbkdf2_sha256", "aspnet-identity-v3-sha256-250000", "legacy-sha1-salt-field")
	page, grant, weak := vs[0], vs[1], vs[2]
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			ctx := context.Background()

			// The hosted login page: a wrong password reads as one, the right one signs in.
			email := "page@import.example"
			importCustomer(t, e, email, page)
			if status, body := tokenRequestPassword(t, e, email, page.Wrong[0]); status != http.StatusUnauthorized ||
				!strings.Contains(body, "e-mail address or password is wrong") {
				t.Errorf("wrong password on the page: %d", status)
			}
			wantForeign(t, e, email, page)
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			conf := spaConfig(e, provider)
			verifier := oauth2.GenerateVerifier()
			code := authorize(t, browser(t), conf, verifier, "state-import", "nonce-import", email, page.Password)
			if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
				t.Fatalf("exchange: %v", err)
			}
			wantUpgraded(t, e, email, page)

			// The password grant of a first-party client.
			setTenant(t, e, "grants.password", "true", "grants.allowed", "authorization_code,refresh_token,client_credentials,password,"+identity.GrantAnonymous)
			const kioskSecret = "kiosk-secret-0123456789-0123456789-abc"
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: "kiosk", FirstParty: true,
				GrantTypes: []string{identity.GrantPassword}}, kioskSecret); err != nil {
				t.Fatal(err)
			}
			email = "grant@import.example"
			importCustomer(t, e, email, grant)
			grantWith := func(email, password string) (int, map[string]any) {
				return tokenRequest(t, e, url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}}, "kiosk", kioskSecret)
			}
			if status, body := grantWith(email, grant.Wrong[0]); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Errorf("wrong password at the grant: %d %v", status, body)
			}
			wantForeign(t, e, email, grant)
			if status, body := grantWith(email, grant.Password); status != http.StatusOK || body["access_token"] == nil {
				t.Fatalf("password grant: %d %v", status, body)
			}
			wantUpgraded(t, e, email, grant)

			// A weak hash under reset: the page and the grant say a reset is due.
			setTenant(t, e, "import.weak_hash_action", "reset")
			email = "sha1@import.example"
			importCustomer(t, e, email, weak)
			if status, body := tokenRequestPassword(t, e, email, weak.Password); status != http.StatusForbidden ||
				!strings.Contains(body, "password must be reset") {
				t.Errorf("weak hash on the page: %d", status)
			}
			if status, body := grantWith(email, weak.Password); status != http.StatusBadRequest || body["error"] != "invalid_grant" ||
				!strings.Contains(fmt.Sprint(body["error_description"]), "reset") {
				t.Errorf("weak hash at the grant: %d %v", status, body)
			}
			wantForeign(t, e, email, weak)
		})
	}
}

// TestImportedFirebaseHashNeedsTheProject: a firebase-scrypt hash without the tenant's
// project parameters cannot be verified; the shopper is answered like a wrong password
// (nothing tells the hash apart) and nothing changes.
func TestImportedFirebaseHashNeedsTheProject(t *testing.T) {
	v := hashVectors(t, "firebase-scrypt-readme")[0]
	e := newEnv(t, storagetest.Backends(t)[0])
	email := "fb@import.example"
	importCustomer(t, e, email, v)
	app := appToken(t, e, backendID, backendSec)
	if got := ticketSignIn(t, e, app, email, v.Password); got.status != http.StatusUnauthorized || got.body["errorCode"] != "UNAUTHORIZED" {
		t.Errorf("without the project: %d %s", got.status, got.raw)
	}
	wantForeign(t, e, email, v)
	useFirebaseProject(t, e, v)
	if got := ticketSignIn(t, e, app, email, v.Password); got.status != http.StatusOK {
		t.Fatalf("with the project: %d %s", got.status, got.raw)
	}
	wantUpgraded(t, e, email, v)
	// The signer key is stored sealed and read back as REDACTED.
	tn, err := e.srv.OAuth.GetTenant(context.Background(), testTenant)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tn.Settings.Get("import.firebase.signer_key"); got != "REDACTED" || tn.Settings.FirebaseSignerKey.Sealed == nil {
		t.Errorf("signer key stored as %q (sealed %v)", got, tn.Settings.FirebaseSignerKey.Sealed != nil)
	}
}
