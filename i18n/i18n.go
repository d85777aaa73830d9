// Package i18n is Custodian's message catalog and language choice: every text a shopper
// reads (the hosted pages and the mails) in English, German, French and Spanish, built
// on golang.org/x/text (catalog, message, plural, language).
//
// A message's key is its English text, with the same verbs (%s, %d) its translations
// take; the catalogs are in the files named after their language. A text without a
// translation is printed in English, and TestCatalogComplete fails the build's tests
// when any language lacks a key the English catalog has.
package i18n

import (
	"context"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// The supported languages, English first (the last resort).
var (
	English = language.English
	German  = language.German
	French  = language.French
	Spanish = language.Spanish
)

// Supported lists the languages of the catalog, the fallback first.
func Supported() []language.Tag { return []language.Tag{English, German, French, Spanish} }

// Codes lists the supported languages as the settings and <html lang> write them.
func Codes() []string { return []string{"en", "de", "fr", "es"} }

// messages are a language's plain texts: key (the English text) → translation.
type messages map[string]string

// plurals are a language's texts that depend on a count (the first %d): key → the
// form for one and the form for other counts, as CLDR's plural rules of the language
// say (French counts 0 as one).
type plurals map[string][2]string

type languageCatalog struct {
	tag      language.Tag
	messages messages
	plurals  plurals
}

func catalogs() []languageCatalog {
	return []languageCatalog{
		{English, enMessages, enPlurals},
		{German, deMessages, dePlurals},
		{French, frMessages, frPlurals},
		{Spanish, esMessages, esPlurals},
	}
}

// cat is built once from the tables and never changes afterwards.
var cat = build()

func build() catalog.Catalog {
	b := catalog.NewBuilder(catalog.Fallback(English))
	for _, c := range catalogs() {
		for k, v := range c.messages {
			if err := b.SetString(c.tag, k, v); err != nil {
				panic(fmt.Sprintf("i18n: %s %q: %v", c.tag, k, err))
			}
		}
		for k, v := range c.plurals {
			if err := b.Set(c.tag, k, plural.Selectf(1, "%d", "one", v[0], "other", v[1])); err != nil {
				panic(fmt.Sprintf("i18n: %s %q: %v", c.tag, k, err))
			}
		}
	}
	return b
}

var matcher = language.NewMatcher(Supported())

// maxTags bounds how many language tags of a header or parameter are read.
const maxTags = 16

// match returns the supported language closest to the tags, in their order of
// preference, or false when none is close enough.
func match(tags []language.Tag) (language.Tag, bool) {
	if len(tags) == 0 {
		return language.Und, false
	}
	if len(tags) > maxTags {
		tags = tags[:maxTags]
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return language.Und, false
	}
	return Supported()[i], true
}

// ParseUILocales reads an OpenID Connect ui_locales parameter (space-separated BCP 47
// tags, preferred first) and returns the supported language it asks for.
func ParseUILocales(v string) (language.Tag, bool) {
	var tags []language.Tag
	for _, f := range strings.Fields(v) {
		if len(tags) == maxTags {
			break
		}
		if t, err := language.Parse(f); err == nil {
			tags = append(tags, t)
		}
	}
	return match(tags)
}

// ParseAcceptLanguage reads an Accept-Language header and returns the supported
// language it asks for.
func ParseAcceptLanguage(v string) (language.Tag, bool) {
	if v == "" || len(v) > 1024 {
		return language.Und, false
	}
	tags, _, err := language.ParseAcceptLanguage(v)
	if err != nil {
		return language.Und, false
	}
	return match(tags)
}

// ParseCode returns the supported language of a stored code such as "de" or "de-AT"
// (a customer's preferred language, a tenant's branding.default_locale).
func ParseCode(v string) (language.Tag, bool) {
	if v == "" || len(v) > 64 {
		return language.Und, false
	}
	t, err := language.Parse(strings.ReplaceAll(v, "_", "-"))
	if err != nil {
		return language.Und, false
	}
	return match([]language.Tag{t})
}

// Negotiate chooses the language of a page: ui_locales first, then Accept-Language,
// then the tenant's default, then English.
func Negotiate(uiLocales, acceptLanguage, tenantDefault string) language.Tag {
	if t, ok := ParseUILocales(uiLocales); ok {
		return t
	}
	if t, ok := ParseAcceptLanguage(acceptLanguage); ok {
		return t
	}
	if t, ok := ParseCode(tenantDefault); ok {
		return t
	}
	return English
}

// Code is the short code of a supported language ("de"), as <html lang> takes it.
func Code(t language.Tag) string {
	b, _ := t.Base()
	return b.String()
}

type ctxKey struct{}

// WithLocale returns ctx carrying the language the request asked for (ui_locales or
// Accept-Language), for the mails it causes.
func WithLocale(ctx context.Context, t language.Tag) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// LocaleFrom returns the language WithLocale put in ctx.
func LocaleFrom(ctx context.Context) (language.Tag, bool) {
	t, ok := ctx.Value(ctxKey{}).(language.Tag)
	return t, ok
}

// ForMail chooses the language of a mail: the customer's stored language when it is a
// supported one, then the request's, then the tenant's default, then English.
func ForMail(ctx context.Context, stored []string, tenantDefault string) language.Tag {
	for _, s := range stored {
		if t, ok := ParseCode(s); ok {
			return t
		}
	}
	if t, ok := LocaleFrom(ctx); ok {
		return t
	}
	if t, ok := ParseCode(tenantDefault); ok {
		return t
	}
	return English
}

// Printer prints the catalog's texts in one language.
type Printer struct {
	tag language.Tag
	p   *message.Printer
}

// NewPrinter returns a printer for a language (English for one the catalog lacks).
func NewPrinter(t language.Tag) *Printer {
	if _, ok := match([]language.Tag{t}); !ok {
		t = English
	}
	return &Printer{tag: t, p: message.NewPrinter(t, message.Catalog(cat))}
}

// Tag is the printer's language.
func (p *Printer) Tag() language.Tag { return p.tag }

// Code is the printer's language as <html lang> takes it.
func (p *Printer) Code() string { return Code(p.tag) }

// T prints the text of key in the printer's language, with args in its verbs.
func (p *Printer) T(key string, args ...any) string { return p.p.Sprintf(key, args...) }

// HTML prints a text whose arguments are HTML: string arguments are escaped, and
// template.HTML ones (markup the caller built from escaped parts) are kept. The
// catalog's texts themselves are trusted.
func (p *Printer) HTML(key string, args ...any) template.HTML {
	// The text is printed with a marker for each argument, escaped as a whole, and the
	// markers are then replaced by the escaped (or kept) arguments.
	marks := make([]any, len(args))
	for i := range args {
		marks[i] = fmt.Sprintf("\x00%d\x00", i)
	}
	out := template.HTMLEscapeString(p.p.Sprintf(key, marks...))
	for i, a := range args {
		var v string
		switch a := a.(type) {
		case template.HTML:
			v = string(a)
		default:
			v = template.HTMLEscapeString(fmt.Sprint(a))
		}
		out = strings.ReplaceAll(out, template.HTMLEscapeString(fmt.Sprintf("\x00%d\x00", i)), v)
	}
	return template.HTML(out)
}

// Duration writes a duration for people: "1 hour", "3 minutes", "1 hour and 30
// minutes", "7 days", in the printer's language. It keeps the two largest units and
// drops what is below them.
func (p *Printer) Duration(d time.Duration) string {
	if d < time.Second {
		d = time.Second
	}
	units := []struct {
		size time.Duration
		key  string
	}{{24 * time.Hour, "%d days"}, {time.Hour, "%d hours"}, {time.Minute, "%d minutes"}, {time.Second, "%d seconds"}}
	var parts []string
	for _, u := range units {
		if len(parts) == 2 {
			break
		}
		n := int(d / u.size)
		if n == 0 {
			if len(parts) > 0 {
				break
			}
			continue
		}
		parts = append(parts, p.p.Sprintf(u.key, n))
		d -= time.Duration(n) * u.size
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return p.p.Sprintf("%s and %s", parts[0], parts[1])
}

var monthKeys = [12]string{"January", "February", "March", "April", "May", "June", "July", "August",
	"September", "October", "November", "December"}

// Date writes a day for people: "3 December 2026" ("3. Dezember 2026", "3 décembre
// 2026", "3 de diciembre de 2026").
func (p *Printer) Date(t time.Time) string {
	return p.p.Sprintf("%[1]s %[2]s %[3]s", strconv.Itoa(t.Day()), p.p.Sprintf(monthKeys[t.Month()-1]), strconv.Itoa(t.Year()))
}

// DateTime writes a moment for people in UTC: "3 December 2026, 14:05 UTC".
func (p *Printer) DateTime(t time.Time) string {
	t = t.UTC()
	return p.p.Sprintf("%[1]s, %[2]s UTC", p.Date(t), t.Format("15:04"))
}

// Keys lists the keys of the English catalog: every text there is.
func Keys() []string {
	var out []string
	for k := range enMessages {
		out = append(out, k)
	}
	for k := range enPlurals {
		out = append(out, k)
	}
	return out
}

// Has reports whether the catalog has a text for key (in English, and so in every
// language as TestCatalogComplete checks).
func Has(key string) bool {
	if _, ok := enMessages[key]; ok {
		return true
	}
	_, ok := enPlurals[key]
	return ok
}
