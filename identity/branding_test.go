package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestBrandingSettings(t *testing.T) {
	s := DefaultSettings()
	good := map[string]string{
		"branding.display_name":          "Müller & Söhne",
		"branding.logo_url":              "https://cdn.example.com/logo.svg",
		"branding.primary_color":         "#0A58CA",
		"branding.support_url":           "https://shop.example.com/help",
		"branding.privacy_url":           "https://shop.example.com/privacy",
		"branding.terms_url":             "https://shop.example.com/terms",
		"branding.default_locale":        "de",
		"branding.text.login_heading":    "Welcome back",
		"branding.text.login_heading.de": "Willkommen zurück",
	}
	for k, v := range good {
		if err := s.Set(k, v); err != nil {
			t.Errorf("Set(%s, %q): %v", k, v, err)
		}
	}
	if got := s.Branding.Text("login_heading", "de"); got != "Willkommen zurück" {
		t.Errorf("German heading: %q", got)
	}
	if got := s.Branding.Text("login_heading", "fr"); got != "Welcome back" {
		t.Errorf("heading for every language: %q", got)
	}
	if got := s.Branding.LogoOrigin(); got != "https://cdn.example.com" {
		t.Errorf("logo origin: %q", got)
	}
	bad := map[string]string{
		"branding.primary_color":       "#ffcc00", // 1.6:1 on white
		"branding.logo_url":            "http://cdn.example.com/logo.svg",
		"branding.support_url":         "javascript:alert(1)",
		"branding.privacy_url":         "https://user:pw@example.com/",
		"branding.default_locale":      "pt",
		"branding.display_name":        "line\nbreak",
		"branding.text.logout_heading": strings.Repeat("x", MaxBrandText+1),
	}
	for k, v := range bad {
		err := s.Set(k, v)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Set(%s, %q) = %v, want ErrInvalid", k, v, err)
		}
	}
	// Only a plain host reaches the CSP's img-src: no directive, policy, keyword or
	// wildcard can ride along in the logo's origin.
	for _, u := range []string{"https://cdn.example.com;script-src/x.png", "https://cdn.example.com,x/x.png",
		"https://cdn.example.com'unsafe-inline'/x.png", "https://*.example.com/x.png", "https://cdn.example.com:99999/x.png",
		"https://cdn.example.com:/x.png", "https://cdn.example.com:0/x.png", "https://cdn_example.com/x.png"} {
		if err := s.Set("branding.logo_url", u); !errors.Is(err, ErrInvalid) {
			t.Errorf("logo %q accepted (origin %q)", u, s.Branding.LogoOrigin())
		}
	}
	for _, u := range []string{"https://cdn.example.com:8443/x.png", "https://[2001:db8::1]/x.png", "https://192.0.2.7/x.png", "https://CDN.Example.com/x.png"} {
		if err := s.Set("branding.logo_url", u); err != nil {
			t.Errorf("logo %q refused: %v", u, err)
		}
	}
	if err := s.Set("branding.logo_url", "https://cdn.example.com/logo.svg"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"#fff", "0a58ca", "#0a58cg", "red"} {
		if err := s.Set("branding.primary_color", c); !errors.Is(err, ErrInvalid) {
			t.Errorf("colour %q accepted", c)
		}
	}
	if s.Branding.PrimaryColor != "#0A58CA" {
		t.Errorf("a refused value changed the setting: %q", s.Branding.PrimaryColor)
	}
	if err := s.Set("branding.logo_url", ""); err != nil || s.Branding.LogoOrigin() != "" {
		t.Errorf("clearing the logo: %v", err)
	}
}

func TestBrandColors(t *testing.T) {
	// Dark blue: white text.
	c, err := Colors("#0a58ca")
	if err != nil || c.AccentInk != "#ffffff" {
		t.Fatalf("#0a58ca: %+v %v", c, err)
	}
	// A mid green that stands out 3:1 from white but gives white text less than 4.5:1:
	// the text turns near black.
	c, err = Colors("#2e8540")
	if err != nil {
		t.Fatalf("#2e8540: %v", err)
	}
	for _, pair := range [][2]string{{c.Accent, c.AccentInk}, {c.Hover, c.HoverInk}} {
		r, _ := ContrastRatio(pair[0], pair[1])
		if r < MinTextContrast {
			t.Errorf("%s on %s: %.2f:1", pair[1], pair[0], r)
		}
	}
	if r, _ := ContrastRatio(c.Link, "#f3f4f6"); r < MinTextContrast {
		t.Errorf("link %s on the page: %.2f:1", c.Link, r)
	}
	if r, _ := ContrastRatio("#c7c7cc", "#ffffff"); r > 1.7 || r < 1.6 {
		t.Errorf("contrast of #c7c7cc on white = %.2f, want 1.68", r)
	}
	// A grey too light for the page or for either ink is refused.
	if _, err := Colors("#6b7f8f"); err == nil {
		t.Error("#6b7f8f accepted")
	}
}
