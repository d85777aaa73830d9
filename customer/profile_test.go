package customer_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestUpdateProfile: a patch changes what it names, merges mixins key by key, refuses a
// stale version and invalid fields, and changes nothing when it refuses.
func TestUpdateProfile(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			a := f.account(t, "jane@example.com", "correct horse battery")
			got, err := f.svc.UpdateProfile(ctx, f.tenant, a.ID, customer.ProfilePatch{FirstName: ptr(" Janet "),
				ContactEmail: ptr("janet@example.com"), Mixins: json.RawMessage(`{"prefs":{"newsletter":true,"lang":"de"}}`)})
			if err != nil {
				t.Fatal(err)
			}
			if got.FirstName != "Janet" || got.ContactEmail != "janet@example.com" || got.Version != a.Version+1 {
				t.Errorf("after the patch: %+v", got)
			}
			// A merge patch: null removes a key, other keys stay.
			got, err = f.svc.UpdateProfile(ctx, f.tenant, a.ID, customer.ProfilePatch{Version: ptr(got.Version),
				Mixins: json.RawMessage(`{"prefs":{"lang":null}}`)})
			if err != nil || string(got.Mixins) != `{"prefs":{"newsletter":true}}` {
				t.Errorf("mixins merge: %v %s", err, got.Mixins)
			}
			for _, tc := range []struct {
				name  string
				patch customer.ProfilePatch
				err   error
				field string
			}{
				{"stale version", customer.ProfilePatch{Version: ptr(1), FirstName: ptr("X")}, customer.ErrStale, ""},
				{"contact e-mail removed", customer.ProfilePatch{ContactEmail: ptr("")}, customer.ErrInvalid, "contactEmail"},
				{"contact e-mail invalid", customer.ProfilePatch{ContactEmail: ptr("not an address")}, customer.ErrInvalid, "contactEmail"},
				{"mixins not an object", customer.ProfilePatch{Mixins: json.RawMessage(`[1]`)}, customer.ErrInvalid, "mixins"},
				{"name too long", customer.ProfilePatch{LastName: ptr(string(make([]byte, 256)))}, customer.ErrInvalid, "lastName"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before, _ := f.svc.Account(ctx, "shop", a.ID)
					_, err := f.svc.UpdateProfile(ctx, f.tenant, a.ID, tc.patch)
					if !errors.Is(err, tc.err) {
						t.Fatalf("got %v, want %v", err, tc.err)
					}
					var ve *identity.ValidationError
					if tc.field != "" && (!errors.As(err, &ve) || ve.Fields[0].Field != tc.field) {
						t.Errorf("fields %+v, want %s", ve, tc.field)
					}
					after, _ := f.svc.Account(ctx, "shop", a.ID)
					if after.Version != before.Version || after.LastName != before.LastName {
						t.Errorf("a refused patch changed the profile: %+v", after)
					}
				})
			}
		})
	}
}

// TestAddressBook: the first address is the default, a new default takes over, removing
// the default promotes the oldest, and tags are a set.
func TestAddressBook(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			a := f.account(t, "jane@example.com", "correct horse battery")
			add := func(street string, isDefault bool) *customer.Address {
				f.clock.Advance(time.Second) // "oldest" is by creation time
				ad := &customer.Address{Street: street, ZipCode: "11011", City: "Berlin", Country: " de ", IsDefault: isDefault, Tags: []string{"home", "home"}}
				if err := f.svc.AddAddress(ctx, "shop", a.ID, ad); err != nil {
					t.Fatal(err)
				}
				return ad
			}
			defaults := func() []string {
				list, err := f.svc.Addresses(ctx, "shop", a.ID)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, ad := range list {
					if ad.IsDefault {
						out = append(out, ad.Street)
					}
				}
				return out
			}
			first := add("First Street", false)
			if d := defaults(); !slices.Equal(d, []string{"First Street"}) || first.Country != "DE" || !slices.Equal(first.Tags, []string{"home"}) {
				t.Errorf("first address: defaults %v, %+v", d, first)
			}
			second := add("Second Street", true)
			if d := defaults(); !slices.Equal(d, []string{"Second Street"}) {
				t.Errorf("a new default: %v", d)
			}
			add("Third Street", false)
			if err := f.svc.DeleteAddress(ctx, "shop", a.ID, second.ID); err != nil {
				t.Fatal(err)
			}
			if d := defaults(); !slices.Equal(d, []string{"First Street"}) {
				t.Errorf("after removing the default, the oldest: %v", d)
			}
			if err := f.svc.TagAddress(ctx, "shop", a.ID, first.ID, []string{"billing", "home"}, false); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.TagAddress(ctx, "shop", a.ID, first.ID, []string{"home"}, true); err != nil {
				t.Fatal(err)
			}
			if got, _ := f.svc.Address(ctx, "shop", a.ID, first.ID); !slices.Equal(got.Tags, []string{"billing"}) {
				t.Errorf("tags %v", got.Tags)
			}
			if err := f.svc.AddAddress(ctx, "shop", a.ID, &customer.Address{Street: "X", Country: "Germany"}); !errors.Is(err, customer.ErrInvalid) {
				t.Errorf("an invalid address: %v", err)
			}
			if _, err := f.svc.Address(ctx, "shop", a.ID, "no-such-address"); !errors.Is(err, customer.ErrAddressNotFound) {
				t.Errorf("a missing address: %v", err)
			}
		})
	}
}

// mailedToken is the single-use token of a reset or e-mail change mail.
var mailedToken = regexp.MustCompile(`once\):\s+([A-Za-z0-9_-]{20,})`)

// TestCredentials: password reset (answers alike for unknown addresses, the token works
// once and unlocks), password change (needs the current password, ends the other
// sessions) and e-mail change (confirmed from the new address).
func TestCredentials(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := identity.WithTenant(context.Background(), f.tenant)
			a := f.account(t, "jane@example.com", "correct horse battery")
			if err := f.svc.RequestPasswordReset(ctx, f.tenant, "nobody@example.com", "web"); err != nil {
				t.Errorf("reset for an unknown address: %v", err)
			}
			if err := f.svc.RequestPasswordReset(ctx, f.tenant, "JANE@example.com", "web"); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.SetLock(ctx, f.tenant, a.ID, true); err != nil {
				t.Fatal(err)
			}
			// The outbox runs the reset jobs, then delivers the mail they queued.
			for range 2 {
				if _, err := f.outbox.DeliverDue(ctx); err != nil {
					t.Fatal(err)
				}
			}
			m := mailedToken.FindStringSubmatch(f.smtp.WaitFor(t, "jane@example.com", 5*time.Second).Body)
			if m == nil {
				t.Fatal("no reset token mailed")
			}
			if err := f.svc.ResetPassword(ctx, f.tenant, m[1], "short"); !errors.Is(err, customer.ErrInvalid) {
				t.Errorf("a too short new password: %v", err)
			}
			if err := f.svc.ResetPassword(ctx, f.tenant, m[1], "a new password 1"); err != nil {
				t.Fatalf("reset: %v", err)
			}
			if err := f.svc.ResetPassword(ctx, f.tenant, m[1], "another password 2"); !errors.Is(err, customer.ErrInvalidToken) {
				t.Errorf("a reset token used twice: %v", err)
			}
			if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "a new password 1"); err != nil {
				t.Errorf("sign in after the reset (which unlocks): %v", err)
			}

			if err := f.svc.ChangePassword(ctx, f.tenant, a.ID, "", "wrong password", "a third password 3"); !errors.Is(err, customer.ErrInvalidCredentials) {
				t.Errorf("change with a wrong current password: %v", err)
			}
			if err := f.svc.ChangePassword(ctx, f.tenant, a.ID, "", "a new password 1", "a new password 1"); !errors.Is(err, customer.ErrInvalid) {
				t.Errorf("change to the same password: %v", err)
			}
			if err := f.svc.ChangePassword(ctx, f.tenant, a.ID, "", "a new password 1", "a third password 3"); err != nil {
				t.Fatal(err)
			}

			if err := f.svc.RequestEmailChange(ctx, f.tenant, a.ID, "other@example.com", "a third password 3", "new@example.com", true); !errors.Is(err, customer.ErrInvalid) {
				t.Errorf("e-mail change naming another current address: %v", err)
			}
			f.account(t, "taken@example.com", "correct horse battery")
			if err := f.svc.RequestEmailChange(ctx, f.tenant, a.ID, "jane@example.com", "a third password 3", "taken@example.com", true); !errors.Is(err, customer.ErrConflict) {
				t.Errorf("e-mail change to a taken address: %v", err)
			}
			if err := f.svc.RequestEmailChange(ctx, f.tenant, a.ID, "jane@example.com", "a third password 3", "new@example.com", true); err != nil {
				t.Fatal(err)
			}
			if _, err := f.outbox.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			c := mailedToken.FindStringSubmatch(f.smtp.WaitFor(t, "new@example.com", 5*time.Second).Body)
			if c == nil {
				t.Fatal("no e-mail change token mailed")
			}
			if err := f.svc.ConfirmEmailChange(ctx, f.tenant, c[1]); err != nil {
				t.Fatal(err)
			}
			got, _ := f.svc.Account(ctx, "shop", a.ID)
			if got.Email != "new@example.com" || got.ContactEmail != "new@example.com" || !got.EmailVerified {
				t.Errorf("after the e-mail change: %+v", got)
			}
			if _, err := f.svc.Login(ctx, f.tenant, "new@example.com", "a third password 3"); err != nil {
				t.Errorf("sign in with the new address: %v", err)
			}
		})
	}
}

// TestStatusAndMemberships: an admin deactivates and holds accounts, and assigns B2B
// memberships; RequireMember checks them.
func TestStatusAndMemberships(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	ctx := context.Background()
	a := f.account(t, "jane@example.com", "correct horse battery")
	if err := f.svc.AddMembership(ctx, "shop", a.ID, customer.Membership{AccountID: " "}); !errors.Is(err, customer.ErrInvalid) {
		t.Errorf("a membership without an account: %v", err)
	}
	if err := f.svc.AddMembership(ctx, "shop", a.ID, customer.Membership{AccountID: "acct-1", Name: "ACME"}); err != nil {
		t.Fatal(err)
	}
	for member, want := range map[string]error{"": nil, "acct-1": nil, "acct-2": customer.ErrNotMember} {
		if err := f.svc.RequireMember(ctx, "shop", a.ID, member); !errors.Is(err, want) {
			t.Errorf("RequireMember(%q) = %v, want %v", member, err, want)
		}
	}
	got, err := f.svc.SetStatus(ctx, "shop", a.ID, nil, ptr(true))
	if err != nil || !got.OnHold || !got.Active {
		t.Fatalf("hold: %v %+v", err, got)
	}
	if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery"); !errors.Is(err, customer.ErrInactive) {
		t.Errorf("sign in on hold: %v", err)
	}
	if got.AccountType(f.tenant.Settings) != "B2B" {
		t.Errorf("a member is B2B: %s", got.AccountType(f.tenant.Settings))
	}
	if _, err := f.svc.UpdateExternalFields(ctx, "shop", a.ID, customer.ExternalFields{Notes: json.RawMessage(`{}`)}); !errors.Is(err, customer.ErrInvalid) {
		t.Errorf("notes that are not an array: %v", err)
	}
	got, err = f.svc.UpdateExternalFields(ctx, "shop", a.ID, customer.ExternalFields{Segments: json.RawMessage(`["vip"]`)})
	if err != nil || string(got.Segments) != `["vip"]` {
		t.Errorf("segments: %v %s", err, got.Segments)
	}
}
