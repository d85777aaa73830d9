package login

// Who may call the self-service routes. One table, keyed by route name (routes.go),
// applied by meCaller wherever a signed-in customer's token is authenticated, so a
// route cannot be reached without its rule: a route that calls meCaller and has no
// rule answers 500, and a test walks every registered /customer/{tenant}/me… route.
//
// Decisions this file makes:
//
//   - The scopes are three names of the seed's customer role (oauth.CustomerScopes),
//     with the meaning they have there: customer.customerprofile_view reads the profile
//     and address book, customer.customerprofile_edit changes them, and
//     customer.customer_manage_own manages the account's security settings (second
//     factors, devices, password, e-mail address, linked sign-ins, export, erasure).
//     Tokens of the ticket and login APIs carry the whole role already, so
//     validateauthtoken answers the same scope list as before.
//   - A first-party client holds every customer scope: its tokens pass the scope check
//     whatever they were granted (the client is looked up at each call, so turning
//     first-party off takes effect at once).
//   - Security settings also need a first-party token: a token a third-party client got
//     through the consent page (oauth.Session.ThirdParty) is refused whatever its scopes.
//   - A refusal is 403 forbidden naming the scope, with an RFC 6750 insufficient_scope
//     challenge.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// meRule is what a self-service route asks of the caller's token.
type meRule struct {
	// scope the token must carry (first-party clients hold every customer scope).
	scope string
	// firstParty: a security setting, refused to third-party tokens whatever their scopes.
	firstParty bool
	// credential names what authenticates a route that does not take the customer's
	// token (meCaller refuses it); such a route has no scope.
	credential string
}

var (
	readProfile    = meRule{scope: oauth.ScopeProfileView}
	editProfile    = meRule{scope: oauth.ScopeProfileEdit}
	accountSetting = meRule{scope: oauth.ScopeAccountManage, firstParty: true}
)

// meRules maps every self-service route (by its name in routes.go) to its rule.
var meRules = map[string]meRule{
	"me.get":              readProfile,
	"me.addresses.list":   readProfile,
	"me.addresses.get":    readProfile,
	"me.patch":            editProfile,
	"me.addresses.create": editProfile,
	"me.addresses.patch":  editProfile,
	"me.addresses.delete": editProfile,
	"me.addresses.tags":   editProfile,
	"me.delete":           accountSetting,
	"me.export":           accountSetting,
	"me.accounts.unlink":  accountSetting,
	"me.devices":          accountSetting,
	"me.devices.delete":   accountSetting,
	"me.2fa":              accountSetting,
	"me.2fa.set":          accountSetting,
	"me.2fa.totp.start":   accountSetting,
	"me.2fa.totp.confirm": accountSetting,
	"me.2fa.totp.remove":  accountSetting,
	"me.2fa.recovery":     accountSetting,
	"password.change":     accountSetting,
	"email.change":        accountSetting,
	// The mailed token is the credential: the new address may be confirmed on another
	// device, with the storefront's anonymous token.
	"email.change.confirm": {credential: "the token mailed to the new address"},
}

// authorizeMe applies the route's rule to the token of a signed-in customer.
func (a *API) authorizeMe(ctx context.Context, r *http.Request, info *oauth.AccessInfo) error {
	name := routeName(r)
	rule, ok := meRules[name]
	if !ok || rule.scope == "" {
		return fmt.Errorf("self-service route %q has no token rule in meRules", name)
	}
	if rule.firstParty && info.ThirdParty {
		return insufficientScope(rule.scope, "this is a security setting: it needs a first-party token, and this one was issued to a "+
			"third-party client (the scope "+rule.scope+" is not enough)")
	}
	if slices.Contains(info.Scopes, rule.scope) {
		return nil
	}
	c, err := a.oauth.GetClient(ctx, info.Tenant, info.ClientID)
	switch {
	case err == nil && c.FirstParty:
		return nil
	case err != nil && !errors.Is(err, identity.ErrNotFound):
		return fmt.Errorf("load the token's client: %w", err)
	}
	return insufficientScope(rule.scope, "the token lacks the scope "+rule.scope)
}

// insufficientScope is the 403 of a token that may not call a route (RFC 6750 §3.1).
func insufficientScope(scope, message string) *loginError {
	return &loginError{status: http.StatusForbidden, typ: typeForbidden, message: message,
		challenge: `Bearer error="insufficient_scope", scope="` + scope + `"`}
}
