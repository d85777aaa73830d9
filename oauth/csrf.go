package oauth

// CSRF tokens of the browser flow's forms (and of the customer login API's not-me page):
// a random cookie, and the form field its HMAC under the tenant.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
)

func (p *Provider) randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// csrfToken returns the form token of the login pages for this browser.
func (p *Provider) csrfToken(w http.ResponseWriter, r *http.Request, tenant string) (string, error) {
	return p.FormCSRF(w, r, tenant, "/oauth2/"+tenant+"/")
}

// FormCSRF returns the form token for this browser of a page under path, setting the
// CSRF cookie (scoped to path) when the browser has none. The token is an HMAC of the
// cookie (double-submit, signed), so a cross-site page can neither read nor forge it.
// Every HTML form Custodian serves uses it; CheckFormCSRF checks the post.
func (p *Provider) FormCSRF(w http.ResponseWriter, r *http.Request, tenant, path string) (string, error) {
	var v string
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		v = c.Value
	} else {
		nv, err := p.randomToken(32)
		if err != nil {
			return "", err
		}
		v = nv
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: path,
			HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	}
	return p.csrfFor(v, tenant), nil
}

func (p *Provider) csrfFor(cookie, tenant string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte(tenant + "|" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (p *Provider) checkCSRF(r *http.Request, tenant string) bool { return p.CheckFormCSRF(r, tenant) }

// CheckFormCSRF reports whether a parsed form post carries the csrf_token of
// FormCSRF for the browser's cookie.
func (p *Provider) CheckFormCSRF(r *http.Request, tenant string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	want := p.csrfFor(c.Value, tenant)
	return hmac.Equal([]byte(want), []byte(r.PostForm.Get("csrf_token")))
}
