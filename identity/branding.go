package identity

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Branding is how a tenant's hosted pages and mails look and read: the shop's name,
// logo, colour, links and headings (the branding.* settings). Zero values mean
// Custodian's own look.
type Branding struct {
	DisplayName   string `json:"display_name,omitempty"`
	LogoURL       string `json:"logo_url,omitempty"`
	PrimaryColor  string `json:"primary_color,omitempty"`
	SupportURL    string `json:"support_url,omitempty"`
	PrivacyURL    string `json:"privacy_url,omitempty"`
	TermsURL      string `json:"terms_url,omitempty"`
	DefaultLocale string `json:"default_locale,omitempty"`
	// Texts are the tenant's own headings: "login_heading" for every language, or
	// "login_heading.de" for one (which wins over the one for every language).
	Texts map[string]string `json:"texts,omitempty"`
}

// Locales are the languages of the hosted pages and mails (the i18n catalog's), as
// branding.default_locale takes them.
var Locales = []string{"en", "de", "fr", "es"}

// BrandTextKeys name the headings a tenant may replace, each under
// branding.text.<name> (every language) and branding.text.<name>.<locale>.
var BrandTextKeys = []string{"login_heading", "twofactor_heading", "consent_heading", "logout_heading", "signed_out_heading", "signup_heading", "reset_heading"}

// MaxBrandText is the longest heading a tenant may set, in characters.
const MaxBrandText = 120

// Text returns the tenant's heading name in a language ("" when it set none).
func (b Branding) Text(name, locale string) string {
	if v := b.Texts[name+"."+locale]; v != "" {
		return v
	}
	return b.Texts[name]
}

// Name is what a shopper reads as the shop's name: the display name, or the tenant's
// name when it set none.
func (b Branding) Name(tenant string) string {
	if b.DisplayName != "" {
		return b.DisplayName
	}
	return tenant
}

// LogoOrigin is the origin of the logo (scheme://host[:port]), the one image source
// the pages' Content-Security-Policy allows; "" without a logo.
func (b Branding) LogoOrigin() string {
	if b.LogoURL == "" {
		return ""
	}
	u, err := url.Parse(b.LogoURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// The colours of the pages the brand colour has to work with (templates/layout.html):
// the card and the page behind it, and the two inks a button's text can take.
const (
	cardColor = "#ffffff"
	pageColor = "#f3f4f6"
	lightInk  = "#ffffff"
	darkInk   = "#1d1d1f"
)

// Contrast thresholds of WCAG 2.2 AA: 3:1 for the parts of controls and focus
// indicators (1.4.11), 4.5:1 for text of normal size (1.4.3).
const (
	MinControlContrast = 3.0
	MinTextContrast    = 4.5
)

// BrandColors are the colours a page derives from the brand colour.
type BrandColors struct {
	Accent      string // buttons, focus ring, check marks
	AccentInk   string // the text on Accent
	Hover       string // buttons under the pointer (the accent, darker)
	HoverInk    string // the text on Hover
	Link        string // links on the card: the accent, darkened until it reads 4.5:1
	AccentRatio float64
}

// Colors derives the page colours from a #rrggbb brand colour under the rule of
// branding.primary_color: the colour must stand out 3:1 from the card and the page
// (it draws the buttons and the focus ring), and the button text is white or near
// black, whichever contrasts more, at least 4.5:1. A colour that cannot meet both is
// refused, never silently changed.
func Colors(hex string) (BrandColors, error) {
	c, err := parseHex(hex)
	if err != nil {
		return BrandColors{}, err
	}
	card, _ := parseHex(cardColor)
	page, _ := parseHex(pageColor)
	if r := min(contrast(c, card), contrast(c, page)); r < MinControlContrast {
		return BrandColors{}, fmt.Errorf("%s stands out only %.2f:1 from the page's light background; buttons and the focus ring need at least 3:1 (WCAG 2.2 1.4.11): choose a darker colour", hex, r)
	}
	ink, ratio := readableInk(c)
	if ratio < MinTextContrast {
		return BrandColors{}, fmt.Errorf("%s gives button text only %.2f:1 with white or black; text needs at least 4.5:1 (WCAG 2.2 1.4.3): choose a darker colour", hex, ratio)
	}
	h := [3]float64{c[0] * 0.82, c[1] * 0.82, c[2] * 0.82}
	hink, hratio := readableInk(h)
	out := BrandColors{Accent: strings.ToLower(hex), AccentInk: ink, Hover: toHex(h), HoverInk: hink, AccentRatio: ratio}
	if hratio < MinTextContrast {
		out.Hover, out.HoverInk = out.Accent, out.AccentInk
	}
	// Links are text on the card and the page: the accent when it reads 4.5:1 there,
	// else the accent darkened step by step until it does (black at the latest).
	l := c
	for min(contrast(l, card), contrast(l, page)) < MinTextContrast {
		l = [3]float64{l[0] * 0.9, l[1] * 0.9, l[2] * 0.9}
	}
	out.Link = toHex(l)
	return out, nil
}

// ContrastRatio is the WCAG contrast ratio of two #rrggbb colours (1 to 21).
func ContrastRatio(a, b string) (float64, error) {
	ca, err := parseHex(a)
	if err != nil {
		return 0, err
	}
	cb, err := parseHex(b)
	if err != nil {
		return 0, err
	}
	return contrast(ca, cb), nil
}

func readableInk(c [3]float64) (string, float64) {
	light, _ := parseHex(lightInk)
	dark, _ := parseHex(darkInk)
	if l, d := contrast(c, light), contrast(c, dark); l >= d {
		return lightInk, l
	} else {
		return darkInk, d
	}
}

// parseHex reads #rrggbb into 0..255 channels.
func parseHex(s string) ([3]float64, error) {
	var c [3]float64
	if len(s) != 7 || s[0] != '#' {
		return c, fmt.Errorf("want a colour as #rrggbb, got %q", s)
	}
	for i := range 3 {
		v, err := strconv.ParseUint(s[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return c, fmt.Errorf("want a colour as #rrggbb, got %q", s)
		}
		c[i] = float64(v)
	}
	return c, nil
}

func toHex(c [3]float64) string {
	return fmt.Sprintf("#%02x%02x%02x", int(math.Round(c[0])), int(math.Round(c[1])), int(math.Round(c[2])))
}

// luminance is the relative luminance of WCAG 2.2.
func luminance(c [3]float64) float64 {
	var l [3]float64
	for i, v := range c {
		s := v / 255
		if s <= 0.04045 {
			l[i] = s / 12.92
		} else {
			l[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}

func contrast(a, b [3]float64) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// brandURL checks a link or logo address of the branding: https, a host, no user
// information, at most 2048 bytes.
func brandURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(v) > 2048 || u.Opaque != "" {
		return fmt.Errorf("want an https URL without user information, got %q", v)
	}
	if !plainHost(u) {
		return fmt.Errorf("want an https URL with a plain host (a DNS name or an IP address, and a port number), got %q", v)
	}
	return nil
}

// plainHost reports whether a URL's host is a DNS name (letters, digits, hyphens and
// dots) or an IP address, with at most a port number: nothing else may reach the
// Content-Security-Policy, where the logo's origin becomes img-src (a ";" or "," would
// start another directive or policy, a quote a keyword, a "*" a wildcard).
func plainHost(u *url.URL) bool {
	host := u.Hostname()
	if host == "" {
		return false
	}
	if ip, err := netip.ParseAddr(host); err != nil || ip.Zone() != "" {
		for _, r := range host {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
				return false
			}
		}
	} else if strings.Contains(host, ":") != strings.HasPrefix(u.Host, "[") {
		return false
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return false
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return false
	}
	return true
}

// brandText checks a display name or heading: at most max characters of printable
// text on one line.
func brandText(v string, max int) error {
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > max {
		return fmt.Errorf("want at most %d characters of text", max)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("want printable text on one line, got %q", v)
		}
	}
	return nil
}

// brandingSettings are the branding.* keys of settingKeys.
func brandingSettings() map[string]setting {
	str := func(doc string, field func(*Branding) *string, check func(string) error) setting {
		return setting{
			doc: doc,
			set: func(s *Settings, v string) error {
				if v != "" {
					if err := check(v); err != nil {
						return err
					}
				}
				*field(&s.Branding) = v
				return nil
			},
			get: func(s *Settings) string { return *field(&s.Branding) },
		}
	}
	out := map[string]setting{
		"branding.display_name": str("the shop's name on the hosted pages and in mails, instead of the tenant's name (at most 80 characters)",
			func(b *Branding) *string { return &b.DisplayName }, func(v string) error { return brandText(v, 80) }),
		"branding.logo_url": str("https URL of the logo on the hosted pages; its origin becomes the pages' only img-src",
			func(b *Branding) *string { return &b.LogoURL }, brandURL),
		"branding.primary_color": str("#rrggbb of buttons and the focus ring: at least 3:1 against the page and 4.5:1 with white or black text, else refused",
			func(b *Branding) *string { return &b.PrimaryColor }, func(v string) error { _, err := Colors(strings.ToLower(v)); return err }),
		"branding.support_url": str("https URL of the shop's help, linked from every page",
			func(b *Branding) *string { return &b.SupportURL }, brandURL),
		"branding.privacy_url": str("https URL of the shop's privacy notice, linked from every page",
			func(b *Branding) *string { return &b.PrivacyURL }, brandURL),
		"branding.terms_url": str("https URL of the shop's terms, linked from every page",
			func(b *Branding) *string { return &b.TermsURL }, brandURL),
		"branding.default_locale": str("language of pages and mails when neither ui_locales, Accept-Language nor the customer's language names a supported one: "+strings.Join(Locales, ", "),
			func(b *Branding) *string { return &b.DefaultLocale }, func(v string) error {
				if !slices.Contains(Locales, v) {
					return fmt.Errorf("want one of %s, got %q", strings.Join(Locales, ", "), v)
				}
				return nil
			}),
	}
	for _, name := range BrandTextKeys {
		for _, loc := range append([]string{""}, Locales...) {
			key, doc := name, "the tenant's own "+strings.ReplaceAll(name, "_", " ")+" in every language (empty: Custodian's, translated)"
			if loc != "" {
				key, doc = name+"."+loc, "the tenant's own "+strings.ReplaceAll(name, "_", " ")+" in "+loc+" (wins over branding.text."+name+")"
			}
			out["branding.text."+key] = setting{
				doc: doc,
				set: func(s *Settings, v string) error {
					if err := brandText(v, MaxBrandText); err != nil {
						return err
					}
					if v == "" {
						delete(s.Branding.Texts, key)
						return nil
					}
					if s.Branding.Texts == nil {
						s.Branding.Texts = map[string]string{}
					}
					s.Branding.Texts[key] = v
					return nil
				},
				get: func(s *Settings) string { return s.Branding.Texts[key] },
			}
		}
	}
	return out
}
