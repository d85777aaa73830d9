package login

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/identity"
)

// Register mounts the public routes of the customer login API (CONTRACT.md §3).
func (a *API) Register(r *mux.Router) {
	loginGuard := api.Dialect(a.fail).Guard(a.maxBody, a.log)

	anon := r.PathPrefix("/customerlogin/auth/anonymous").Subrouter()
	anon.Use(loginGuard)
	anon.Handle("/login", a.handleQuery(a.anonLogin)).Methods(http.MethodGet).Name("login.anonymous")
	anon.Handle("/refresh", a.handleQuery(a.anonRefresh)).Methods(http.MethodGet).Name("login.anonymous.refresh")

	c := r.PathPrefix("/customer/{tenant:" + identity.TenantPattern + "}").Subrouter()
	c.Use(loginGuard)
	c.Handle("/signup", a.handleAnon(a.signup)).Methods(http.MethodPost).Name("login.signup")
	c.Handle("/signup/optin/refresh_token", a.handle(a.optinResend)).Methods(http.MethodPost).Name("login.optin.resend")
	c.Handle("/signup/optin/{token}", a.handle(a.optinConfirm)).Methods(http.MethodGet).Name("login.optin.confirm")
	c.Handle("/login", a.handleAnon(a.login)).Methods(http.MethodPost).Name("login.login")
	c.Handle("/login/2fa", a.handleAnon(a.login2FA)).Methods(http.MethodPost).Name("login.2fa")
	c.Handle("/login/2fa/resend", a.handleAnon(a.login2FAResend)).Methods(http.MethodPost).Name("login.2fa.resend")
	c.Handle("/socialLogin", a.handle(a.socialLogin)).Methods(http.MethodPost).Name("login.social")
	c.Handle("/exchangeauthtoken", a.handleAnon(a.exchangeAuthToken)).Methods(http.MethodPost).Name("login.exchange")
	c.Handle("/me/accounts/{providerId}", a.handleMe(a.meUnlink)).Methods(http.MethodDelete).Name("me.accounts.unlink")
	c.Handle("/me", a.handleMe(a.meGet)).Methods(http.MethodGet).Name("me.get")
	c.Handle("/me", a.handleMe(a.mePatch)).Methods(http.MethodPatch).Name("me.patch")
	c.Handle("/me", a.handleMe(a.meDelete)).Methods(http.MethodDelete).Name("me.delete")
	c.Handle("/me/export", a.handleMe(a.meExport)).Methods(http.MethodGet).Name("me.export")
	c.Handle("/me/addresses", a.handleMe(a.addressesList)).Methods(http.MethodGet).Name("me.addresses.list")
	c.Handle("/me/addresses", a.handleMe(a.addressCreate)).Methods(http.MethodPost).Name("me.addresses.create")
	c.Handle("/me/addresses/{addressId}", a.handleMe(a.addressGet)).Methods(http.MethodGet).Name("me.addresses.get")
	c.Handle("/me/addresses/{addressId}", a.handleMe(a.addressPatch)).Methods(http.MethodPatch).Name("me.addresses.patch")
	c.Handle("/me/addresses/{addressId}", a.handleMe(a.addressDelete)).Methods(http.MethodDelete).Name("me.addresses.delete")
	c.Handle("/me/addresses/{addressId}/tags", a.handleMe(a.addressTags)).Methods(http.MethodPost, http.MethodDelete).Name("me.addresses.tags")
	c.Handle("/password/reset", a.handleAnon(a.passwordReset)).Methods(http.MethodPost).Name("password.reset")
	c.Handle("/password/reset/update", a.handleAnon(a.passwordResetUpdate)).Methods(http.MethodPost).Name("password.reset.update")
	c.Handle("/password/change", a.handleMe(a.passwordChange)).Methods(http.MethodPost).Name("password.change")
	c.Handle("/me/accounts/internal/email/change", a.handleMe(a.emailChange)).Methods(http.MethodPost).Name("email.change")
	c.Handle("/me/accounts/internal/email/change/confirm", a.handle(a.emailChangeConfirm)).Methods(http.MethodPost).Name("email.change.confirm")
	c.Handle("/me/devices", a.handleMe(a.meDevices)).Methods(http.MethodGet).Name("me.devices")
	c.Handle("/me/devices/{deviceId}", a.handleMe(a.meDeviceDelete)).Methods(http.MethodDelete).Name("me.devices.delete")
	c.Handle("/me/2fa", a.handleMe(a.meTwoFactor)).Methods(http.MethodGet).Name("me.2fa")
	c.Handle("/me/2fa", a.handleMe(a.meTwoFactorSet)).Methods(http.MethodPut).Name("me.2fa.set")
	c.Handle("/me/2fa/totp", a.handleMe(a.totpStart)).Methods(http.MethodPost).Name("me.2fa.totp.start")
	c.Handle("/me/2fa/totp/confirm", a.handleMe(a.totpConfirm)).Methods(http.MethodPost).Name("me.2fa.totp.confirm")
	c.Handle("/me/2fa/totp", a.handleMe(a.totpRemove)).Methods(http.MethodDelete).Name("me.2fa.totp.remove")
	c.Handle("/me/2fa/recovery-codes", a.handleMe(a.recoveryRegenerate)).Methods(http.MethodPost).Name("me.2fa.recovery")
	c.HandleFunc("/security/not-me/{token}", a.notMeAsk).Methods(http.MethodGet).Name("security.notme")
	c.HandleFunc("/security/not-me/{token}", a.notMe).Methods(http.MethodPost).Name("security.notme.confirm")
	c.Handle("/refreshauthtoken", a.handle(a.refreshAuth)).Methods(http.MethodGet).Name("login.refresh")
	c.Handle("/validateauthtoken", a.handle(a.validateAuth)).Methods(http.MethodGet).Name("login.validate")
	c.Handle("/logout", a.handle(a.logout)).Methods(http.MethodGet).Name("login.logout")
}

// RegisterAdmin mounts the login API's routes that need the admin credential (admin
// guards them) on the admin listener's router.
func (a *API) RegisterAdmin(r *mux.Router, admin func(http.Handler) http.Handler) {
	c := r.PathPrefix("/customer/{tenant:" + identity.TenantPattern + "}").Subrouter()
	c.Use(api.Dialect(a.fail).Guard(a.maxBody, a.log))
	c.Handle("/customers/{customerNumber:[0-9]+}", admin(a.handle(a.adminSetStatus))).Methods(http.MethodPatch).Name("login.admin.status")
}

// pathVar reads a path variable of the matched route.
func pathVar(r *http.Request, name string) string { return mux.Vars(r)[name] }

// routeName is the name of the matched route, or "".
func routeName(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		return rt.GetName()
	}
	return ""
}

// routeOf names the matched route by its template: paths can carry single-use tokens
// (opt-in, "not me"), which must not reach the logs.
func routeOf(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		if tpl, err := rt.GetPathTemplate(); err == nil {
			return tpl
		}
	}
	return "unmatched"
}
