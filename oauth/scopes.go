package oauth

import "slices"

// Scopes of the customer self-service API (/customer/{tenant}/me…). They are names of
// the seed's customer role (CustomerScopes), whose meaning they keep, so tokens of the
// ticket and login APIs carry them already and validateauthtoken answers the same list
// as before. A third-party client asks for them at the authorization endpoint; the
// consent page names them in the words of scopeDescriptions.
const (
	// ScopeProfileView reads the profile and the address book.
	ScopeProfileView = "customer.customerprofile_view"
	// ScopeProfileEdit changes the profile and the address book.
	ScopeProfileEdit = "customer.customerprofile_edit"
	// ScopeAccountManage manages the account's security settings: second factors,
	// devices, password, e-mail address, linked sign-ins, export and erasure. These
	// also need a first-party token, whatever its scopes.
	ScopeAccountManage = "customer.customer_manage_own"
)

// scopeDescriptions say, for the consent page, what a scope lets a client do.
var scopeDescriptions = map[string]string{
	"openid":           "Know who you are (your customer number at this shop)",
	"profile":          "See your name",
	"email":            "See your e-mail address",
	"offline_access":   "Stay connected to your account while you are away",
	ScopeProfileView:   "See your profile and address book",
	ScopeProfileEdit:   "Change your profile and address book",
	ScopeAccountManage: "Manage your account's security: sign-in, two-step verification, devices, data export and deletion",
}

// ScopeDescription is what the consent page says about a scope: its description, or
// the scope itself when Custodian has none (a scope the tenant defined for its clients).
func ScopeDescription(scope string) string {
	if d, ok := scopeDescriptions[scope]; ok {
		return d
	}
	return scope
}

// describeScopes lists the descriptions of scopes in order, each once.
func describeScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if d := ScopeDescription(s); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}
