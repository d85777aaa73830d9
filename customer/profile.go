package customer

// Self-service profile (/me) and address book. Everything is confined to the calling
// customer.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/custodian-id/custodian/identity"
)

// ProfilePatch is a change of the self-service profile. nil leaves a field as it is;
// a pointer to "" clears it (JSON null in a merge patch). Mixins is an RFC 7396 merge
// patch of the mixins object.
type ProfilePatch struct {
	Title, FirstName, MiddleName, LastName              *string
	ContactEmail, ContactPhone, Company                 *string
	PreferredLanguage, PreferredCurrency, PreferredSite *string
	CompanyRegistrationID                               *string
	Mixins                                              json.RawMessage
	// Version, when set, must be the stored version (optimistic locking).
	Version *int
}

// UpdateProfile applies a patch to the customer's profile with optimistic locking: the
// write only happens if the version is still the one read (and, when the caller sent
// one, the one it sent); otherwise ErrStale and nothing changes.
func (s *Service) UpdateProfile(ctx context.Context, t *identity.Tenant, id int64, p ProfilePatch) (*Account, error) {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return nil, err
	}
	v := &identity.Validator{}
	set := func(field string, dst *string, val *string) {
		if val == nil {
			return
		}
		v.MaxLen(field, *val, 255)
		*dst = strings.TrimSpace(*val)
	}
	set("title", &a.Title, p.Title)
	set("firstName", &a.FirstName, p.FirstName)
	set("middleName", &a.MiddleName, p.MiddleName)
	set("lastName", &a.LastName, p.LastName)
	set("contactPhone", &a.ContactPhone, p.ContactPhone)
	set("company", &a.Company, p.Company)
	set("preferredLanguage", &a.PreferredLanguage, p.PreferredLanguage)
	set("preferredCurrency", &a.PreferredCurrency, p.PreferredCurrency)
	set("preferredSite", &a.PreferredSite, p.PreferredSite)
	set("b2b.companyRegistrationId", &a.CompanyRegistrationID, p.CompanyRegistrationID)
	if p.ContactEmail != nil {
		c := strings.TrimSpace(*p.ContactEmail)
		switch {
		case c == "" && a.ContactEmail != "":
			v.Add("contactEmail", "invalid", "cannot be removed once set")
		case c != "":
			a.ContactEmail = emailField(v, "contactEmail", c)
		default:
			a.ContactEmail = c
		}
	}
	if len(p.Mixins) > 0 {
		merged, err := mergePatch(jsonOr(a.Mixins, "{}"), p.Mixins)
		switch {
		case err != nil || !jsonIs(merged, '{'):
			v.Add("mixins", "invalid", "must be an object")
		case len(merged) > 64<<10:
			v.Add("mixins", "invalid", "at most 64 KiB")
		default:
			a.Mixins = merged
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if p.Version != nil && *p.Version != a.Version {
		return nil, fmt.Errorf("profile version %d, sent %d: %w", a.Version, *p.Version, ErrStale)
	}
	a.UpdatedBy = "customer"
	if err := s.store.UpdateProfile(ctx, a, a.Version); err != nil {
		return nil, err
	}
	s.event(ctx, t.Name, "customer.profile_updated", &a.ID, map[string]any{"version": a.Version})
	return s.Account(ctx, t.Name, id)
}

// jsonOr is raw, or def when raw is empty.
func jsonOr(raw json.RawMessage, def string) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage(def)
	}
	return raw
}

// mergePatch applies an RFC 7396 JSON merge patch to a document.
func mergePatch(doc, patch json.RawMessage) (json.RawMessage, error) {
	var p any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	var d any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	return json.Marshal(mergeValue(d, p))
}

func mergeValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergeValue(tm[k], v)
	}
	return tm
}

// Addresses lists a customer's addresses, the default first.
func (s *Service) Addresses(ctx context.Context, tenant string, id int64) ([]Address, error) {
	return s.store.ListAddresses(ctx, tenant, id)
}

// Address returns one of a customer's addresses.
func (s *Service) Address(ctx context.Context, tenant string, id int64, addressID string) (*Address, error) {
	return s.store.GetAddress(ctx, tenant, id, addressID)
}

// MaxAddresses bounds a customer's address book.
const MaxAddresses = 100

// validateAddress checks an address; prefix names the field path in errors.
func validateAddress(v *identity.Validator, prefix string, a *Address) {
	v.Required(prefix+"street", strings.TrimSpace(a.Street))
	v.Required(prefix+"zipCode", strings.TrimSpace(a.ZipCode))
	v.Required(prefix+"city", strings.TrimSpace(a.City))
	if !validCountry(a.Country) {
		v.Add(prefix+"country", "invalid", "must be an ISO 3166-1 alpha-2 code such as DE")
	}
	for field, value := range map[string]string{"contactName": a.ContactName, "companyName": a.CompanyName, "street": a.Street,
		"streetNumber": a.StreetNumber, "streetAppendix": a.StreetAppendix, "extraLine1": a.ExtraLine1, "extraLine2": a.ExtraLine2,
		"extraLine3": a.ExtraLine3, "extraLine4": a.ExtraLine4, "zipCode": a.ZipCode, "city": a.City, "state": a.State,
		"contactPhone": a.ContactPhone} {
		v.MaxLen(prefix+field, value, 255)
	}
	if len(a.Tags) > 20 {
		v.Add(prefix+"tags", "invalid", "at most 20 tags")
	}
	for _, t := range a.Tags {
		if t == "" || len(t) > 64 {
			v.Add(prefix+"tags", "invalid", "tags must have 1 to 64 characters")
			break
		}
	}
}

// AddAddress validates and adds an address. The first address becomes the default; an
// address added with isDefault takes the default from the old one.
func (s *Service) AddAddress(ctx context.Context, tenant string, id int64, a *Address) error {
	v := &identity.Validator{}
	normalizeAddress(a)
	validateAddress(v, "", a)
	if err := v.Err(); err != nil {
		return err
	}
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		existing, err := s.store.ListAddresses(ctx, tenant, id)
		if err != nil {
			return err
		}
		if len(existing) >= MaxAddresses {
			return fmt.Errorf("%w: at most %d addresses", ErrInvalid, MaxAddresses)
		}
		if len(existing) == 0 {
			a.IsDefault = true
		}
		if a.IsDefault {
			if err := s.store.ClearDefaultAddress(ctx, tenant, id); err != nil {
				return err
			}
		}
		return s.store.AddAddress(ctx, tenant, id, a)
	})
	if err != nil {
		return err
	}
	s.event(ctx, tenant, "customer.address_added", &id, map[string]any{"address": a.ID})
	return nil
}

func normalizeAddress(a *Address) {
	a.Country = strings.ToUpper(strings.TrimSpace(a.Country))
	if a.Tags == nil {
		a.Tags = []string{}
	}
	a.Tags = dedupe(a.Tags)
}

func dedupe(tags []string) []string {
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// UpdateAddress validates and writes an address (the caller applied the patch to the
// stored one). Making it the default clears the old default; un-defaulting the default
// promotes the oldest address.
func (s *Service) UpdateAddress(ctx context.Context, tenant string, id int64, a *Address, wasDefault bool) error {
	v := &identity.Validator{}
	normalizeAddress(a)
	validateAddress(v, "", a)
	if err := v.Err(); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if a.IsDefault && !wasDefault {
			if err := s.store.ClearDefaultAddress(ctx, tenant, id); err != nil {
				return err
			}
		}
		if err := s.store.UpdateAddress(ctx, tenant, id, a); err != nil {
			return err
		}
		if wasDefault && !a.IsDefault {
			return s.store.PromoteDefaultAddress(ctx, tenant, id)
		}
		return nil
	})
}

// DeleteAddress removes an address; when it was the default, the oldest remaining
// address becomes the default (none when the book is empty).
func (s *Service) DeleteAddress(ctx context.Context, tenant string, id int64, addressID string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.DeleteAddress(ctx, tenant, id, addressID); err != nil {
			return err
		}
		return s.store.PromoteDefaultAddress(ctx, tenant, id)
	})
}

// TagAddress adds (or, with remove, removes) tags of an address.
func (s *Service) TagAddress(ctx context.Context, tenant string, id int64, addressID string, tags []string, remove bool) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		a, err := s.store.GetAddress(ctx, tenant, id, addressID)
		if err != nil {
			return err
		}
		if remove {
			keep := a.Tags[:0]
			for _, t := range a.Tags {
				if !containsString(tags, t) {
					keep = append(keep, t)
				}
			}
			a.Tags = keep
		} else {
			a.Tags = append(a.Tags, tags...)
		}
		return s.UpdateAddress(ctx, tenant, id, a, a.IsDefault)
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
