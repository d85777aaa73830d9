package customer

// Export of a whole tenant in the import format (CONTRACT.md §6), page by page.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/custodian-id/custodian/customer/passwordhash"
)

// exportPage is the number of customers read per query.
const exportPage = 500

// ExportTenant calls emit with every customer of the tenant in id order, as an import line
// with every field (hashes as stored, in their format). It reads the tenant page by
// page (keyset pagination), so memory does not grow with the tenant. A customer created
// while the export runs may or may not be in it.
func (s *Service) ExportTenant(ctx context.Context, tenant string, emit func(*Line) error) error {
	st, err := s.importStore()
	if err != nil {
		return err
	}
	t, err := s.tenantOf(ctx, tenant)
	if err != nil {
		return err
	}
	var after int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := st.ExportAccounts(ctx, t.Name, after, exportPage)
		if err != nil {
			return fmt.Errorf("export tenant %q: %w", t.Name, err)
		}
		for _, a := range page {
			if err := emit(ExportLine(a)); err != nil {
				return err
			}
			after = a.ID
		}
		if len(page) < exportPage {
			return nil
		}
	}
}

func ptr[T any](v T) *T { return &v }

// ExportLine is an account as a line of the import format.
func ExportLine(a *Account) *Line {
	l := &Line{Email: a.Email, ExternalID: ptr(a.ExternalID), Title: ptr(a.Title), FirstName: ptr(a.FirstName),
		MiddleName: ptr(a.MiddleName), LastName: ptr(a.LastName), UserName: ptr(a.UserName), ContactEmail: ptr(a.ContactEmail),
		ContactPhone: ptr(a.ContactPhone), Company: ptr(a.Company), PreferredLanguage: ptr(a.PreferredLanguage),
		PreferredCurrency: ptr(a.PreferredCurrency), PreferredSite: ptr(a.PreferredSite), LocaleCode: ptr(a.LocaleCode),
		CustomerSet: ptr(a.CustomerSet), TaxID: ptr(a.TaxID), TaxExempt: ptr(a.TaxExempt), AcceptsMarketing: ptr(a.AcceptsMarketing),
		EmailVerified: ptr(a.EmailVerified), Active: ptr(a.Active), OnHold: ptr(a.OnHold), CreatedAt: ptr(a.CreatedAt.UTC()),
		Attributes: jsonOr(a.Attributes, "[]"), Notes: jsonOr(a.Notes, "[]"), Segments: jsonOr(a.Segments, "[]"),
		CommerceSummary: jsonOr(a.CommerceSummary, "{}"), Mixins: jsonOr(a.Mixins, "{}")}
	addrs := make([]LineAddress, len(a.Addresses))
	for i, x := range a.Addresses {
		addrs[i] = LineAddress{ID: x.ID, ContactName: x.ContactName, CompanyName: x.CompanyName, Street: x.Street,
			StreetNumber: x.StreetNumber, StreetAppendix: x.StreetAppendix, ExtraLine1: x.ExtraLine1, ExtraLine2: x.ExtraLine2,
			ExtraLine3: x.ExtraLine3, ExtraLine4: x.ExtraLine4, ZipCode: x.ZipCode, City: x.City, Country: x.Country,
			State: x.State, ContactPhone: x.ContactPhone, Tags: x.Tags, IsDefault: x.IsDefault}
	}
	l.Addresses = &addrs
	les := make([]LineLegalEntity, len(a.Memberships))
	for i, m := range a.Memberships {
		les[i] = LineLegalEntity{ID: m.AccountID, Name: m.Name, ContactAssignmentID: m.ContactAssignmentID}
	}
	l.B2B = &LineB2B{CompanyRegistrationID: ptr(a.CompanyRegistrationID), LegalEntities: &les}
	ids := make([]LineIdentity, len(a.Identities))
	for i, x := range a.Identities {
		ids[i] = LineIdentity{Issuer: x.Issuer, Subject: x.Subject, ConnectorID: x.ConnectorID, Email: x.Email, CreatedAt: ptr(x.CreatedAt.UTC())}
	}
	l.Identities = &ids
	if a.PasswordHash != "" {
		format := a.PasswordFormat
		if format == "" {
			format = PasswordFormatCustodian
		}
		l.Password = &passwordhash.Stored{Format: passwordhash.Format(format), Hash: a.PasswordHash, Salt: a.PasswordSalt}
	}
	return l
}

// MarshalLine writes a line as one line of JSON with its newline.
func MarshalLine(l *Line) ([]byte, error) {
	b, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encode export line: %w", err)
	}
	return append(b, '\n'), nil
}
