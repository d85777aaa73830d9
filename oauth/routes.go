package oauth

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/i18n"
	"github.com/custodian-id/custodian/identity"
)

// Register mounts every OAuth 2.0 / OpenID Connect route of CONTRACT.md §1 on r.
// outer are the middlewares of the router r belongs to (the request id, the log line,
// the metrics): gorilla/mux runs a router's middlewares only for a route that matched,
// so the answers to a path or method no route under /oauth2/{tenant}/ has are wrapped
// in them here.
func (p *Provider) Register(r *mux.Router, outer ...mux.MiddlewareFunc) {
	guard := api.Dialect(p.failRoute).Guard(p.maxBody, p.log)
	r.Handle("/.well-known/oauth-authorization-server/oauth2/{tenant:"+identity.TenantPattern+"}",
		guard(p.withTenant(http.HandlerFunc(p.discovery)))).Methods(http.MethodGet).Name("oauth.metadata")

	t := r.PathPrefix("/oauth2/{tenant:" + identity.TenantPattern + "}").Subrouter()
	t.Use(guard, p.withTenant, p.wellFormed, p.withLocale)
	t.HandleFunc("/.well-known/openid-configuration", p.discovery).Methods(http.MethodGet).Name("oauth.discovery")
	t.HandleFunc("/jwks.json", p.jwks).Methods(http.MethodGet).Name("oauth.jwks")
	t.HandleFunc("/auth", p.authorize).Methods(http.MethodGet, http.MethodPost).Name("oauth.auth")
	t.HandleFunc("/token", p.token).Methods(http.MethodPost).Name("oauth.token")
	t.HandleFunc("/introspect", p.introspect).Methods(http.MethodPost).Name("oauth.introspect")
	t.HandleFunc("/revoke", p.revoke).Methods(http.MethodPost).Name("oauth.revoke")
	t.HandleFunc("/userinfo", p.userinfo).Methods(http.MethodGet, http.MethodPost).Name("oauth.userinfo")
	t.HandleFunc("/logout", p.logout).Methods(http.MethodGet, http.MethodPost).Name("oauth.logout")
	t.HandleFunc("/signup", p.signupPage).Methods(http.MethodGet, http.MethodPost).Name("oauth.signup")
	t.HandleFunc("/signup/confirm", p.signupConfirmPage).Methods(http.MethodGet, http.MethodPost).Name("oauth.signup.confirm")
	t.HandleFunc("/password/reset", p.passwordResetPage).Methods(http.MethodGet, http.MethodPost).Name("oauth.password.reset")
	t.HandleFunc("/password/new", p.passwordNewPage).Methods(http.MethodGet, http.MethodPost).Name("oauth.password.new")
	t.HandleFunc("/connectors/{id}/callback", p.connectorCallback).Methods(http.MethodGet).Name("oauth.connector.callback")
	// Any other path or method under /oauth2/{tenant}/: a page for a browser, the OAuth
	// error JSON for everyone else.
	t.NotFoundHandler = wrap(p.noRoute(http.StatusNotFound, "Page not found", "There is no such page."), outer...)
	t.MethodNotAllowedHandler = wrap(p.noRoute(http.StatusMethodNotAllowed, "Error", "This page cannot be used this way."), outer...)
}

// wrap applies middlewares to h, the first outermost.
func wrap(h http.Handler, mw ...mux.MiddlewareFunc) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// withTenant loads the tenant named in the path into the request context; an unknown
// tenant is a 404 in the OAuth error shape, and a 404 page on the browser routes.
func (p *Provider) withTenant(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := mux.Vars(r)["tenant"]
		t, err := p.store.GetTenant(r.Context(), name)
		if errors.Is(err, identity.ErrNotFound) {
			if browserRoutes[routeName(r)] {
				p.renderError(w, r, http.StatusNotFound, page{Title: "Page not found",
					Error: "This sign-in page does not exist. Please check the address."})
				return
			}
			writeOAuthError(w, http.StatusNotFound, "invalid_request", "unknown tenant")
			return
		}
		if err != nil && api.Unavailable(err) {
			p.log.ErrorContext(r.Context(), "load tenant", "tenant", name, "err", err)
			if browserRoutes[routeName(r)] {
				api.SetRetryAfter(w, api.UnavailableRetryAfter)
				p.render(w, r, http.StatusServiceUnavailable, "error.html", page{Title: "Temporarily unavailable",
					Error: "Signing in is temporarily unavailable. Please try again in a moment."})
				return
			}
			writeUnavailable(w, "the tenant could not be loaded; try again")
			return
		}
		if err != nil {
			p.log.ErrorContext(r.Context(), "load tenant", "tenant", name, "err", err)
			writeOAuthError(w, http.StatusInternalServerError, "server_error", "the server could not load the tenant")
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.WithTenant(r.Context(), t)))
	})
}

// withLocale puts the page's language into the request's context, for the mails the
// request causes (a code, an opt-in link, a reset link). It runs after wellFormed: a
// hosted page's form carries the language (ui_locales, or the authorization request
// it returns to) in its body.
func (p *Provider) withLocale(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag := pageLocale(r, identity.TenantFromContext(r.Context()), "").Tag()
		next.ServeHTTP(w, r.WithContext(i18n.WithLocale(r.Context(), tag)))
	})
}

// failRoute answers what the guard of the OAuth routes refuses, in the OAuth error shape
// (RFC 6749 §5.2): a body over the limit, and a panic. The endpoints answer their own
// errors through fosite's writers and writeOAuthError.
func (p *Provider) failRoute(w http.ResponseWriter, r *http.Request, err error) {
	asPage := browserRoutes[routeName(r)] && !wantsJSON(r) // a browser's route: an error page
	if api.IsTooLarge(err) {
		if asPage {
			p.renderError(w, r, http.StatusRequestEntityTooLarge, errorPage("The form was too large to send."))
			return
		}
		writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "request body too large")
		return
	}
	p.log.ErrorContext(r.Context(), "oauth route", "err", err)
	if asPage {
		p.renderError(w, r, http.StatusInternalServerError, errorPage("Something went wrong on our side. Please try again later."))
		return
	}
	api.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
}

// pathVar reads a variable of the matched route's path.
func pathVar(r *http.Request, name string) string { return mux.Vars(r)[name] }

// routeName is the name of the matched route, or "".
func routeName(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		return rt.GetName()
	}
	return ""
}
