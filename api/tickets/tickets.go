package tickets

// The ticket API (CONTRACT.md §2, modelled on the Customer Authentication Tickets
// seed). The calling storefront application authenticates as a confidential client
// (a client_credentials bearer token or HTTP Basic); the tenant comes from x-vol-tenant.
// A ticket is a view of ordinary fosite tokens. The username of a user ticket is the
// customer's e-mail address. When the tenant's policy asks for a second factor, the
// ticket has requires2FA and a twoFactorChallenge instead of tokens, and
// 2fa/verify completes it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/api/wellformed"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/twofactor"
)

type auditInfoView struct {
	CreateBy   string    `json:"createBy"`
	CreateDate time.Time `json:"createDate"`
	UpdateBy   string    `json:"updateBy"`
	UpdateDate time.Time `json:"updateDate"`
}

// customerAccountView is the seed's customerAccount.
type customerAccountView struct {
	ID                    int64           `json:"id"`
	UserID                string          `json:"userId"`
	UserName              string          `json:"userName"`
	EmailAddress          string          `json:"emailAddress"`
	FirstName             string          `json:"firstName"`
	LastName              string          `json:"lastName"`
	CompanyOrOrganization string          `json:"companyOrOrganization"`
	LocaleCode            string          `json:"localeCode"`
	AcceptsMarketing      bool            `json:"acceptsMarketing"`
	TaxExempt             bool            `json:"taxExempt"`
	TaxID                 string          `json:"taxId"`
	ExternalID            string          `json:"externalId"`
	CustomerSet           string          `json:"customerSet"`
	CustomerSinceDate     time.Time       `json:"customerSinceDate"`
	IsActive              bool            `json:"isActive"`
	IsAnonymous           bool            `json:"isAnonymous"`
	IsLocked              bool            `json:"isLocked"`
	HasExternalPassword   bool            `json:"hasExternalPassword"`
	MigrationRequired     bool            `json:"migrationRequired"`
	Last2FaDate           *time.Time      `json:"last2FaDate"`
	Attributes            json.RawMessage `json:"attributes"`
	Contacts              []contactView   `json:"contacts"`
	Notes                 json.RawMessage `json:"notes"`
	Segments              json.RawMessage `json:"segments"`
	CommerceSummary       json.RawMessage `json:"commerceSummary"`
	AuditInfo             auditInfoView   `json:"auditInfo"`
	AccountType           string          `json:"accountType"`
}

// contactView is a Kibo customer contact: an address of the book.
type contactView struct {
	ID                    string         `json:"id"`
	Email                 string         `json:"email"`
	FirstName             string         `json:"firstName"`
	LastNameOrSurname     string         `json:"lastNameOrSurname"`
	CompanyOrOrganization string         `json:"companyOrOrganization"`
	PhoneNumbers          map[string]any `json:"phoneNumbers"`
	Address               contactAddress `json:"address"`
	Types                 []contactType  `json:"types"`
}

type contactAddress struct {
	Address1        string `json:"address1"`
	Address2        string `json:"address2"`
	Address3        string `json:"address3"`
	Address4        string `json:"address4"`
	CityOrTown      string `json:"cityOrTown"`
	StateOrProvince string `json:"stateOrProvince"`
	PostalOrZipCode string `json:"postalOrZipCode"`
	CountryCode     string `json:"countryCode"`
}

type contactType struct {
	Name      string `json:"name"`
	IsPrimary bool   `json:"isPrimary"`
}

// contactsOf maps the address book onto Kibo contacts: the contact name splits into
// first and last name at the last space, tags become types ("BILLING" → "Billing"),
// the default address is the primary one of each type.
func contactsOf(acc *customer.Account) []contactView {
	out := make([]contactView, 0, len(acc.Addresses))
	for _, ad := range acc.Addresses {
		first, last := ad.ContactName, ""
		if i := strings.LastIndex(ad.ContactName, " "); i > 0 {
			first, last = ad.ContactName[:i], ad.ContactName[i+1:]
		}
		c := contactView{ID: ad.ID, Email: acc.ContactEmail, FirstName: first, LastNameOrSurname: last, CompanyOrOrganization: ad.CompanyName,
			PhoneNumbers: map[string]any{"home": ad.ContactPhone},
			Address: contactAddress{Address1: strings.TrimSpace(ad.Street + " " + ad.StreetNumber), Address2: ad.StreetAppendix,
				Address3: ad.ExtraLine1, Address4: ad.ExtraLine2, CityOrTown: ad.City, StateOrProvince: ad.State,
				PostalOrZipCode: ad.ZipCode, CountryCode: ad.Country},
			Types: []contactType{}}
		for _, tag := range ad.Tags {
			name := strings.ToUpper(tag[:1]) + strings.ToLower(tag[1:])
			c.Types = append(c.Types, contactType{Name: name, IsPrimary: ad.IsDefault})
		}
		out = append(out, c)
	}
	return out
}

// ticketView is the seed's CustomerAuthTicket.
type ticketView struct {
	AccessToken            string               `json:"accessToken"`
	AccessTokenExpiration  time.Time            `json:"accessTokenExpiration"`
	CustomerAccount        *customerAccountView `json:"customerAccount"`
	JWTAccessToken         string               `json:"jwtAccessToken"`
	RefreshToken           string               `json:"refreshToken"`
	RefreshTokenExpiration *time.Time           `json:"refreshTokenExpiration"`
	Requires2FA            bool                 `json:"requires2FA"`
	UserID                 string               `json:"userId"`
}

func (a *API) accountView(t *identity.Tenant, acc *customer.Account) *customerAccountView {
	id := strconv.FormatInt(acc.ID, 10)
	name := acc.UserName
	if name == "" {
		name = acc.Email
	}
	return &customerAccountView{ID: acc.ID, UserID: id, UserName: name, EmailAddress: acc.Email, FirstName: acc.FirstName,
		LastName: acc.LastName, CompanyOrOrganization: acc.Company, LocaleCode: acc.LocaleCode, AcceptsMarketing: acc.AcceptsMarketing,
		TaxExempt: acc.TaxExempt, TaxID: acc.TaxID, ExternalID: acc.ExternalID, CustomerSet: acc.CustomerSet,
		CustomerSinceDate: acc.CreatedAt, IsActive: acc.Active, IsLocked: acc.Locked(a.now()),
		HasExternalPassword: acc.HasExternalPassword, MigrationRequired: acc.MigrationRequired, Last2FaDate: acc.Last2FAAt,
		Attributes: api.RawJSON(acc.Attributes, "[]"), Contacts: contactsOf(acc), Notes: api.RawJSON(acc.Notes, "[]"), Segments: api.RawJSON(acc.Segments, "[]"),
		CommerceSummary: api.RawJSON(acc.CommerceSummary, "{}"), AccountType: acc.AccountType(t.Settings),
		AuditInfo: auditInfoView{CreateBy: acc.CreatedBy, CreateDate: acc.CreatedAt, UpdateBy: acc.UpdatedBy, UpdateDate: acc.UpdatedAt}}
}

func ticketOf(ts *customer.TokenSet, acc *customerAccountView) ticketView {
	v := ticketView{AccessToken: ts.AccessToken, AccessTokenExpiration: ts.AccessExpiresAt.UTC(), CustomerAccount: acc,
		JWTAccessToken: ts.JWTAccessToken, RefreshToken: ts.RefreshToken, UserID: ts.Subject}
	if ts.RefreshToken != "" {
		exp := ts.RefreshExpiresAt.UTC()
		v.RefreshTokenExpiration = &exp
	}
	return v
}

// ticketCall is what every ticket route starts with: the selection, the tenant and the
// calling application.
type ticketCall struct {
	ctx    context.Context
	tenant *identity.Tenant
	client *oauth.Client
	fields Fields
}

func (a *API) ticketStart(r *http.Request) (*ticketCall, error) {
	// Every route of the ticket API starts here, so its query is checked here.
	if err := wellformed.Query(r); err != nil {
		return nil, badTicketParam(err.Error())
	}
	fields, err := ParseFields(r.URL.Query().Get("responseFields"))
	if err != nil {
		return nil, err
	}
	name := r.Header.Get("x-vol-tenant")
	if name == "" {
		return nil, badTicketParam("the x-vol-tenant header is required")
	}
	t, err := a.oauth.GetTenant(r.Context(), name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, &ticketError{status: http.StatusNotFound, code: "ITEM_NOT_FOUND", message: "unknown tenant"}
	}
	if err != nil {
		return nil, err
	}
	ctx := identity.WithTenant(r.Context(), t)
	client, err := a.ticketApp(ctx, r, t)
	if err != nil {
		return nil, err
	}
	return &ticketCall{ctx: customer.WithClient(ctx, client.ID), tenant: t, client: client, fields: fields}, nil
}

var errNoApp = &ticketError{status: http.StatusUnauthorized, code: "UNAUTHORIZED",
	message: "the application must authenticate with a client_credentials token or client credentials"}

// ticketApp authenticates the calling application: a confidential client of the tenant.
func (a *API) ticketApp(ctx context.Context, r *http.Request, t *identity.Tenant) (*oauth.Client, error) {
	if id, secret, ok := r.BasicAuth(); ok {
		c, err := a.oauth.AuthenticateClient(ctx, t.Name, id, secret)
		if err != nil || c.Public {
			return nil, errNoApp
		}
		return c, nil
	}
	h := r.Header.Get("Authorization")
	if len(h) < 8 || !strings.EqualFold(h[:7], "bearer ") {
		return nil, errNoApp
	}
	info, err := a.oauth.ValidateAccessToken(ctx, strings.TrimSpace(h[7:]))
	// Only an application token will do: client_credentials tokens have no subject
	// (opaque) or the client as subject (JWT); customer and anonymous tokens do not pass.
	if err != nil || info.Anonymous || (info.Subject != "" && info.Subject != info.ClientID) {
		return nil, errNoApp
	}
	c, err := a.oauth.GetClient(ctx, t.Name, info.ClientID)
	if err != nil || c.Public {
		return nil, errNoApp
	}
	return c, nil
}

func (a *API) writeTicket(w http.ResponseWriter, r *http.Request, call *ticketCall, v any) {
	out, err := call.fields.Apply(v)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// ticketAnonymous: GET /api/commerce/customer/authtickets/anonymousshopper.
func (a *API) ticketAnonymous(w http.ResponseWriter, r *http.Request) {
	call, err := a.ticketStart(r)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	ts, err := a.oauth.IssueTokens(call.ctx, oauth.IssueRequest{Client: call.client, Subject: uuid.NewString(), Anonymous: true,
		Grant: "ticket_anonymous"})
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	a.writeTicket(w, r, call, ticketOf(ts, nil))
}

type ticketRequest struct {
	Username               *string         `json:"username"`
	Password               *string         `json:"password"`
	AccountID              json.RawMessage `json:"accountId"`
	Fingerprint            *string         `json:"fingerprint"`
	Region                 *string         `json:"region"`
	AuthTicketTTLMinutes   *int            `json:"authTicketTtlMinutes"`
	RefreshTokenTTLMinutes *int            `json:"refreshTokenTtlMinutes"`
}

// ticketBody is how the ticket API reads a body: JSON, also without a Content-Type.
var ticketBody = api.Decoder{NoContentTypeOK: true}

func decodeTicketBody(w http.ResponseWriter, r *http.Request, v any) error {
	return ticketBody.Decode(w, r, v)
}

// accountIDOf reads accountId as the seed's integer (a string is accepted too).
func accountIDOf(raw json.RawMessage) (string, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return "", nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil && str != "" {
		return str, nil
	}
	return "", badTicketParam("accountId must be an integer")
}

// lifespans checks requested TTLs: only clients with the behavior may ask, and never
// above the tenant's caps.
func lifespans(c *oauth.Client, t *identity.Tenant, access, refresh *int) (oauth.Lifespans, error) {
	var l oauth.Lifespans
	if access == nil && refresh == nil {
		return l, nil
	}
	if !c.HasBehavior(oauth.BehaviorConfigureTokenDurations) {
		return l, &ticketError{status: http.StatusForbidden, code: "UNAUTHORIZED",
			message: "requesting token lifetimes needs the behavior " + oauth.BehaviorConfigureTokenDurations}
	}
	for _, x := range []struct {
		v    *int
		max  time.Duration
		name string
		dst  *time.Duration
	}{
		{access, time.Duration(t.Settings.MaxAccessTTL), "authTicketTtlMinutes", &l.Access},
		{refresh, time.Duration(t.Settings.MaxRefreshTTL), "refreshTokenTtlMinutes", &l.Refresh},
	} {
		if x.v == nil {
			continue
		}
		capMin := int(x.max / time.Minute)
		if *x.v <= 0 {
			return l, badTicketParam(x.name + " must be a positive number of minutes")
		}
		if *x.v > capMin {
			return l, badTicketParam(fmt.Sprintf("%s %d is above the tenant's cap of %d minutes", x.name, *x.v, capMin),
				nameValue{"max" + strings.ToUpper(x.name[:1]) + x.name[1:], strconv.Itoa(capMin)})
		}
		*x.dst = time.Duration(*x.v) * time.Minute
	}
	return l, nil
}

// pendingView is a ticket that awaits its second factor: no tokens yet.
type pendingView struct {
	Requires2FA        bool            `json:"requires2FA"`
	TwoFactorChallenge *twofactor.Info `json:"twoFactorChallenge"`
}

// Keys of a ticket challenge's payload: what the completing call needs.
const (
	payloadAccountID  = "accountId"
	payloadAccessTTL  = "authTicketTtlMinutes"
	payloadRefreshTTL = "refreshTokenTtlMinutes"
)

// ticketCreate: POST /api/commerce/customer/authtickets.
func (a *API) ticketCreate(w http.ResponseWriter, r *http.Request) {
	call, err := a.ticketStart(r)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	var in ticketRequest
	if err := decodeTicketBody(w, r, &in); err != nil {
		a.ticketFail(w, r, err)
		return
	}
	if in.Username == nil || *in.Username == "" || in.Password == nil || *in.Password == "" {
		a.ticketFail(w, r, badTicketParam("username and password are required"))
		return
	}
	accountID, err := accountIDOf(in.AccountID)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	l, err := lifespans(call.client, call.tenant, in.AuthTicketTTLMinutes, in.RefreshTokenTTLMinutes)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	payload := map[string]string{payloadAccountID: accountID}
	if in.AuthTicketTTLMinutes != nil {
		payload[payloadAccessTTL] = strconv.Itoa(*in.AuthTicketTTLMinutes)
	}
	if in.RefreshTokenTTLMinutes != nil {
		payload[payloadRefreshTTL] = strconv.Itoa(*in.RefreshTokenTTLMinutes)
	}
	res, err := a.svc.SignIn(call.ctx, call.tenant, customer.SignIn{Email: *in.Username, Password: *in.Password, ClientID: call.client.ID,
		Fingerprint: deref(in.Fingerprint), Region: deref(in.Region), Payload: payload, Member: accountID})
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	if res.Challenge != nil {
		a.writeTicket(w, r, call, pendingView{Requires2FA: true, TwoFactorChallenge: res.Challenge})
		return
	}
	a.finishTicket(w, r, call, res, accountID, l)
}

// finishTicket issues the tokens of a completed sign-in and answers the full ticket.
func (a *API) finishTicket(w http.ResponseWriter, r *http.Request, call *ticketCall, res *customer.SignedIn, accountID string, l oauth.Lifespans) {
	ts, err := a.oauth.IssueTokens(call.ctx, oauth.IssueRequest{Client: call.client, Subject: strconv.FormatInt(res.Account.ID, 10),
		Scopes: oauth.CustomerScopes, AMR: res.AMR, AccountID: accountID, DeviceID: res.DeviceID, Lifespans: l, Grant: "ticket"})
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	full, err := a.svc.Account(call.ctx, call.tenant.Name, res.Account.ID)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	a.writeTicket(w, r, call, ticketOf(ts, a.accountView(call.tenant, full)))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ticketVerifyBody answers a second-factor challenge.
type ticketVerifyBody struct {
	ChallengeID    string `json:"challengeId"`
	Code           string `json:"code"`
	Method         string `json:"method"`
	RememberDevice bool   `json:"rememberDevice"`
}

// ticketVerify completes a ticket that awaits its second factor:
// POST /api/commerce/customer/authtickets/2fa/verify. The challenge must be the calling
// application's.
func (a *API) ticketVerify(w http.ResponseWriter, r *http.Request) {
	call, err := a.ticketStart(r)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	var in ticketVerifyBody
	if err := decodeTicketBody(w, r, &in); err != nil {
		a.ticketFail(w, r, err)
		return
	}
	if in.ChallengeID == "" || in.Code == "" {
		a.ticketFail(w, r, badTicketParam("challengeId and code are required"))
		return
	}
	res, err := a.svc.CompleteSecondFactor(call.ctx, call.tenant, customer.SecondFactor{ChallengeID: in.ChallengeID, ClientID: call.client.ID,
		Method: in.Method, Code: in.Code, RememberDevice: in.RememberDevice})
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	accountID := res.Payload[payloadAccountID]
	if accountID != "" {
		if ok, err := a.svc.IsMember(call.ctx, call.tenant.Name, res.Account.ID, accountID); err != nil || !ok {
			a.ticketFail(w, r, notTicketMember(err))
			return
		}
	}
	l, err := lifespans(call.client, call.tenant, payloadInt(res.Payload, payloadAccessTTL), payloadInt(res.Payload, payloadRefreshTTL))
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	a.finishTicket(w, r, call, res, accountID, l)
}

func payloadInt(p map[string]string, key string) *int {
	n, err := strconv.Atoi(p[key])
	if err != nil {
		return nil
	}
	return &n
}

// ticketResend sends a new e-mailed code: POST /api/commerce/customer/authtickets/2fa/resend.
func (a *API) ticketResend(w http.ResponseWriter, r *http.Request) {
	call, err := a.ticketStart(r)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	var in struct {
		ChallengeID string `json:"challengeId"`
	}
	if err := decodeTicketBody(w, r, &in); err != nil {
		a.ticketFail(w, r, err)
		return
	}
	if in.ChallengeID == "" {
		a.ticketFail(w, r, badTicketParam("challengeId is required"))
		return
	}
	info, err := a.svc.ResendCode(call.ctx, call.tenant, in.ChallengeID, call.client.ID)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	a.writeTicket(w, r, call, pendingView{Requires2FA: true, TwoFactorChallenge: info})
}

func notTicketMember(err error) error {
	if err != nil {
		return err
	}
	return &ticketError{status: http.StatusForbidden, code: "UNAUTHORIZED", message: "the customer does not belong to that account"}
}

// ticketRefresh: PUT /api/commerce/customer/authtickets/refresh?refreshToken=&accountId=.
func (a *API) ticketRefresh(w http.ResponseWriter, r *http.Request) {
	call, err := a.ticketStart(r)
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	rt := r.URL.Query().Get("refreshToken")
	if rt == "" && r.ContentLength != 0 {
		var body struct {
			RefreshToken string `json:"refreshToken"`
		}
		if err := decodeTicketBody(w, r, &body); err != nil {
			a.ticketFail(w, r, err)
			return
		}
		rt = body.RefreshToken
	}
	if rt == "" {
		a.ticketFail(w, r, badTicketParam("refreshToken is required"))
		return
	}
	// Another accountId re-scopes: a new family bound to it replaces the refreshed one.
	res, err := a.svc.Refresh(call.ctx, call.tenant, a.oauth.ClientTokens(call.client), rt, r.URL.Query().Get("accountId"), "ticket")
	if err != nil {
		a.ticketFail(w, r, err)
		return
	}
	if res.Account == nil { // an anonymous shopper's ticket
		a.writeTicket(w, r, call, ticketOf(res.Tokens, nil))
		return
	}
	a.writeTicket(w, r, call, ticketOf(res.Tokens, a.accountView(call.tenant, res.Account)))
}
