package customer

// The line of the import and export format (CONTRACT.md §6): one customer per JSON line,
// its fields camelCase as in the profile, B2B memberships as the profile's b2b object,
// and the password hash with its format.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/custodian-id/custodian/customer/passwordhash"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/identity/mailaddr"
)

// Line is one customer of an import or export file. On import a field that is absent
// leaves what is stored as it is (a new customer gets its default); a present field
// replaces it. A list (addresses, b2b.legalEntities, identities) replaces the whole
// list. Export writes every field.
type Line struct {
	Email             string     `json:"email"`
	ExternalID        *string    `json:"externalId,omitempty"`
	Title             *string    `json:"title,omitempty"`
	FirstName         *string    `json:"firstName,omitempty"`
	MiddleName        *string    `json:"middleName,omitempty"`
	LastName          *string    `json:"lastName,omitempty"`
	UserName          *string    `json:"userName,omitempty"`
	ContactEmail      *string    `json:"contactEmail,omitempty"`
	ContactPhone      *string    `json:"contactPhone,omitempty"`
	Company           *string    `json:"company,omitempty"`
	PreferredLanguage *string    `json:"preferredLanguage,omitempty"`
	PreferredCurrency *string    `json:"preferredCurrency,omitempty"`
	PreferredSite     *string    `json:"preferredSite,omitempty"`
	LocaleCode        *string    `json:"localeCode,omitempty"`
	CustomerSet       *string    `json:"customerSet,omitempty"`
	TaxID             *string    `json:"taxId,omitempty"`
	TaxExempt         *bool      `json:"taxExempt,omitempty"`
	AcceptsMarketing  *bool      `json:"acceptsMarketing,omitempty"`
	EmailVerified     *bool      `json:"emailVerified,omitempty"`
	Active            *bool      `json:"active,omitempty"`
	OnHold            *bool      `json:"onHold,omitempty"`
	CreatedAt         *time.Time `json:"createdAt,omitempty"`

	Attributes      json.RawMessage `json:"attributes,omitempty"`
	Notes           json.RawMessage `json:"notes,omitempty"`
	Segments        json.RawMessage `json:"segments,omitempty"`
	CommerceSummary json.RawMessage `json:"commerceSummary,omitempty"`
	Mixins          json.RawMessage `json:"mixins,omitempty"`

	Addresses  *[]LineAddress       `json:"addresses,omitempty"`
	B2B        *LineB2B             `json:"b2b,omitempty"`
	Identities *[]LineIdentity      `json:"identities,omitempty"`
	Password   *passwordhash.Stored `json:"password,omitempty"`
}

// LineAddress is an address as POST /customer/{tenant}/me/addresses accepts it, with the
// id export writes (kept on import when given, so a re-import keeps the ids).
type LineAddress struct {
	ID             string   `json:"id,omitempty"`
	ContactName    string   `json:"contactName,omitempty"`
	CompanyName    string   `json:"companyName,omitempty"`
	Street         string   `json:"street"`
	StreetNumber   string   `json:"streetNumber,omitempty"`
	StreetAppendix string   `json:"streetAppendix,omitempty"`
	ExtraLine1     string   `json:"extraLine1,omitempty"`
	ExtraLine2     string   `json:"extraLine2,omitempty"`
	ExtraLine3     string   `json:"extraLine3,omitempty"`
	ExtraLine4     string   `json:"extraLine4,omitempty"`
	ZipCode        string   `json:"zipCode"`
	City           string   `json:"city"`
	Country        string   `json:"country"`
	State          string   `json:"state,omitempty"`
	ContactPhone   string   `json:"contactPhone,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	IsDefault      bool     `json:"isDefault,omitempty"`
}

// LineB2B is the profile's b2b object: the company registration id and the legal
// entities (B2B accounts) the customer belongs to.
type LineB2B struct {
	CompanyRegistrationID *string            `json:"companyRegistrationId,omitempty"`
	LegalEntities         *[]LineLegalEntity `json:"legalEntities,omitempty"`
}

// LineLegalEntity is one membership (Kibo accountId, Emporix legalEntityId).
type LineLegalEntity struct {
	ID                  string `json:"id"`
	Name                string `json:"name,omitempty"`
	ContactAssignmentID string `json:"contactAssignmentId,omitempty"`
}

// LineIdentity is an upstream (social) identity linked to the customer.
type LineIdentity struct {
	Issuer      string     `json:"issuer"`
	Subject     string     `json:"subject"`
	ConnectorID string     `json:"connectorId"`
	Email       string     `json:"email,omitempty"`
	CreatedAt   *time.Time `json:"createdAt,omitempty"`
}

// Bounds of one line.
const (
	// MaxImportLineBytes bounds one line of an import file.
	MaxImportLineBytes = 1 << 20
	maxExternalJSON    = 64 << 10
	maxIdentities      = 50
	maxLegalEntities   = 200
)

var importIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// decodeLine parses one line strictly: unknown fields, trailing data and fields of the
// wrong type are refused.
func decodeLine(raw []byte) (*Line, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var l Line
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("not a JSON object of the import format: %s", jsonReason(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("not a JSON object of the import format: more than one value on the line")
	}
	return &l, nil
}

func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: want %s, got %s", te.Field, te.Type, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// importLine is a line that passed validation, ready to be matched and written.
type importLine struct {
	no       int
	line     *Line
	email    string // normalised
	emailKey string
	extID    string // "" when the line names none
	hash     *passwordhash.Hash
	addrs    []Address
	members  []Membership
	idents   []Identity
}

// validate checks a decoded line and normalises it; the error is a *identity.ValidationError
// or a password hash refusal.
func (s *Service) validateLine(no int, l *Line, parser *passwordhash.Parser) (*importLine, error) {
	v := &identity.Validator{}
	out := &importLine{no: no, line: l}
	if strings.TrimSpace(l.Email) == "" {
		v.Add("email", "missing", "is required")
	} else {
		out.email = emailField(v, "email", strings.TrimSpace(l.Email))
		out.emailKey = EmailKey(out.email)
	}
	if l.ExternalID != nil {
		out.extID = strings.TrimSpace(*l.ExternalID)
		v.MaxLen("externalId", out.extID, 255)
	}
	for field, val := range map[string]*string{"title": l.Title, "firstName": l.FirstName, "middleName": l.MiddleName,
		"lastName": l.LastName, "userName": l.UserName, "contactPhone": l.ContactPhone, "company": l.Company,
		"preferredLanguage": l.PreferredLanguage, "preferredCurrency": l.PreferredCurrency, "preferredSite": l.PreferredSite,
		"localeCode": l.LocaleCode, "customerSet": l.CustomerSet, "taxId": l.TaxID} {
		if val != nil {
			*val = strings.TrimSpace(*val)
			v.MaxLen(field, *val, 255)
		}
	}
	if l.ContactEmail != nil && strings.TrimSpace(*l.ContactEmail) != "" {
		c := emailField(v, "contactEmail", strings.TrimSpace(*l.ContactEmail))
		l.ContactEmail = &c
	}
	for name, raw := range map[string]json.RawMessage{"attributes": l.Attributes, "notes": l.Notes, "segments": l.Segments,
		"commerceSummary": l.CommerceSummary, "mixins": l.Mixins} {
		if raw == nil {
			continue
		}
		open, what := byte('['), "a JSON array"
		if name == "commerceSummary" || name == "mixins" {
			open, what = '{', "a JSON object"
		}
		switch {
		case !jsonIs(raw, open):
			v.Add(name, "invalid", "must be "+what)
		case len(raw) > maxExternalJSON:
			v.Add(name, "too_long", "at most 64 KiB")
		}
	}
	if l.Addresses != nil {
		out.addrs = validateLineAddresses(v, *l.Addresses)
	}
	if l.B2B != nil {
		if l.B2B.CompanyRegistrationID != nil {
			*l.B2B.CompanyRegistrationID = strings.TrimSpace(*l.B2B.CompanyRegistrationID)
			v.MaxLen("b2b.companyRegistrationId", *l.B2B.CompanyRegistrationID, 255)
		}
		if l.B2B.LegalEntities != nil {
			out.members = validateLegalEntities(v, *l.B2B.LegalEntities)
		}
	}
	if l.Identities != nil {
		out.idents = validateIdentities(v, *l.Identities)
	}
	if l.CreatedAt != nil && (l.CreatedAt.Year() < 1970 || l.CreatedAt.After(s.now().Add(24*time.Hour))) {
		v.Add("createdAt", "invalid", "must be an RFC 3339 time between 1970 and now")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if l.Password != nil {
		h, err := parser.Parse(*l.Password)
		if err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
		out.hash = h
	}
	return out, nil
}

func validateLineAddresses(v *identity.Validator, in []LineAddress) []Address {
	if len(in) > MaxAddresses {
		v.Add("addresses", "invalid", fmt.Sprintf("at most %d addresses", MaxAddresses))
		return nil
	}
	out := make([]Address, 0, len(in))
	defaults, ids := 0, map[string]bool{}
	for i, la := range in {
		prefix := fmt.Sprintf("addresses[%d].", i)
		a := Address{ID: strings.TrimSpace(la.ID), ContactName: la.ContactName, CompanyName: la.CompanyName, Street: la.Street,
			StreetNumber: la.StreetNumber, StreetAppendix: la.StreetAppendix, ExtraLine1: la.ExtraLine1, ExtraLine2: la.ExtraLine2,
			ExtraLine3: la.ExtraLine3, ExtraLine4: la.ExtraLine4, ZipCode: la.ZipCode, City: la.City, Country: la.Country,
			State: la.State, ContactPhone: la.ContactPhone, Tags: la.Tags, IsDefault: la.IsDefault}
		normalizeAddress(&a)
		validateAddress(v, prefix, &a)
		if a.ID != "" {
			if !importIDPattern.MatchString(a.ID) {
				v.Add(prefix+"id", "invalid", "must be 1 to 64 letters, digits, '.', '_', ':' or '-'")
			} else if ids[a.ID] {
				v.Add(prefix+"id", "invalid", "appears twice in the line")
			}
			ids[a.ID] = true
		}
		if a.IsDefault {
			defaults++
		}
		out = append(out, a)
	}
	if defaults > 1 {
		v.Add("addresses", "invalid", "at most one address may be the default")
	}
	if defaults == 0 && len(out) > 0 {
		out[0].IsDefault = true // as POST /me/addresses makes the first address the default
	}
	return out
}

func validateLegalEntities(v *identity.Validator, in []LineLegalEntity) []Membership {
	if len(in) > maxLegalEntities {
		v.Add("b2b.legalEntities", "invalid", fmt.Sprintf("at most %d legal entities", maxLegalEntities))
		return nil
	}
	out := make([]Membership, 0, len(in))
	seen := map[string]bool{}
	for i, e := range in {
		prefix := fmt.Sprintf("b2b.legalEntities[%d].", i)
		m := Membership{AccountID: strings.TrimSpace(e.ID), Name: strings.TrimSpace(e.Name), ContactAssignmentID: strings.TrimSpace(e.ContactAssignmentID)}
		v.Required(prefix+"id", m.AccountID)
		v.MaxLen(prefix+"id", m.AccountID, 255)
		v.MaxLen(prefix+"name", m.Name, 255)
		v.MaxLen(prefix+"contactAssignmentId", m.ContactAssignmentID, 255)
		if seen[m.AccountID] {
			v.Add(prefix+"id", "invalid", "appears twice in the line")
		}
		seen[m.AccountID] = true
		out = append(out, m)
	}
	return out
}

func validateIdentities(v *identity.Validator, in []LineIdentity) []Identity {
	if len(in) > maxIdentities {
		v.Add("identities", "invalid", fmt.Sprintf("at most %d identities", maxIdentities))
		return nil
	}
	out := make([]Identity, 0, len(in))
	seen := map[[2]string]bool{}
	for i, li := range in {
		prefix := fmt.Sprintf("identities[%d].", i)
		id := Identity{Issuer: strings.TrimSpace(li.Issuer), Subject: strings.TrimSpace(li.Subject),
			ConnectorID: strings.TrimSpace(li.ConnectorID), Email: strings.TrimSpace(li.Email)}
		if li.CreatedAt != nil {
			id.CreatedAt = li.CreatedAt.UTC()
		}
		for field, val := range map[string]string{"issuer": id.Issuer, "subject": id.Subject, "connectorId": id.ConnectorID} {
			v.Required(prefix+field, val)
			v.MaxLen(prefix+field, val, 255)
		}
		if id.Email != "" {
			if err := mailaddr.Validate(id.Email); err != nil {
				v.Add(prefix+"email", "invalid", mailaddr.Describe(err))
			}
		}
		k := [2]string{id.Issuer, id.Subject}
		if seen[k] {
			v.Add(prefix+"subject", "invalid", "appears twice in the line")
		}
		seen[k] = true
		out = append(out, id)
	}
	return out
}
