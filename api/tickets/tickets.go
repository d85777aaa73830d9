package tickets

// The ticket API (CONTRACT.md §2, modelled on the Customer Authentication Tickets
// seed). The calling storefront application authenticates as a confidential client
// (a client_credentials bearer token or HTTP Basic); the tenant comes from x-vol-tenant.
// A ticket is a view of ordinary fosite tokens. The username of a user ticket is the
// customer's e-mail address. When the tenant's policy asks for a second factor, the
// ticket has requires2FA and a twoFactorChallenge instead of tokens, and
// 2fa/verify completes it.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// Grants: what the ticket API's issuances are called in metrics and logs.
const (
	grantTicket    = "ticket"
	grantAnonymous = "ticket_anonymous"
)

// Keys of a ticket challenge's payload: what the completing call needs.
const (
	payloadAccountID  = "accountId"
	payloadAccessTTL  = "authTicketTtlMinutes"
	payloadRefreshTTL = "refreshTokenTtlMinutes"
)

// body is how the ticket API reads a request body: JSON, also without a Content-Type.
var body = api.Decoder{NoContentTypeOK: true}

// anonymous: GET /api/commerce/customer/authtickets/anonymousshopper.
func (a *API) anonymous(w http.ResponseWriter, _ *http.Request, c *call) error {
	if err := a.svc.AllowAnonymous(c.ctx, c.tenant, c.client.ID); err != nil {
		return err
	}
	ts, err := a.oauth.IssueTokens(c.ctx, oauth.IssueRequest{Client: c.client, Subject: uuid.NewString(), Anonymous: true,
		Grant: grantAnonymous})
	if err != nil {
		return err
	}
	return c.write(w, ticketOf(ts, nil))
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

// create signs a customer in: POST /api/commerce/customer/authtickets.
func (a *API) create(w http.ResponseWriter, r *http.Request, c *call) error {
	var in ticketRequest
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	if in.Username == nil || *in.Username == "" || in.Password == nil || *in.Password == "" {
		return badParam("username and password are required")
	}
	accountID, err := accountIDOf(in.AccountID)
	if err != nil {
		return err
	}
	l, err := lifespans(c.client, c.tenant, in.AuthTicketTTLMinutes, in.RefreshTokenTTLMinutes)
	if err != nil {
		return err
	}
	payload := map[string]string{payloadAccountID: accountID}
	if in.AuthTicketTTLMinutes != nil {
		payload[payloadAccessTTL] = strconv.Itoa(*in.AuthTicketTTLMinutes)
	}
	if in.RefreshTokenTTLMinutes != nil {
		payload[payloadRefreshTTL] = strconv.Itoa(*in.RefreshTokenTTLMinutes)
	}
	res, err := a.svc.SignIn(c.ctx, c.tenant, customer.SignIn{Email: *in.Username, Password: *in.Password, ClientID: c.client.ID,
		Fingerprint: deref(in.Fingerprint), Region: deref(in.Region), Payload: payload, Member: accountID})
	if err != nil {
		return err
	}
	if res.Challenge != nil {
		return c.write(w, pendingView{Requires2FA: true, TwoFactorChallenge: res.Challenge})
	}
	return a.finish(w, c, res, accountID, l)
}

// finish issues the tokens of a completed sign-in and answers the full ticket.
func (a *API) finish(w http.ResponseWriter, c *call, res *customer.SignedIn, accountID string, l oauth.Lifespans) error {
	ts, err := a.oauth.IssueTokens(c.ctx, oauth.IssueRequest{Client: c.client, Subject: strconv.FormatInt(res.Account.ID, 10),
		Scopes: oauth.CustomerScopes, AMR: res.AMR, AccountID: accountID, DeviceID: res.DeviceID, Lifespans: l, Grant: grantTicket})
	if err != nil {
		return err
	}
	full, err := a.svc.Account(c.ctx, c.tenant.Name, res.Account.ID)
	if err != nil {
		return err
	}
	return c.write(w, ticketOf(ts, accountView(c.tenant, full, a.now())))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// verifyRequest answers a second-factor challenge.
type verifyRequest struct {
	ChallengeID    string `json:"challengeId"`
	Code           string `json:"code"`
	Method         string `json:"method"`
	RememberDevice bool   `json:"rememberDevice"`
}

// verify completes a ticket that awaits its second factor:
// POST /api/commerce/customer/authtickets/2fa/verify. The challenge must be the calling
// application's.
func (a *API) verify(w http.ResponseWriter, r *http.Request, c *call) error {
	var in verifyRequest
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	if in.ChallengeID == "" || in.Code == "" {
		return badParam("challengeId and code are required")
	}
	res, err := a.svc.CompleteSecondFactor(c.ctx, c.tenant, customer.SecondFactor{ChallengeID: in.ChallengeID, ClientID: c.client.ID,
		Method: in.Method, Code: in.Code, RememberDevice: in.RememberDevice})
	if err != nil {
		return err
	}
	accountID := res.Payload[payloadAccountID]
	if err := a.svc.RequireMember(c.ctx, c.tenant.Name, res.Account.ID, accountID); err != nil {
		return err
	}
	l, err := lifespans(c.client, c.tenant, payloadInt(res.Payload, payloadAccessTTL), payloadInt(res.Payload, payloadRefreshTTL))
	if err != nil {
		return err
	}
	return a.finish(w, c, res, accountID, l)
}

func payloadInt(p map[string]string, key string) *int {
	n, err := strconv.Atoi(p[key])
	if err != nil {
		return nil
	}
	return &n
}

// resend sends a new e-mailed code: POST /api/commerce/customer/authtickets/2fa/resend.
func (a *API) resend(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		ChallengeID string `json:"challengeId"`
	}
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	if in.ChallengeID == "" {
		return badParam("challengeId is required")
	}
	info, err := a.svc.ResendCode(c.ctx, c.tenant, in.ChallengeID, c.client.ID)
	if err != nil {
		return err
	}
	return c.write(w, pendingView{Requires2FA: true, TwoFactorChallenge: info})
}

// refresh: PUT /api/commerce/customer/authtickets/refresh?refreshToken=&accountId=.
// Another accountId re-scopes: a new family bound to it replaces the refreshed one.
func (a *API) refresh(w http.ResponseWriter, r *http.Request, c *call) error {
	rt := r.URL.Query().Get("refreshToken")
	if rt == "" && r.ContentLength != 0 {
		var in struct {
			RefreshToken string `json:"refreshToken"`
		}
		if err := body.Decode(w, r, &in); err != nil {
			return err
		}
		rt = in.RefreshToken
	}
	if rt == "" {
		return badParam("refreshToken is required")
	}
	ctx, err := a.oauth.PreloadSigningKey(c.ctx, c.tenant.Name) // nothing after the rotation reads the key
	if err != nil {
		return err
	}
	res, err := a.svc.Refresh(ctx, c.tenant, a.oauth.ClientTokens(c.client), rt, r.URL.Query().Get("accountId"), grantTicket)
	if err != nil {
		return err
	}
	if res.Account == nil { // an anonymous shopper's ticket
		return c.write(w, ticketOf(res.Tokens, nil))
	}
	return c.write(w, ticketOf(res.Tokens, accountView(c.tenant, res.Account, a.now())))
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
	return "", badParam("accountId must be an integer")
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
			return l, badParam(x.name + " must be a positive number of minutes")
		}
		if *x.v > capMin {
			return l, badParam(fmt.Sprintf("%s %d is above the tenant's cap of %d minutes", x.name, *x.v, capMin),
				nameValue{"max" + strings.ToUpper(x.name[:1]) + x.name[1:], strconv.Itoa(capMin)})
		}
		*x.dst = time.Duration(*x.v) * time.Minute
	}
	return l, nil
}
