package login

// Second factors in the customer login API: completing a login that awaits its second
// factor, trusted devices, the authenticator app and recovery codes, and the "this was
// not me" link of new-device mails.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/twofactor"
)

// secondFactorBody answers a challenge (login/2fa).
type secondFactorBody struct {
	ChallengeID    string `json:"challengeId"`
	Code           string `json:"code"`
	Method         string `json:"method"`
	RememberDevice bool   `json:"rememberDevice"`
}

// login2FA completes a login that awaits its second factor, called with the same
// storefront anonymous token as the login: POST /customer/{tenant}/login/2fa.
func (a *API) login2FA(w http.ResponseWriter, r *http.Request) {
	t, ctx, err := a.loginTenant(r, pathVar(r, "tenant"))
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	anon, err := a.anonymousCaller(ctx, r)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	var in secondFactorBody
	if err := decodeLoginJSON(w, r, &in); err != nil {
		a.loginFail(w, r, err)
		return
	}
	v := &identity.Validator{}
	v.Required("challengeId", in.ChallengeID)
	v.Required("code", in.Code)
	v.MaxLen("code", in.Code, 64)
	if err := v.Err(); err != nil {
		a.loginFail(w, r, err)
		return
	}
	client, err := a.tokenClient(ctx, t.Name, anon.ClientID)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	res, err := a.svc.CompleteSecondFactor(ctx, t, customer.SecondFactor{ChallengeID: in.ChallengeID, ClientID: client.ID, Method: in.Method,
		Code: in.Code, RememberDevice: in.RememberDevice})
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	legal := res.Payload[payloadLegalEntity]
	if err := a.checkLegalEntity(ctx, t, res.Account.ID, legal); err != nil {
		a.loginFail(w, r, err)
		return
	}
	a.writeCustomerTokens(ctx, w, r, t, client, res, anon.SessionID, legal)
}

// login2FAResend sends a new e-mailed code: POST /customer/{tenant}/login/2fa/resend.
func (a *API) login2FAResend(w http.ResponseWriter, r *http.Request) {
	t, ctx, err := a.loginTenant(r, pathVar(r, "tenant"))
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	anon, err := a.anonymousCaller(ctx, r)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	var in struct {
		ChallengeID string `json:"challengeId"`
	}
	if err := decodeLoginJSON(w, r, &in); err != nil {
		a.loginFail(w, r, err)
		return
	}
	if in.ChallengeID == "" {
		a.loginFail(w, r, missingParam("challengeId"))
		return
	}
	info, err := a.svc.ResendCode(ctx, t, in.ChallengeID, anon.ClientID)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	writeLoginJSON(w, http.StatusOK, pendingView{Requires2FA: true, TwoFactorChallenge: info})
}

// meJSON authenticates a signed-in customer (meCaller) and decodes the JSON body into v
// (decodeLoginJSON, default media type application/json).
func (a *API) meJSON(w http.ResponseWriter, r *http.Request, v any, mediaTypes ...string) (*identity.Tenant, context.Context, int64, error) {
	t, ctx, id, err := a.meCaller(r)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := decodeLoginJSON(w, r, v, mediaTypes...); err != nil {
		return nil, nil, 0, err
	}
	return t, ctx, id, nil
}

// meCaller authenticates a signed-in customer by their access token, which must pass
// the route's rule (meRules).
func (a *API) meCaller(r *http.Request) (*identity.Tenant, context.Context, int64, error) {
	t, ctx, err := a.loginTenant(r, pathVar(r, "tenant"))
	if err != nil {
		return nil, nil, 0, err
	}
	info, err := a.bearerInfo(ctx, r)
	if err != nil {
		return nil, nil, 0, err
	}
	id, perr := strconv.ParseInt(info.Subject, 10, 64)
	if info.Anonymous || perr != nil {
		return nil, nil, 0, tokenRequired("this call needs a customer's access token", nil)
	}
	if err := a.authorizeMe(ctx, r, info); err != nil {
		return nil, nil, 0, err
	}
	acc, err := a.svc.Get(ctx, t.Name, id)
	if errors.Is(err, customer.ErrNotFound) {
		return nil, nil, 0, tokenRequired("the customer no longer exists", nil)
	}
	if err != nil {
		return nil, nil, 0, err
	}
	if !acc.Active || acc.OnHold {
		return nil, nil, 0, tokenRequired("the customer is not active", nil)
	}
	return t, customer.WithClient(ctx, info.ClientID), id, nil
}

// deviceView is a device in /me/devices. The fingerprint itself is never stored.
type deviceView struct {
	ID           string     `json:"id"`
	Region       string     `json:"region"`
	UserAgent    string     `json:"userAgent"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastSeenAt   time.Time  `json:"lastSeenAt"`
	Trusted      bool       `json:"trusted"`
	TrustedUntil *time.Time `json:"trustedUntil,omitempty"`
}

// meDevices lists the devices the customer signed in from:
// GET /customer/{tenant}/me/devices.
func (a *API) meDevices(w http.ResponseWriter, r *http.Request) {
	t, ctx, id, err := a.meCaller(r)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	ds, err := a.svc.Devices(ctx, t.Name, id)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	now := a.now()
	out := make([]deviceView, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceViewOf(d, now))
	}
	writeLoginJSON(w, http.StatusOK, out)
}

func deviceViewOf(d twofactor.Device, now time.Time) deviceView {
	v := deviceView{ID: d.ID, Region: d.Region, UserAgent: d.UserAgent, CreatedAt: d.CreatedAt, LastSeenAt: d.LastSeenAt,
		Trusted: d.TrustedAt(now)}
	if v.Trusted {
		v.TrustedUntil = d.TrustedUntil
	}
	return v
}

// meDeviceDelete forgets a device and revokes the tokens issued on it:
// DELETE /customer/{tenant}/me/devices/{deviceId}.
func (a *API) meDeviceDelete(w http.ResponseWriter, r *http.Request) {
	t, ctx, id, err := a.meCaller(r)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	if err := a.svc.ForgetDevice(ctx, t.Name, id, pathVar(r, "deviceId")); err != nil {
		a.loginFail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// twoFactorView is the customer's second-factor setup.
type twoFactorView struct {
	Enabled                bool       `json:"enabled"`
	Methods                []string   `json:"methods"`
	TOTP                   bool       `json:"totp"`
	TOTPPending            bool       `json:"totpPending"`
	RecoveryCodesRemaining int        `json:"recoveryCodesRemaining"`
	Last2FaDate            *time.Time `json:"last2FaDate"`
}

// meTwoFactor shows the setup: GET /customer/{tenant}/me/2fa.
func (a *API) meTwoFactor(w http.ResponseWriter, r *http.Request) {
	t, ctx, id, err := a.meCaller(r)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	a.writeTwoFactor(ctx, w, r, t, id)
}

func (a *API) writeTwoFactor(ctx context.Context, w http.ResponseWriter, r *http.Request, t *identity.Tenant, id int64) {
	st, err := a.svc.TwoFactor(ctx, t.Name, id)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	writeLoginJSON(w, http.StatusOK, twoFactorView{Enabled: st.OptedIn, Methods: st.Methods(), TOTP: st.TOTP, TOTPPending: st.TOTPPending,
		RecoveryCodesRemaining: st.RecoveryRemaining, Last2FaDate: st.Last2FA})
}

// meTwoFactorSet opts in to (or out of) e-mailed codes on new devices and regions:
// PUT /customer/{tenant}/me/2fa {enabled, password}; turning it off needs the password.
func (a *API) meTwoFactorSet(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Enabled  *bool  `json:"enabled"`
		Password string `json:"password"`
	}
	t, ctx, id, err := a.meJSON(w, r, &in)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	if in.Enabled == nil {
		a.loginFail(w, r, missingParam("enabled"))
		return
	}
	if !*in.Enabled && in.Password == "" {
		a.loginFail(w, r, missingParam("password"))
		return
	}
	if err := a.svc.SetTwoFactorOptIn(ctx, t, id, *in.Enabled, in.Password); err != nil {
		a.loginFail(w, r, err)
		return
	}
	a.writeTwoFactor(ctx, w, r, t, id)
}

// totpEnrollmentView is a started authenticator-app enrollment.
type totpEnrollmentView struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauthUri"`
	QRCodePNG  string `json:"qrCodePng"`
}

// totpStart starts an authenticator-app enrollment: POST /customer/{tenant}/me/2fa/totp.
func (a *API) totpStart(w http.ResponseWriter, r *http.Request) {
	t, ctx, id, err := a.meCaller(r)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	e, err := a.svc.StartTOTP(ctx, t, id)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	writeLoginJSON(w, http.StatusOK, totpEnrollmentView{Secret: e.Secret, OTPAuthURI: e.OTPAuthURI,
		QRCodePNG: base64.StdEncoding.EncodeToString(e.QRCodePNG)})
}

type recoveryCodesView struct {
	RecoveryCodes []string `json:"recoveryCodes"`
}

type codeBody struct {
	Code     string `json:"code"`
	Password string `json:"password,omitempty"`
}

// meCode authenticates the signed-in customer and reads a {code[, password]} body.
func (a *API) meCode(w http.ResponseWriter, r *http.Request, needPassword bool) (*identity.Tenant, context.Context, int64, codeBody, error) {
	var in codeBody
	t, ctx, id, err := a.meJSON(w, r, &in)
	if err != nil {
		return nil, nil, 0, in, err
	}
	v := &identity.Validator{}
	v.Required("code", in.Code)
	v.MaxLen("code", in.Code, 64)
	if needPassword {
		v.Required("password", in.Password)
	}
	return t, ctx, id, in, v.Err()
}

// totpConfirm confirms the enrollment with a first code and answers the recovery
// codes, shown this once: POST /customer/{tenant}/me/2fa/totp/confirm.
func (a *API) totpConfirm(w http.ResponseWriter, r *http.Request) {
	a.recoveryCodes(w, r, a.svc.ConfirmTOTP)
}

// recoveryCodes answers the recovery codes fn issues for a code the caller sends.
func (a *API) recoveryCodes(w http.ResponseWriter, r *http.Request,
	fn func(ctx context.Context, t *identity.Tenant, id int64, code string) ([]string, error)) {
	t, ctx, id, in, err := a.meCode(w, r, false)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	codes, err := fn(ctx, t, id, in.Code)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	writeLoginJSON(w, http.StatusOK, recoveryCodesView{RecoveryCodes: codes})
}

// totpRemove removes the authenticator app with the password and a current code:
// DELETE /customer/{tenant}/me/2fa/totp.
func (a *API) totpRemove(w http.ResponseWriter, r *http.Request) {
	t, ctx, id, in, err := a.meCode(w, r, true)
	if err != nil {
		a.loginFail(w, r, err)
		return
	}
	if err := a.svc.RemoveTOTP(ctx, t, id, in.Password, in.Code); err != nil {
		a.loginFail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// recoveryRegenerate replaces the recovery codes, with a current authenticator code:
// POST /customer/{tenant}/me/2fa/recovery-codes.
func (a *API) recoveryRegenerate(w http.ResponseWriter, r *http.Request) {
	a.recoveryCodes(w, r, a.svc.RegenerateRecoveryCodes)
}

// notMeAsk is the link of a new-device mail: GET /customer/{tenant}/security/not-me/{token}.
// It only asks: a mail scanner that opens the link changes nothing and leaves the token
// unused. The page's form posts back to the same address (notMe).
func (a *API) notMeAsk(w http.ResponseWriter, r *http.Request) {
	t, ctx, err := a.loginTenant(r, pathVar(r, "tenant"))
	if err != nil {
		a.notice(w, http.StatusNotFound, "Link not valid", "This link is not valid.", "")
		return
	}
	if !a.notMeUsable(ctx, w, a.svc.CheckNotMe(ctx, t, pathVar(r, "token"))) {
		return
	}
	// The CSRF cookie is scoped to the links' directory, wherever a host mounts them.
	csrf, err := a.oauth.FormCSRF(w, r, t.Name, path.Dir(r.URL.Path)+"/")
	if err != nil {
		a.notMeUsable(ctx, w, err)
		return
	}
	oauth.SetPageHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	if err := a.pages.ExecuteTemplate(w, "notme.html", struct{ Title, Action, CSRF string }{"Was this not you?", r.URL.RequestURI(), csrf}); err != nil {
		a.log.ErrorContext(ctx, "render not-me page", "err", err)
	}
}

// notMe acts on the confirmed link: every session, token and trusted device of the
// account ends. POST /customer/{tenant}/security/not-me/{token} (form, csrf_token).
func (a *API) notMe(w http.ResponseWriter, r *http.Request) {
	t, ctx, err := a.loginTenant(r, pathVar(r, "tenant"))
	if err != nil {
		a.notice(w, http.StatusNotFound, "Link not valid", "This link is not valid.", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, loginMaxBody)
	if err := r.ParseForm(); err != nil {
		a.notice(w, http.StatusBadRequest, "Please try again", "The form could not be read. Please open the link in the e-mail again.", "")
		return
	}
	if !a.oauth.CheckFormCSRF(r, t.Name) {
		a.notice(w, http.StatusForbidden, "Please try again", "This form has expired. Please open the link in the e-mail again.", "")
		return
	}
	if !a.notMeUsable(ctx, w, a.svc.NotMe(ctx, t, pathVar(r, "token"))) {
		return
	}
	a.notice(w, http.StatusOK, "Your account is safe again", "",
		"Every session of your account has been signed out and every trusted device forgotten. "+
			"Please sign in again and change your password.")
}

// notMeUsable answers the page of a failed not-me step and reports whether err is nil.
func (a *API) notMeUsable(ctx context.Context, w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, customer.ErrInvalidToken):
		a.notice(w, http.StatusBadRequest, "Link not valid", "This link has expired or was already used.", "")
	default:
		a.log.ErrorContext(ctx, "not-me link", "err", fmt.Errorf("not me: %w", err))
		a.notice(w, http.StatusInternalServerError, "Something went wrong", "Please try again later.", "")
	}
	return false
}

// notice answers a small HTML page.
func (a *API) notice(w http.ResponseWriter, status int, title, errMsg, msg string) {
	oauth.SetPageHeaders(w.Header())
	w.WriteHeader(status)
	if err := a.pages.ExecuteTemplate(w, "notice.html", struct{ Title, Error, Notice string }{title, errMsg, msg}); err != nil {
		a.log.Error("render notice", "err", err)
	}
}
