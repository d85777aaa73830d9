package oauth

import (
	"errors"
	"net/http"

	"github.com/custodian-id/custodian/api/wellformed"
)

// maxFormMemory is what a multipart form may keep in memory, as fosite parses it.
const maxFormMemory = 1 << 20

// browserRoutes are the OAuth routes a browser shows: their errors are pages.
var browserRoutes = map[string]bool{"oauth.auth": true, "oauth.logout": true, "oauth.connector.callback": true,
	"oauth.signup": true, "oauth.signup.confirm": true, "oauth.password.reset": true, "oauth.password.new": true}

// wellFormed parses the form of every OAuth route before fosite does (fosite reads the
// parsed form) and refuses a query or form body that is not valid UTF-8, or that does
// not parse, with invalid_request (RFC 6749 §5.2): as JSON on the API endpoints, as an
// error page on the ones a browser visits (the login, second-factor and consent forms
// post to /auth), where a redirect_uri with such text cannot be trusted to redirect to.
func (p *Provider) wellFormed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := r.ParseMultipartForm(maxFormMemory)
		if errors.Is(err, http.ErrNotMultipart) {
			err = nil
		}
		msg := "The request could not be parsed."
		if err == nil {
			if err = wellformed.Values(r.Form); err != nil {
				msg = "Invalid request: " + err.Error() + "."
			}
		}
		if err == nil {
			next.ServeHTTP(w, r)
			return
		}
		var tooLarge *http.MaxBytesError
		status := http.StatusBadRequest
		if errors.As(err, &tooLarge) {
			status, msg = http.StatusRequestEntityTooLarge, "request body too large"
		}
		if browserRoutes[routeName(r)] && !wantsJSON(r) {
			// The page says it in the shopper's words; the JSON answer below, for a
			// caller that asks for JSON and every API route, keeps the detail.
			text := "The request is not valid."
			if status == http.StatusRequestEntityTooLarge {
				text = "The request is too large."
			}
			p.renderError(w, r, status, page{Error: text})
			return
		}
		writeOAuthError(w, status, "invalid_request", msg)
	})
}
