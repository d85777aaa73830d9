package oauth

import (
	"html/template"
	"net/http"
	"time"

	"golang.org/x/text/unicode/bidi"

	"github.com/custodian-id/custodian/i18n"
	"github.com/custodian-id/custodian/identity"
)

// The hosted pages' language and branding: every page is rendered in the language
// the request chose (pageLocale) under the tenant's branding (brandView), with a
// Content-Security-Policy that allows the tenant's logo origin and nothing else.

// brandView is what a page shows of the tenant's branding.
type brandView struct {
	Name       string // the display name, or the tenant's name
	Named      bool   // the tenant set a display name
	LogoURL    string
	SupportURL string
	PrivacyURL string
	TermsURL   string
	Colors     *identity.BrandColors // nil: Custodian's own colours
	texts      identity.Branding
}

// HasLinks reports whether the page's footer links anywhere.
func (b brandView) HasLinks() bool {
	return b.SupportURL != "" || b.PrivacyURL != "" || b.TermsURL != ""
}

func newBrandView(t *identity.Tenant) brandView {
	if t == nil {
		return brandView{}
	}
	b := t.Settings.Branding
	v := brandView{Name: b.Name(t.Name), Named: b.DisplayName != "", LogoURL: b.LogoURL, SupportURL: b.SupportURL, PrivacyURL: b.PrivacyURL,
		TermsURL: b.TermsURL, texts: b}
	if b.PrimaryColor != "" {
		if c, err := identity.Colors(b.PrimaryColor); err == nil {
			v.Colors = &c
		}
	}
	return v
}

// pageLocale is the language of a page: ui_locales of the request (kept in the
// address of every form of the flow, and in the authorization request a hosted page
// returns to), then Accept-Language, then the tenant's branding.default_locale, then
// English.
func pageLocale(r *http.Request, t *identity.Tenant, action string) *i18n.Printer {
	def := ""
	if t != nil {
		def = t.Settings.Branding.DefaultLocale
	}
	return i18n.NewPrinter(i18n.Negotiate(uiLocales(r, action), r.Header.Get("Accept-Language"), def))
}

// maxUILocales bounds the ui_locales a page carries on to its forms and links.
const maxUILocales = 100

// uiLocales is the ui_locales of a request: its own (query or form), else that of the
// address its page posts to (a page answered at another address, such as the social
// sign-in's callback, posts back to the authorization request), else that of the
// authorization request a hosted page returns to (the sign-up and reset pages carry
// it in return).
func uiLocales(r *http.Request, action string) string {
	ui := r.URL.Query().Get("ui_locales")
	if ui == "" && r.Form != nil {
		ui = r.Form.Get("ui_locales")
	}
	for _, raw := range []string{action, returnParam(r)} {
		if ui != "" {
			break
		}
		ui = uiLocalesOf(raw)
	}
	return ui
}

// returnParam is the return parameter of a hosted page's request ("" for none).
func returnParam(r *http.Request) string {
	if r.Form != nil {
		return r.Form.Get("return")
	}
	return r.URL.Query().Get("return")
}

// T prints a text of the catalog in the page's language.
func (p page) T(key string, args ...any) string {
	if p.tr == nil {
		return i18n.NewPrinter(i18n.English).T(key, args...)
	}
	return p.tr.T(key, args...)
}

// TStrong prints a text whose one argument is shown in bold.
func (p page) TStrong(key, arg string) template.HTML {
	tr := p.tr
	if tr == nil {
		tr = i18n.NewPrinter(i18n.English)
	}
	return tr.HTML(key, template.HTML("<strong>"+template.HTMLEscapeString(arg)+"</strong>"))
}

// TStrongID is TStrong with an id on the bold argument (for tests and links).
func (p page) TStrongID(key, id, arg string) template.HTML {
	tr := p.tr
	if tr == nil {
		tr = i18n.NewPrinter(i18n.English)
	}
	return tr.HTML(key, template.HTML(`<strong id="`+template.HTMLEscapeString(id)+`">`+template.HTMLEscapeString(arg)+"</strong>"))
}

// Heading is the page's main heading: the tenant's own text for it in the page's
// language (branding.text.<name>), or the catalog's text of key.
func (p page) Heading(name, key string) string {
	if v := p.Brand.texts.Text(name, p.Lang); v != "" {
		return v
	}
	return p.T(key)
}

// Duration writes a duration for people in the page's language.
func (p page) Duration(d time.Duration) string {
	tr := p.tr
	if tr == nil {
		tr = i18n.NewPrinter(i18n.English)
	}
	return tr.Duration(d)
}

// pageCSPFor is the Content-Security-Policy of a page of a tenant: pageCSP, and the
// logo's origin as the only image source when the tenant has a logo.
func pageCSPFor(t *identity.Tenant) string {
	if t == nil {
		return pageCSP
	}
	if o := t.Settings.Branding.LogoOrigin(); o != "" {
		return pageCSP + "; img-src " + o
	}
	return pageCSP
}

// isolate wraps a name that has right-to-left letters (an Arabic or Hebrew shop or
// client name) in Unicode's first-strong isolate (U+2068 … U+2069), so that in a
// left-to-right sentence it keeps its own order and does not pull its neighbours (a
// number, a question mark) into it. Other names are returned as they are.
func isolate(name string) string {
	for _, r := range name {
		if c := bidiClass(r); c == bidi.R || c == bidi.AL {
			return "\u2068" + name + "\u2069"
		}
	}
	return name
}

func bidiClass(r rune) bidi.Class {
	p, _ := bidi.LookupRune(r)
	return p.Class()
}

// localize fills in a page's language and branding for the request.
func (p *Provider) localize(r *http.Request, data *page) {
	t := identity.TenantFromContext(r.Context())
	tr := pageLocale(r, t, data.Action)
	data.tr, data.Lang, data.Brand = tr, tr.Code(), newBrandView(t)
	if data.Brand.Name == "" {
		data.Brand.Name = "Custodian"
	}
	data.Brand.Name, data.ClientName, data.BackName = isolate(data.Brand.Name), isolate(data.ClientName), isolate(data.BackName)
	// The texts the handlers chose are keys of the catalog; a duration among their
	// arguments is written for people.
	args := make([]any, len(data.ErrorArgs))
	for i, a := range data.ErrorArgs {
		if d, ok := a.(time.Duration); ok {
			a = tr.Duration(d)
		}
		args[i] = a
	}
	data.Title, data.Notice = tr.T(data.Title), tr.T(data.Notice)
	if data.Error != "" {
		data.Error = tr.T(data.Error, args...)
	}
	for i, s := range data.Scopes {
		data.Scopes[i] = tr.T(s)
	}
}

// render writes an HTML page in the request's language under the tenant's branding,
// with headers that keep it out of caches and frames.
func (p *Provider) render(w http.ResponseWriter, r *http.Request, status int, name string, data page) {
	p.localize(r, &data)
	if name == "error.html" && data.RequestID == "" {
		// Every error page gives the reference to quote to support.
		data.RequestID = identity.RequestMetaFromContext(r.Context()).RequestID
	}
	SetPageHeaders(w.Header())
	w.Header().Set("Content-Security-Policy", pageCSPFor(identity.TenantFromContext(r.Context())))
	w.WriteHeader(status)
	if err := p.tmpl.ExecuteTemplate(w, name, data); err != nil {
		p.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
	}
}

// RenderNotice answers a small page with a heading and a message or an error, in the
// request's language under the tenant's branding (the tenant of the request's context,
// if any). Title, errMsg and notice are keys of the catalog.
func (p *Provider) RenderNotice(w http.ResponseWriter, r *http.Request, status int, title, errMsg, notice string) {
	p.render(w, r, status, "notice.html", page{Title: title, Error: errMsg, Notice: notice})
}

// RenderNotMe answers the page of a "this was not me" link: it asks before its form
// posts to action.
func (p *Provider) RenderNotMe(w http.ResponseWriter, r *http.Request, action, csrf string) {
	p.render(w, r, http.StatusOK, "notme.html", page{Title: "Was this not you?", Action: action, CSRF: csrf})
}

// englishText prints a catalog text with its arguments in English (durations for
// people), for answers that are not pages.
func englishText(key string, args []any) string {
	tr := i18n.NewPrinter(i18n.English)
	out := make([]any, len(args))
	for i, a := range args {
		if d, ok := a.(time.Duration); ok {
			a = tr.Duration(d)
		}
		out[i] = a
	}
	return tr.T(key, out...)
}
