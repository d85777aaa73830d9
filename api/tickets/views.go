package tickets

// The ticket API's answers: the seed's CustomerAuthTicket and customerAccount.

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
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

func accountView(t *identity.Tenant, acc *customer.Account, now time.Time) *customerAccountView {
	id := strconv.FormatInt(acc.ID, 10)
	name := acc.UserName
	if name == "" {
		name = acc.Email
	}
	return &customerAccountView{ID: acc.ID, UserID: id, UserName: name, EmailAddress: acc.Email, FirstName: acc.FirstName,
		LastName: acc.LastName, CompanyOrOrganization: acc.Company, LocaleCode: acc.LocaleCode, AcceptsMarketing: acc.AcceptsMarketing,
		TaxExempt: acc.TaxExempt, TaxID: acc.TaxID, ExternalID: acc.ExternalID, CustomerSet: acc.CustomerSet,
		CustomerSinceDate: acc.CreatedAt, IsActive: acc.Active, IsLocked: acc.Locked(now),
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

// pendingView is a ticket that awaits its second factor: no tokens yet.
type pendingView struct {
	Requires2FA        bool            `json:"requires2FA"`
	TwoFactorChallenge *twofactor.Info `json:"twoFactorChallenge"`
}
