package login

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/identity"
)

// Register mounts every route of the customer login API (CONTRACT.md §3). admin
// guards the routes that need the admin credential.
func (a *API) Register(r *mux.Router, admin func(http.Handler) http.Handler) {
	loginGuard := api.Dialect(a.loginFail).Guard(a.maxBody, a.log)

	anon := r.PathPrefix("/customerlogin/auth/anonymous").Subrouter()
	anon.Use(loginGuard)
	anon.HandleFunc("/login", a.anonLogin).Methods(http.MethodGet).Name("login.anonymous")
	anon.HandleFunc("/refresh", a.anonRefresh).Methods(http.MethodGet).Name("login.anonymous.refresh")

	c := r.PathPrefix("/customer/{tenant:" + identity.TenantNamePattern + "}").Subrouter()
	c.Use(loginGuard)
	c.HandleFunc("/signup", a.signup).Methods(http.MethodPost).Name("login.signup")
	c.HandleFunc("/signup/optin/refresh_token", a.optinResend).Methods(http.MethodPost).Name("login.optin.resend")
	c.HandleFunc("/signup/optin/{token}", a.optinConfirm).Methods(http.MethodGet).Name("login.optin.confirm")
	c.HandleFunc("/login", a.login).Methods(http.MethodPost).Name("login.login")
	c.HandleFunc("/login/2fa", a.login2FA).Methods(http.MethodPost).Name("login.2fa")
	c.HandleFunc("/login/2fa/resend", a.login2FAResend).Methods(http.MethodPost).Name("login.2fa.resend")
	c.HandleFunc("/socialLogin", a.socialLogin).Methods(http.MethodPost).Name("login.social")
	c.HandleFunc("/exchangeauthtoken", a.exchangeAuthToken).Methods(http.MethodPost).Name("login.exchange")
	c.HandleFunc("/me/accounts/{providerId}", a.meUnlink).Methods(http.MethodDelete).Name("me.accounts.unlink")
	c.HandleFunc("/me", a.meGet).Methods(http.MethodGet).Name("me.get")
	c.HandleFunc("/me", a.mePatch).Methods(http.MethodPatch).Name("me.patch")
	c.HandleFunc("/me", a.meDelete).Methods(http.MethodDelete).Name("me.delete")
	c.HandleFunc("/me/export", a.meExport).Methods(http.MethodGet).Name("me.export")
	c.HandleFunc("/me/addresses", a.addressesList).Methods(http.MethodGet).Name("me.addresses.list")
	c.HandleFunc("/me/addresses", a.addressCreate).Methods(http.MethodPost).Name("me.addresses.create")
	c.HandleFunc("/me/addresses/{addressId}", a.addressGet).Methods(http.MethodGet).Name("me.addresses.get")
	c.HandleFunc("/me/addresses/{addressId}", a.addressPatch).Methods(http.MethodPatch).Name("me.addresses.patch")
	c.HandleFunc("/me/addresses/{addressId}", a.addressDelete).Methods(http.MethodDelete).Name("me.addresses.delete")
	c.HandleFunc("/me/addresses/{addressId}/tags", a.addressTags).Methods(http.MethodPost, http.MethodDelete).Name("me.addresses.tags")
	c.HandleFunc("/password/reset", a.passwordReset).Methods(http.MethodPost).Name("password.reset")
	c.HandleFunc("/password/reset/update", a.passwordResetUpdate).Methods(http.MethodPost).Name("password.reset.update")
	c.HandleFunc("/password/change", a.passwordChange).Methods(http.MethodPost).Name("password.change")
	c.HandleFunc("/me/accounts/internal/email/change", a.emailChange).Methods(http.MethodPost).Name("email.change")
	c.HandleFunc("/me/accounts/internal/email/change/confirm", a.emailChangeConfirm).Methods(http.MethodPost).Name("email.change.confirm")
	c.HandleFunc("/me/devices", a.meDevices).Methods(http.MethodGet).Name("me.devices")
	c.HandleFunc("/me/devices/{deviceId}", a.meDeviceDelete).Methods(http.MethodDelete).Name("me.devices.delete")
	c.HandleFunc("/me/2fa", a.meTwoFactor).Methods(http.MethodGet).Name("me.2fa")
	c.HandleFunc("/me/2fa", a.meTwoFactorSet).Methods(http.MethodPut).Name("me.2fa.set")
	c.HandleFunc("/me/2fa/totp", a.totpStart).Methods(http.MethodPost).Name("me.2fa.totp.start")
	c.HandleFunc("/me/2fa/totp/confirm", a.totpConfirm).Methods(http.MethodPost).Name("me.2fa.totp.confirm")
	c.HandleFunc("/me/2fa/totp", a.totpRemove).Methods(http.MethodDelete).Name("me.2fa.totp.remove")
	c.HandleFunc("/me/2fa/recovery-codes", a.recoveryRegenerate).Methods(http.MethodPost).Name("me.2fa.recovery")
	c.HandleFunc("/security/not-me/{token}", a.notMeAsk).Methods(http.MethodGet).Name("security.notme")
	c.HandleFunc("/security/not-me/{token}", a.notMe).Methods(http.MethodPost).Name("security.notme.confirm")
	c.HandleFunc("/refreshauthtoken", a.refreshAuth).Methods(http.MethodGet).Name("login.refresh")
	c.HandleFunc("/validateauthtoken", a.validateAuth).Methods(http.MethodGet).Name("login.validate")
	c.HandleFunc("/logout", a.logout).Methods(http.MethodGet).Name("login.logout")
	c.Handle("/customers/{customerNumber:[0-9]+}", admin(http.HandlerFunc(a.adminSetStatus))).Methods(http.MethodPatch).Name("login.admin.status")
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
