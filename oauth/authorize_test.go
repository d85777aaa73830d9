package oauth

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/ory/fosite"
)

func TestAuthorizeErrorIsRegistered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		code   string
		status int
	}{
		{"registered stays", fosite.ErrLoginRequired, "login_required", http.StatusBadRequest},
		{"invalid_state", fosite.ErrInvalidState.WithHint("too short"), "invalid_request", http.StatusBadRequest},
		{"insufficient_entropy", fosite.ErrInsufficientEntropy, "invalid_request", http.StatusBadRequest},
		{"unsupported_response_mode", fosite.ErrUnsupportedResponseMode, "invalid_request", http.StatusBadRequest},
		{"misconfiguration", fosite.ErrMisconfiguration, "server_error", http.StatusInternalServerError},
		{"plain error", http.ErrBodyNotAllowed, "server_error", http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := authorizeError(tc.err)
			if got.ErrorField != tc.code || got.CodeField != tc.status {
				t.Errorf("%s %d, want %s %d", got.ErrorField, got.CodeField, tc.code, tc.status)
			}
			if !slices.Contains(registeredAuthorizeErrors, got.ErrorField) || got.GetDescription() == "" {
				t.Errorf("%+v", got)
			}
		})
	}
	// The hint survives the new code.
	if got := authorizeError(fosite.ErrInvalidState.WithHint("State too short.")); got.HintField != "State too short." {
		t.Errorf("hint %q", got.HintField)
	}
}

func TestCheckPKCE(t *testing.T) {
	public, confidential := &Client{Public: true}, &Client{}
	good := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" // RFC 7636 Appendix B
	for _, tc := range []struct {
		name   string
		client *Client
		form   url.Values
		ok     bool
	}{
		{"S256", public, url.Values{"code_challenge": {good}, "code_challenge_method": {"S256"}}, true},
		{"public without PKCE", public, url.Values{}, false},
		{"confidential without PKCE", confidential, url.Values{}, true},
		{"plain", confidential, url.Values{"code_challenge": {good}, "code_challenge_method": {"plain"}}, false},
		{"no method", confidential, url.Values{"code_challenge": {good}}, false},
		{"too short", public, url.Values{"code_challenge": {good[:42]}, "code_challenge_method": {"S256"}}, false},
		{"padded", public, url.Values{"code_challenge": {good[:42] + "="}, "code_challenge_method": {"S256"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkPKCE(tc.client, tc.form); (err == nil) != tc.ok {
				t.Errorf("checkPKCE: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
