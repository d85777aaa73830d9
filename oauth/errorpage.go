package oauth

// Errors of the routes a browser opens (/auth, /logout, the connector callback and the
// hosted pages): a page in plain words for a browser, with the request id to quote to
// support and, when Custodian knows the client, a link back to it; the OAuth error
// JSON (RFC 6749 §5.2) for a caller that asks for JSON. The other routes under /oauth2/
// (token, introspect, revoke, userinfo, discovery, keys) always answer JSON.

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/custodian-id/custodian/identity"
)

// wantsJSON reports whether the caller of a browser route asks for JSON rather than a
// page: its Accept names application/json (or a +json type) and not text/html. A
// browser, and a caller that states no preference, get the page.
func wantsJSON(r *http.Request) bool {
	jsonOK, htmlOK := false, false
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || zeroQ(params["q"]) {
			continue
		}
		switch {
		case mt == "text/html", mt == "application/xhtml+xml":
			htmlOK = true
		case mt == "application/json", strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
			jsonOK = true
		}
	}
	return jsonOK && !htmlOK
}

// renderError answers an error of a browser route: the error page, or the OAuth error
// JSON with code for a caller that wants JSON. view.Error is what went wrong, in plain
// words, or, with view.Code (an OAuth error code the page explains in plain words),
// the technical description.
func (p *Provider) renderError(w http.ResponseWriter, r *http.Request, status int, view page) {
	code := view.Code
	if code == "" {
		code = "invalid_request"
		if status >= http.StatusInternalServerError {
			code = "server_error"
		}
	}
	if wantsJSON(r) {
		// The JSON answer says it in English, the language of the API's errors.
		writeOAuthError(w, status, code, englishText(view.Error, view.ErrorArgs))
		return
	}
	if view.Title == "" {
		view.Title = "Error"
	}
	p.render(w, r, status, "error.html", view)
}

// noRoute answers a path or method no route of /oauth2/{tenant}/ has: the error page
// for a caller whose Accept names text/html, the OAuth error JSON otherwise.
func (p *Provider) noRoute(status int, title, msg string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptsHTML(r) {
			writeOAuthError(w, status, "invalid_request", strings.ToLower(http.StatusText(status)))
			return
		}
		p.render(w, r, status, "error.html", page{Title: title, Error: msg})
	})
}

// acceptsHTML reports whether the caller's Accept names text/html.
func acceptsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "text/html" || mt == "application/xhtml+xml") && !zeroQ(params["q"]) {
			return true
		}
	}
	return false
}

// zeroQ reports whether a media range's quality value refuses it (q=0).
func zeroQ(q string) bool {
	return q != "" && strings.Trim(strings.TrimPrefix(q, "0."), "0") == "" && strings.HasPrefix(q, "0")
}

// errorPage is the view of an error page that says msg.
func errorPage(msg string) page { return page{Error: msg} }

// clientHome is the way back to a client's site: the origin of its first registered
// redirect URI that a browser can open safely (https, or http on a loopback host), or
// "" (an app's private-use scheme, or no such URI).
func clientHome(c *Client) string {
	if c == nil {
		return ""
	}
	for _, raw := range c.RedirectURIs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.User != nil {
			continue
		}
		if u.Scheme == "https" || u.Scheme == "http" && identity.IsLoopbackHost(u.Hostname()) {
			return u.Scheme + "://" + u.Host + "/"
		}
	}
	return ""
}

// backTo sets the error page's way back to the client.
func (view *page) backTo(c *Client) {
	if home := clientHome(c); home != "" {
		view.BackURL, view.BackName = home, clientName(c)
	}
}
