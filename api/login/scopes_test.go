package login

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/custodian-id/custodian/oauth"
)

// TestMeRulesCoverEveryRoute: every self-service route has a rule in meRules, every
// rule names a registered route, and security settings need a first-party token.
func TestMeRulesCoverEveryRoute(t *testing.T) {
	r := mux.NewRouter()
	(&API{}).Register(r)
	(&API{}).RegisterAdmin(r, func(h http.Handler) http.Handler { return h })
	registered := map[string]bool{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil || route.GetName() == "" {
			return nil
		}
		registered[route.GetName()] = true
		self := strings.Contains(tmpl, "}/me") || strings.HasSuffix(tmpl, "/password/change")
		if _, ok := meRules[route.GetName()]; self && !ok {
			t.Errorf("self-service route %s (%s) has no rule in meRules", route.GetName(), tmpl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	security := []string{"me.delete", "me.export", "me.accounts.unlink", "me.devices", "me.devices.delete", "me.2fa", "me.2fa.set",
		"me.2fa.totp.start", "me.2fa.totp.confirm", "me.2fa.totp.remove", "me.2fa.recovery", "password.change", "email.change"}
	for name, rule := range meRules {
		if !registered[name] {
			t.Errorf("meRules names %s, which is not a registered route", name)
		}
		if (rule.scope == "") == (rule.credential == "") {
			t.Errorf("%s: a rule has either a scope or another credential: %+v", name, rule)
		}
	}
	for _, name := range security {
		if rule := meRules[name]; !rule.firstParty || rule.scope != oauth.ScopeAccountManage {
			t.Errorf("%s is a security setting: %+v", name, rule)
		}
	}
}
