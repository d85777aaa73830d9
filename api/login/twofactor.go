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

// login2FA completes a login that awaits its second factor, called with the same
// storefront anonymous token as the login: POST /customer/{tenant}/login/2fa.
func (a *API) login2FA(w http.ResponseWriter, r *http.Request, c *call) error {
	t, ctx := c.tenant, c.ctx
	anon := c.anon
	var in secondFactorBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	v := &identity.Validator{}
	v.Required("challengeId", in.ChallengeID)
	v.Required("code", in.Code)
	v.MaxLen("code", in.Code, 64)
	if err := v.Err(); err != nil {
		return err
	}
	client, err := a.tokenClient(ctx, t.Name, anon.ClientID)
	if err != nil {
		return err
	}
	res, err := a.svc.CompleteSecondFactor(ctx, t, customer.SecondFactor{ChallengeID: in.ChallengeID, ClientID: client.ID, Method: in.Method,
		Code: in.Code, RememberDevice: in.RememberDevice})
	if err != nil {
		return err
	}
	legal := res.Payload[payloadLegalEntity]
	if err := a.svc.RequireMember(ctx, t.Name, res.Account.ID, legal); err != nil {
		return err
	}
	return a.writeCustomerTokens(w, c, client, res, anon.SessionID, legal)
}

// login2FAResend sends a new e-mailed code: POST /customer/{tenant}/login/2fa/resend.
func (a *API) login2FAResend(w http.ResponseWriter, r *http.Request, c *call) error {
	t, ctx := c.tenant, c.ctx
	anon := c.anon
	var in struct {
		ChallengeID string `json:"challengeId"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.ChallengeID == "" {
		return missingParam("challengeId")
	}
	info, err := a.svc.ResendCode(ctx, t, in.ChallengeID, anon.ClientID)
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
	t, ctx, id := c.tenant, c.ctx, c.id
	ds, err := a.svc.Devices(ctx, t.Name, id)
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
	t, ctx, id := c.tenant, c.ctx, c.id
	if err := a.svc.ForgetDevice(ctx, t.Name, id, pathVar(r, "deviceId")); err != nil {
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
	t, ctx, id := c.tenant, c.ctx, c.id
	if in.Enabled == nil {
		return missingParam("enabled")
	}
	if !*in.Enabled && in.Password == "" {
		return missingParam("password")
	}
	if err := a.svc.SetTwoFactorOptIn(ctx, t, id, *in.Enabled, in.Password); err != nil {
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
	t, ctx, id := c.tenant, c.ctx, c.id
	e, err := a.svc.StartTOTP(ctx, t, id)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, totpEnrollmentView{Secret: e.Secret, OTPAuthURI: e.OTPAuthURI,
		QRCodePNG: base64.StdEncoding.EncodeToString(e.QRCodePNG)})
}

type recoveryCodesView struct {
	RecoveryCodes []string `json:"recoveryCodes"`
}

type codeBody struct {
	Code     string `json:"code"`
	Password string `json:"password,omitempty"`
}

// codeRequest reads a {code[, password]} body of a signed-in customer.
func codeRequest(w http.ResponseWriter, r *http.Request, needPassword bool) (codeBody, error) {
	var in codeBody
	if err := decode(w, r, &in); err != nil {
		return in, err
	}
	v := &identity.Validator{}
	v.Required("code", in.Code)
	v.MaxLen("code", in.Code, 64)
	if needPassword {
		v.Required("password", in.Password)
	}
	return in, v.Err()
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
