package login

// Second factors in the customer login API: completing a login that awaits its second
// factor, trusted devices, the authenticator app and recovery codes, and the "this was
// not me" link of new-device mails.

import (
	"context"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// secondFactorBody answers a challenge (login/2fa).
type secondFactorBody struct {
	ChallengeID    string `json:"challengeId"`
	Code           string `json:"code"`
	Method         string `json:"method"`
	RememberDevice bool   `json:"rememberDevice"`
}

func (b *secondFactorBody) check(v *identity.Validator) {
	v.Required("challengeId", b.ChallengeID)
	v.Required("code", b.Code)
	v.MaxLen("code", b.Code, 64)
}

// login2FA completes a login that awaits its second factor, called with the same
// storefront anonymous token as the login: POST /customer/{tenant}/login/2fa.
func (a *API) login2FA(w http.ResponseWriter, r *http.Request, c *call) error {
	var in secondFactorBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	client, err := a.tokenClient(c.ctx, c.tenant.Name, c.anon.ClientID)
	if err != nil {
		return err
	}
	res, err := a.svc.CompleteSecondFactor(c.ctx, c.tenant, customer.SecondFactor{ChallengeID: in.ChallengeID, ClientID: client.ID, Method: in.Method,
		Code: in.Code, RememberDevice: in.RememberDevice})
	if err != nil {
		return err
	}
	legal := res.Payload[payloadLegalEntity]
	if err := a.svc.RequireMember(c.ctx, c.tenant.Name, res.Account.ID, legal); err != nil {
		return err
	}
	return a.writeCustomerTokens(w, c, client, res, c.anon.SessionID, legal)
}

// login2FAResend sends a new e-mailed code: POST /customer/{tenant}/login/2fa/resend.
func (a *API) login2FAResend(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		ChallengeID string `json:"challengeId"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.ChallengeID == "" {
		return missingParam("challengeId")
	}
	info, err := a.svc.ResendCode(c.ctx, c.tenant, in.ChallengeID, c.anon.ClientID)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, pendingView{Requires2FA: true, TwoFactorChallenge: info})
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
func (a *API) meDevices(w http.ResponseWriter, r *http.Request, c *call) error {
	ds, err := a.svc.Devices(c.ctx, c.tenant.Name, c.id)
	if err != nil {
		return err
	}
	now := a.now()
	out := make([]deviceView, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceViewOf(d, now))
	}
	return reply(w, http.StatusOK, out)
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
func (a *API) meDeviceDelete(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.svc.ForgetDevice(c.ctx, c.tenant.Name, c.id, pathVar(r, "deviceId")); err != nil {
		return err
	}
	return noContent(w)
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
func (a *API) meTwoFactor(w http.ResponseWriter, _ *http.Request, c *call) error {
	return a.writeTwoFactor(w, c)
}

// writeTwoFactor answers the caller's second-factor setup.
func (a *API) writeTwoFactor(w http.ResponseWriter, c *call) error {
	st, err := a.svc.TwoFactor(c.ctx, c.tenant.Name, c.id)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, twoFactorView{Enabled: st.OptedIn, Methods: st.Methods(), TOTP: st.TOTP, TOTPPending: st.TOTPPending,
		RecoveryCodesRemaining: st.RecoveryRemaining, Last2FaDate: st.Last2FA})
}

// meTwoFactorSet opts in to (or out of) e-mailed codes on new devices and regions:
// PUT /customer/{tenant}/me/2fa {enabled, password}; turning it off needs the password.
func (a *API) meTwoFactorSet(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Enabled  *bool  `json:"enabled"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Enabled == nil {
		return missingParam("enabled")
	}
	if !*in.Enabled && in.Password == "" {
		return missingParam("password")
	}
	if err := a.svc.SetTwoFactorOptIn(c.ctx, c.tenant, c.id, *in.Enabled, in.Password); err != nil {
		return err
	}
	return a.writeTwoFactor(w, c)
}

// totpEnrollmentView is a started authenticator-app enrollment.
type totpEnrollmentView struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauthUri"`
	QRCodePNG  string `json:"qrCodePng"`
}

// totpStart starts an authenticator-app enrollment: POST /customer/{tenant}/me/2fa/totp.
func (a *API) totpStart(w http.ResponseWriter, r *http.Request, c *call) error {
	e, err := a.svc.StartTOTP(c.ctx, c.tenant, c.id)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, totpEnrollmentView{Secret: e.Secret, OTPAuthURI: e.OTPAuthURI,
		QRCodePNG: base64.StdEncoding.EncodeToString(e.QRCodePNG)})
}

type recoveryCodesView struct {
	RecoveryCodes []string `json:"recoveryCodes"`
}

// codeBody is {code[, password]}: a current authenticator code, and the password for
// what needs it too.
type codeBody struct {
	Code         string `json:"code"`
	Password     string `json:"password,omitempty"`
	needPassword bool
}

func (b *codeBody) check(v *identity.Validator) {
	v.Required("code", b.Code)
	v.MaxLen("code", b.Code, 64)
	if b.needPassword {
		v.Required("password", b.Password)
	}
}

// codeRequest reads a {code[, password]} body of a signed-in customer.
func codeRequest(w http.ResponseWriter, r *http.Request, needPassword bool) (codeBody, error) {
	in := codeBody{needPassword: needPassword}
	err := decode(w, r, &in)
	return in, err
}

// totpConfirm confirms the enrollment with a first code and answers the recovery
// codes, shown this once: POST /customer/{tenant}/me/2fa/totp/confirm.
func (a *API) totpConfirm(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.recoveryCodes(w, r, c, a.svc.ConfirmTOTP)
}

// recoveryCodes answers the recovery codes fn issues for a code the caller sends.
func (a *API) recoveryCodes(w http.ResponseWriter, r *http.Request, c *call,
	fn func(ctx context.Context, t *identity.Tenant, id int64, code string) ([]string, error)) error {
	in, err := codeRequest(w, r, false)
	if err != nil {
		return err
	}
	codes, err := fn(c.ctx, c.tenant, c.id, in.Code)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, recoveryCodesView{RecoveryCodes: codes})
}

// totpRemove removes the authenticator app with the password and a current code:
// DELETE /customer/{tenant}/me/2fa/totp.
func (a *API) totpRemove(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := codeRequest(w, r, true)
	if err != nil {
		return err
	}
	if err := a.svc.RemoveTOTP(c.ctx, c.tenant, c.id, in.Password, in.Code); err != nil {
		return err
	}
	return noContent(w)
}

// recoveryRegenerate replaces the recovery codes, with a current authenticator code:
// POST /customer/{tenant}/me/2fa/recovery-codes.
func (a *API) recoveryRegenerate(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.recoveryCodes(w, r, c, a.svc.RegenerateRecoveryCodes)
}
