package login

// The self-service routes of the customer login API (CONTRACT.md §3): profile, address
// book, credentials, export and erasure. The profile answers the seed's shape.
//
// Decisions this file makes:
//
//   - PATCH /me takes application/json and application/merge-patch+json alike, with
//     RFC 7396 semantics: an absent field stays, null clears it, mixins merge key by
//     key. The profile's read-only fields (id, customerNumber, accounts, businessModel,
//     lastLogin, addresses, defaultAddress, b2b.legalEntities, metadata.mixins) are
//     accepted and ignored, so a GET-modify-PATCH round trip works; any other field is
//     a 400. metadata.version, when sent, must be the stored version (409 otherwise);
//     the write itself is conditional on the version read, so two racing PATCHes never
//     both win.
//   - PATCH /me/addresses/{id} is a partial update too (absent fields stay).
//   - password/reset and reset/update are called with the storefront's anonymous token,
//     as in the seed; e-mail change confirmation with any token of the tenant (the
//     mailed token is the credential).

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
)

type accountRefView struct {
	ID         string `json:"id"`
	ProviderID string `json:"providerId"`
}

type legalEntityView struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	ContactAssignmentID string `json:"contactAssignmentId,omitempty"`
}

type b2bView struct {
	CompanyRegistrationID string            `json:"companyRegistrationId"`
	LegalEntities         []legalEntityView `json:"legalEntities"`
}

type metadataView struct {
	Version int             `json:"version"`
	Mixins  json.RawMessage `json:"mixins"`
}

// addressView is an address of the seed.
type addressView struct {
	ID             string   `json:"id"`
	ContactName    string   `json:"contactName"`
	CompanyName    string   `json:"companyName"`
	Street         string   `json:"street"`
	StreetNumber   string   `json:"streetNumber"`
	StreetAppendix string   `json:"streetAppendix"`
	ExtraLine1     string   `json:"extraLine1"`
	ExtraLine2     string   `json:"extraLine2"`
	ExtraLine3     string   `json:"extraLine3"`
	ExtraLine4     string   `json:"extraLine4"`
	ZipCode        string   `json:"zipCode"`
	City           string   `json:"city"`
	Country        string   `json:"country"`
	State          string   `json:"state"`
	ContactPhone   string   `json:"contactPhone"`
	Tags           []string `json:"tags"`
	IsDefault      bool     `json:"isDefault"`
}

func addressViewOf(a customer.Address) addressView {
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	return addressView{ID: a.ID, ContactName: a.ContactName, CompanyName: a.CompanyName, Street: a.Street, StreetNumber: a.StreetNumber,
		StreetAppendix: a.StreetAppendix, ExtraLine1: a.ExtraLine1, ExtraLine2: a.ExtraLine2, ExtraLine3: a.ExtraLine3,
		ExtraLine4: a.ExtraLine4, ZipCode: a.ZipCode, City: a.City, Country: a.Country, State: a.State, ContactPhone: a.ContactPhone,
		Tags: tags, IsDefault: a.IsDefault}
}

// profileView is the seed's customer profile.
type profileView struct {
	ID                string           `json:"id"`
	CustomerNumber    string           `json:"customerNumber"`
	Title             string           `json:"title"`
	FirstName         string           `json:"firstName"`
	MiddleName        string           `json:"middleName"`
	LastName          string           `json:"lastName"`
	ContactEmail      string           `json:"contactEmail"`
	ContactPhone      string           `json:"contactPhone"`
	Company           string           `json:"company"`
	PreferredLanguage string           `json:"preferredLanguage"`
	PreferredCurrency string           `json:"preferredCurrency"`
	PreferredSite     string           `json:"preferredSite"`
	Accounts          []accountRefView `json:"accounts"`
	BusinessModel     string           `json:"businessModel"`
	B2B               *b2bView         `json:"b2b,omitempty"`
	Mixins            json.RawMessage  `json:"mixins"`
	Metadata          metadataView     `json:"metadata"`
	LastLogin         *time.Time       `json:"lastLogin"`
	Addresses         []addressView    `json:"addresses,omitempty"`
	DefaultAddress    *addressView     `json:"defaultAddress,omitempty"`
}

func profileOf(t *identity.Tenant, a *customer.Account, addresses []customer.Address, withAddresses bool) profileView {
	accounts := []accountRefView{}
	if a.PasswordHash != "" {
		accounts = append(accounts, accountRefView{ID: a.Email, ProviderID: "internal"})
	}
	for _, l := range a.Identities {
		id := l.Email
		if id == "" {
			id = l.Subject
		}
		accounts = append(accounts, accountRefView{ID: id, ProviderID: l.ConnectorID})
	}
	n := strconv.FormatInt(a.ID, 10)
	v := profileView{ID: n, CustomerNumber: n, Title: a.Title, FirstName: a.FirstName, MiddleName: a.MiddleName, LastName: a.LastName,
		ContactEmail: a.ContactEmail, ContactPhone: a.ContactPhone, Company: a.Company, PreferredLanguage: a.PreferredLanguage,
		PreferredCurrency: a.PreferredCurrency, PreferredSite: a.PreferredSite,
		Accounts:      accounts,
		BusinessModel: a.AccountType(t.Settings), Mixins: api.RawJSON(a.Mixins, "{}"),
		Metadata: metadataView{Version: a.Version, Mixins: json.RawMessage("{}")}, LastLogin: a.LastLoginAt}
	// The shopper's own company registration id is shown back even while it does not
	// make the account B2B: businessModel alone says what the account is.
	if v.BusinessModel == "B2B" || a.CompanyRegistrationID != "" {
		v.B2B = &b2bView{CompanyRegistrationID: a.CompanyRegistrationID, LegalEntities: []legalEntityView{}}
		for _, m := range a.Memberships {
			v.B2B.LegalEntities = append(v.B2B.LegalEntities, legalEntityView{ID: m.AccountID, Name: m.Name, ContactAssignmentID: m.ContactAssignmentID})
		}
	}
	if withAddresses {
		v.Addresses = make([]addressView, 0, len(addresses))
		for _, ad := range addresses {
			av := addressViewOf(ad)
			v.Addresses = append(v.Addresses, av)
			if ad.IsDefault {
				v.DefaultAddress = &av
			}
		}
	}
	return v
}

// meGet answers the profile: GET /customer/{tenant}/me[?expand=addresses,mixin:*].
func (a *API) meGet(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.writeProfile(w, r, c, c.acc)
}

// writeProfile answers the caller's profile: of acc, the account the preamble read
// moments ago, or when acc is nil (after a change) of the account read afresh.
func (a *API) writeProfile(w http.ResponseWriter, r *http.Request, c *call, acc *customer.Account) error {
	if acc == nil {
		var err error
		if acc, err = a.svc.Get(c.ctx, c.tenant.Name, c.id); err != nil {
			return err
		}
	}
	withAddresses := false
	for _, e := range strings.Split(r.URL.Query().Get("expand"), ",") {
		if strings.TrimSpace(e) == "addresses" {
			withAddresses = true
		}
	}
	if err := a.svc.WithProfile(c.ctx, c.tenant.Name, acc, withAddresses); err != nil {
		return err
	}
	return reply(w, http.StatusOK, profileOf(c.tenant, acc, acc.Addresses, withAddresses))
}

// profilePatchBody is PATCH /me. Every field is raw so that null (clear) and absent
// (keep) differ and a wrong type names its field.
type profilePatchBody struct {
	Title             json.RawMessage `json:"title"`
	FirstName         json.RawMessage `json:"firstName"`
	MiddleName        json.RawMessage `json:"middleName"`
	LastName          json.RawMessage `json:"lastName"`
	ContactEmail      json.RawMessage `json:"contactEmail"`
	ContactPhone      json.RawMessage `json:"contactPhone"`
	Company           json.RawMessage `json:"company"`
	PreferredLanguage json.RawMessage `json:"preferredLanguage"`
	PreferredCurrency json.RawMessage `json:"preferredCurrency"`
	PreferredSite     json.RawMessage `json:"preferredSite"`
	B2B               *struct {
		CompanyRegistrationID json.RawMessage `json:"companyRegistrationId"`
		LegalEntities         json.RawMessage `json:"legalEntities"` // read-only
	} `json:"b2b"`
	Mixins   json.RawMessage `json:"mixins"`
	Metadata *struct {
		Version json.RawMessage `json:"version"`
		Mixins  json.RawMessage `json:"mixins"` // read-only
	} `json:"metadata"`
	// Read-only fields of the profile, accepted and ignored.
	ID             json.RawMessage `json:"id"`
	CustomerNumber json.RawMessage `json:"customerNumber"`
	Accounts       json.RawMessage `json:"accounts"`
	BusinessModel  json.RawMessage `json:"businessModel"`
	LastLogin      json.RawMessage `json:"lastLogin"`
	Addresses      json.RawMessage `json:"addresses"`
	DefaultAddress json.RawMessage `json:"defaultAddress"`
}

// optString reads a raw field: nil when absent, "" when null, the string otherwise.
func optString(v *identity.Validator, field string, raw json.RawMessage) *string {
	if raw == nil {
		return nil
	}
	var s string
	if string(raw) == "null" {
		return &s
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		v.Add(field, "invalid", "must be a string")
		return nil
	}
	return &s
}

func (b *profilePatchBody) patch() (customer.ProfilePatch, error) {
	v := &identity.Validator{}
	p := customer.ProfilePatch{
		Title: optString(v, "title", b.Title), FirstName: optString(v, "firstName", b.FirstName),
		MiddleName: optString(v, "middleName", b.MiddleName), LastName: optString(v, "lastName", b.LastName),
		ContactEmail: optString(v, "contactEmail", b.ContactEmail), ContactPhone: optString(v, "contactPhone", b.ContactPhone),
		Company: optString(v, "company", b.Company), PreferredLanguage: optString(v, "preferredLanguage", b.PreferredLanguage),
		PreferredCurrency: optString(v, "preferredCurrency", b.PreferredCurrency), PreferredSite: optString(v, "preferredSite", b.PreferredSite),
	}
	if b.B2B != nil {
		p.CompanyRegistrationID = optString(v, "b2b.companyRegistrationId", b.B2B.CompanyRegistrationID)
	}
	if b.Mixins != nil {
		if string(b.Mixins) == "null" {
			p.Mixins = json.RawMessage(`null`)
		} else if !isObject(b.Mixins) {
			v.Add("mixins", "invalid", "must be an object")
		} else {
			p.Mixins = b.Mixins
		}
	}
	if b.Metadata != nil && b.Metadata.Version != nil && string(b.Metadata.Version) != "null" {
		var n int
		if err := json.Unmarshal(b.Metadata.Version, &n); err != nil || n < 1 {
			v.Add("metadata.version", "invalid", "must be a positive whole number")
		} else {
			p.Version = &n
		}
	}
	return p, v.Err()
}

// mePatch updates the profile: PATCH /customer/{tenant}/me.
func (a *API) mePatch(w http.ResponseWriter, r *http.Request, c *call) error {
	var body profilePatchBody
	if err := decode(w, r, &body, "application/json", "application/merge-patch+json"); err != nil {
		return err
	}
	p, err := body.patch()
	if err != nil {
		return err
	}
	if _, err := a.svc.UpdateProfile(c.ctx, c.tenant, c.id, p); err != nil {
		return err
	}
	return a.writeProfile(w, r, c, nil)
}

// addressBody is an address in a request; pointers tell absent from given.
type addressBody struct {
	ContactName    *string   `json:"contactName"`
	CompanyName    *string   `json:"companyName"`
	Street         *string   `json:"street"`
	StreetNumber   *string   `json:"streetNumber"`
	StreetAppendix *string   `json:"streetAppendix"`
	ExtraLine1     *string   `json:"extraLine1"`
	ExtraLine2     *string   `json:"extraLine2"`
	ExtraLine3     *string   `json:"extraLine3"`
	ExtraLine4     *string   `json:"extraLine4"`
	ZipCode        *string   `json:"zipCode"`
	City           *string   `json:"city"`
	Country        *string   `json:"country"`
	State          *string   `json:"state"`
	ContactPhone   *string   `json:"contactPhone"`
	Tags           *[]string `json:"tags"`
	IsDefault      *bool     `json:"isDefault"`
	ID             *string   `json:"id"` // read-only, ignored
}

// apply writes the given fields onto an address.
func (b *addressBody) apply(a *customer.Address) {
	for _, f := range []struct {
		src *string
		dst *string
	}{{b.ContactName, &a.ContactName}, {b.CompanyName, &a.CompanyName}, {b.Street, &a.Street}, {b.StreetNumber, &a.StreetNumber},
		{b.StreetAppendix, &a.StreetAppendix}, {b.ExtraLine1, &a.ExtraLine1}, {b.ExtraLine2, &a.ExtraLine2}, {b.ExtraLine3, &a.ExtraLine3},
		{b.ExtraLine4, &a.ExtraLine4}, {b.ZipCode, &a.ZipCode}, {b.City, &a.City}, {b.Country, &a.Country}, {b.State, &a.State},
		{b.ContactPhone, &a.ContactPhone}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if b.Tags != nil {
		a.Tags = *b.Tags
	}
	if b.IsDefault != nil {
		a.IsDefault = *b.IsDefault
	}
}

// addressesList: GET /customer/{tenant}/me/addresses.
func (a *API) addressesList(w http.ResponseWriter, r *http.Request, c *call) error {
	list, err := a.svc.Addresses(c.ctx, c.tenant.Name, c.id)
	if err != nil {
		return err
	}
	out := make([]addressView, 0, len(list))
	for _, ad := range list {
		out = append(out, addressViewOf(ad))
	}
	return reply(w, http.StatusOK, out)
}

// addressCreate: POST /customer/{tenant}/me/addresses → 201 {id}.
func (a *API) addressCreate(w http.ResponseWriter, r *http.Request, c *call) error {
	var body addressBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	var ad customer.Address
	body.apply(&ad)
	if err := a.svc.AddAddress(c.ctx, c.tenant.Name, c.id, &ad); err != nil {
		return err
	}
	return reply(w, http.StatusCreated, map[string]string{"id": ad.ID})
}

// addressGet: GET /customer/{tenant}/me/addresses/{addressId}.
func (a *API) addressGet(w http.ResponseWriter, r *http.Request, c *call) error {
	ad, err := a.svc.Address(c.ctx, c.tenant.Name, c.id, pathVar(r, "addressId"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, addressViewOf(*ad))
}

// addressPatch: PATCH /customer/{tenant}/me/addresses/{addressId} → the address.
func (a *API) addressPatch(w http.ResponseWriter, r *http.Request, c *call) error {
	var body addressBody
	if err := decode(w, r, &body, "application/json", "application/merge-patch+json"); err != nil {
		return err
	}
	ad, err := a.svc.Address(c.ctx, c.tenant.Name, c.id, pathVar(r, "addressId"))
	if err != nil {
		return err
	}
	wasDefault := ad.IsDefault
	body.apply(ad)
	if err := a.svc.UpdateAddress(c.ctx, c.tenant.Name, c.id, ad, wasDefault); err != nil {
		return err
	}
	if ad, err = a.svc.Address(c.ctx, c.tenant.Name, c.id, ad.ID); err != nil {
		return err
	}
	return reply(w, http.StatusOK, addressViewOf(*ad))
}

// addressDelete: DELETE /customer/{tenant}/me/addresses/{addressId} → 204.
func (a *API) addressDelete(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.svc.DeleteAddress(c.ctx, c.tenant.Name, c.id, pathVar(r, "addressId")); err != nil {
		return err
	}
	return noContent(w)
}

// addressTags adds (POST) or removes (DELETE) tags: /me/addresses/{addressId}/tags?tags=A,B → 204.
func (a *API) addressTags(w http.ResponseWriter, r *http.Request, c *call) error {
	var tags []string
	for _, v := range r.URL.Query()["tags"] {
		for _, tag := range strings.Split(v, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				tags = append(tags, tag)
			}
		}
	}
	if len(tags) == 0 {
		return missingParam("tags")
	}
	if err := a.svc.TagAddress(c.ctx, c.tenant.Name, c.id, pathVar(r, "addressId"), tags, r.Method == http.MethodDelete); err != nil {
		return err
	}
	return noContent(w)
}

// resetBody is password/reset/update.
type resetBody struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (b *resetBody) check(v *identity.Validator) {
	v.Required("token", b.Token)
	v.Required("password", b.Password)
}

// passwordChangeBody is password/change.
type passwordChangeBody struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

func (b *passwordChangeBody) check(v *identity.Validator) {
	v.Required("currentPassword", b.CurrentPassword)
	v.Required("newPassword", b.NewPassword)
}

// emailChangeBody is me/accounts/internal/email/change.
type emailChangeBody struct {
	Email            string `json:"email"`
	Password         string `json:"password"`
	NewEmail         string `json:"newEmail"`
	SyncContactEmail bool   `json:"syncContactEmail"`
}

func (b *emailChangeBody) check(v *identity.Validator) {
	v.Required("email", strings.TrimSpace(b.Email))
	v.Required("password", b.Password)
	v.Required("newEmail", strings.TrimSpace(b.NewEmail))
}

// passwordReset: POST /customer/{tenant}/password/reset {email, site} → 204 whether or
// not the address has an account.
func (a *API) passwordReset(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Email string `json:"email"`
		Site  string `json:"site"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Email) == "" {
		return missingParam("email")
	}
	if err := a.svc.RequestPasswordReset(c.ctx, c.tenant, in.Email, in.Site); err != nil {
		return err
	}
	return noContent(w)
}

// passwordResetUpdate: POST /customer/{tenant}/password/reset/update {token, password} → 204.
func (a *API) passwordResetUpdate(w http.ResponseWriter, r *http.Request, c *call) error {
	var in resetBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := a.svc.ResetPassword(c.ctx, c.tenant, in.Token, in.Password); err != nil {
		return err
	}
	return noContent(w)
}

// passwordChange: POST /customer/{tenant}/password/change {currentPassword, newPassword}
// → 204; the customer's other sessions end.
func (a *API) passwordChange(w http.ResponseWriter, r *http.Request, c *call) error {
	var in passwordChangeBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	// The caller's own shopper session stays signed in.
	if err := a.svc.ChangePassword(c.ctx, c.tenant, c.id, c.token.SessionID, in.CurrentPassword, in.NewPassword); err != nil {
		return err
	}
	return noContent(w)
}

// emailChange: POST /customer/{tenant}/me/accounts/internal/email/change → 204.
func (a *API) emailChange(w http.ResponseWriter, r *http.Request, c *call) error {
	var in emailChangeBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := a.svc.RequestEmailChange(c.ctx, c.tenant, c.id, in.Email, in.Password, in.NewEmail, in.SyncContactEmail); err != nil {
		return err
	}
	return noContent(w)
}

// emailChangeConfirm: POST /customer/{tenant}/me/accounts/internal/email/change/confirm {token} → 204.
func (a *API) emailChangeConfirm(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := a.bearerInfo(c.ctx, r); err != nil {
		return err
	}
	var in struct {
		Token string `json:"token"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Token == "" {
		return missingParam("token")
	}
	if err := a.svc.ConfirmEmailChange(c.ctx, c.tenant, in.Token); err != nil {
		return err
	}
	return noContent(w)
}

// exportView is everything Custodian holds about the customer.
type exportView struct {
	ExportedAt time.Time      `json:"exportedAt"`
	Profile    profileView    `json:"profile"`
	Login      map[string]any `json:"login"`
	Addresses  []addressView  `json:"addresses"`
	Devices    []deviceView   `json:"devices"`
	TwoFactor  twoFactorView  `json:"twoFactor"`
	Events     []eventView    `json:"securityEvents"`
}

type eventView struct {
	Kind      string         `json:"kind"`
	ClientID  string         `json:"clientId,omitempty"`
	IP        string         `json:"ip,omitempty"`
	UserAgent string         `json:"userAgent,omitempty"`
	Detail    map[string]any `json:"detail,omitempty"`
	CreatedAt time.Time      `json:"createdAt"`
}

// meExport: GET /customer/{tenant}/me/export.
func (a *API) meExport(w http.ResponseWriter, r *http.Request, c *call) error {
	x, err := a.svc.Export(c.ctx, c.tenant.Name, c.id)
	if err != nil {
		return err
	}
	acc := x.Account
	out := exportView{ExportedAt: a.now().UTC(), Profile: profileOf(c.tenant, acc, x.Addresses, true),
		Login: map[string]any{"email": acc.Email, "active": acc.Active, "createdAt": acc.CreatedAt, "lastLogin": acc.LastLoginAt,
			"last2FaDate": acc.Last2FAAt, "failedLoginAttempts": acc.FailedLogins, "lockedUntil": acc.LockedUntil},
		Addresses: []addressView{}, Devices: []deviceView{}, Events: []eventView{},
		TwoFactor: twoFactorView{Enabled: x.TwoFactor.OptedIn, TOTP: x.TwoFactor.TOTP, TOTPPending: x.TwoFactor.TOTPPending,
			RecoveryCodesRemaining: x.TwoFactor.RecoveryRemaining, Last2FaDate: x.TwoFactor.Last2FA, Methods: x.TwoFactor.Methods()}}
	for _, ad := range x.Addresses {
		out.Addresses = append(out.Addresses, addressViewOf(ad))
	}
	now := a.now()
	for _, d := range x.Devices {
		out.Devices = append(out.Devices, deviceViewOf(d, now))
	}
	for _, e := range x.Events {
		out.Events = append(out.Events, eventView{Kind: e.Kind, ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail,
			CreatedAt: e.CreatedAt})
	}
	w.Header().Set("Content-Disposition", `attachment; filename="customer-`+strconv.FormatInt(c.id, 10)+`.json"`)
	return reply(w, http.StatusOK, out)
}

// meDelete erases the customer: DELETE /customer/{tenant}/me {password, code?} → 204.
func (a *API) meDelete(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Password == "" {
		return missingParam("password")
	}
	if err := a.svc.Erase(c.ctx, c.tenant, c.id, in.Password, in.Code); err != nil {
		return err
	}
	return noContent(w)
}

// isObject reports whether raw is a JSON object.
func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
