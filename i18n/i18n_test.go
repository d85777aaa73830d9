package i18n

import (
	"context"
	"html/template"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"
)

// TestCatalogComplete fails when a language lacks a key of the English catalog, has a
// key English does not, or a translation takes other verbs than its key.
func TestCatalogComplete(t *testing.T) {
	verbs := regexp.MustCompile(`%(\[\d+\])?[sdv]`)
	count := func(s string) []string {
		v := verbs.FindAllString(s, -1)
		slices.Sort(v)
		return v
	}
	for _, c := range catalogs() {
		for k := range enMessages {
			v, ok := c.messages[k]
			if !ok {
				t.Errorf("%s: missing translation of %q", c.tag, k)
				continue
			}
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: empty translation of %q", c.tag, k)
			}
			if !slices.Equal(count(k), count(v)) {
				t.Errorf("%s: %q takes %v, its translation %q takes %v", c.tag, k, count(k), v, count(v))
			}
		}
		for k := range c.messages {
			if _, ok := enMessages[k]; !ok {
				t.Errorf("%s: %q is not a key of the English catalog", c.tag, k)
			}
		}
		for k := range enPlurals {
			v, ok := c.plurals[k]
			if !ok {
				t.Errorf("%s: missing plural translation of %q", c.tag, k)
				continue
			}
			for _, form := range v {
				if !slices.Equal(count(form), []string{"%d"}) {
					t.Errorf("%s: plural form %q of %q must take one %%d", c.tag, form, k)
				}
			}
		}
		for k := range c.plurals {
			if _, ok := enPlurals[k]; !ok {
				t.Errorf("%s: plural %q is not a key of the English catalog", c.tag, k)
			}
		}
	}
	if got, want := len(catalogs()), len(Codes()); got != want {
		t.Errorf("%d catalogs for %d languages", got, want)
	}
}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		name, ui, accept, def, want string
	}{
		{"nothing: English", "", "", "", "en"},
		{"tenant default", "", "", "fr", "fr"},
		{"accept-language over the default", "", "de-DE,de;q=0.9,en;q=0.5", "fr", "de"},
		{"ui_locales over accept-language", "es", "de-DE", "fr", "es"},
		{"ui_locales in order, unsupported skipped", "pt-BR fr-CA de", "es", "", "fr"},
		{"unsupported ui_locales fall through", "pt ja", "de-AT", "", "de"},
		{"accept-language weights", "", "fr;q=0.2, es;q=0.9", "", "es"},
		{"garbage falls through", "%%% <script>", "!!!", "es", "es"},
		{"unsupported everything", "pt", "ja", "", "en"},
		{"region variants", "de-CH", "", "", "de"},
	}
	for _, c := range cases {
		if got := Code(Negotiate(c.ui, c.accept, c.def)); got != c.want {
			t.Errorf("%s: Negotiate(%q, %q, %q) = %s, want %s", c.name, c.ui, c.accept, c.def, got, c.want)
		}
	}
}

func TestForMail(t *testing.T) {
	ctx := WithLocale(context.Background(), Spanish)
	if got := Code(ForMail(ctx, []string{"", "de_DE"}, "fr")); got != "de" {
		t.Errorf("stored language: got %s, want de", got)
	}
	if got := Code(ForMail(ctx, []string{"pt"}, "fr")); got != "es" {
		t.Errorf("request language: got %s, want es", got)
	}
	if got := Code(ForMail(context.Background(), nil, "fr")); got != "fr" {
		t.Errorf("tenant default: got %s, want fr", got)
	}
	if got := Code(ForMail(context.Background(), nil, "")); got != "en" {
		t.Errorf("fallback: got %s, want en", got)
	}
}

func TestDuration(t *testing.T) {
	cases := []struct {
		tag  language.Tag
		d    time.Duration
		want string
	}{
		{English, time.Hour, "1 hour"},
		{German, time.Hour, "1 Stunde"},
		{English, 48 * time.Hour, "2 days"},
		{German, 3 * time.Minute, "3 Minuten"},
		{French, 90 * time.Minute, "1 heure et 30 minutes"},
		{Spanish, 7 * 24 * time.Hour, "7 días"},
		{English, 25*time.Hour + 30*time.Second, "1 day and 1 hour"},
		{English, 1500 * time.Millisecond, "1 second"},
		{French, 0, "1 seconde"},
	}
	for _, c := range cases {
		if got := NewPrinter(c.tag).Duration(c.d); got != c.want {
			t.Errorf("%s %v: got %q, want %q", c.tag, c.d, got, c.want)
		}
	}
}

func TestPrinter(t *testing.T) {
	de := NewPrinter(German)
	if got := de.T("Sign in"); got != "Anmelden" {
		t.Errorf("T: got %q", got)
	}
	if got := de.T("The code is wrong. %d tries left.", 1); got != "Der Code ist falsch. Noch 1 Versuch." {
		t.Errorf("plural one: got %q", got)
	}
	if got := NewPrinter(French).T("The code is wrong. %d tries left.", 3); got != "Le code est erroné. Il vous reste 3 essais." {
		t.Errorf("plural other: got %q", got)
	}
	if got := de.T("a text the catalog lacks"); got != "a text the catalog lacks" {
		t.Errorf("unknown key: got %q", got)
	}
	if got := NewPrinter(language.Japanese).Code(); got != "en" {
		t.Errorf("unsupported language prints English, got %s", got)
	}
	day := time.Date(2026, 12, 3, 14, 5, 0, 0, time.UTC)
	for tag, want := range map[language.Tag]string{English: "3 December 2026", German: "3. Dezember 2026", French: "3 décembre 2026", Spanish: "3 de diciembre de 2026"} {
		if got := NewPrinter(tag).Date(day); got != want {
			t.Errorf("%s date: got %q, want %q", tag, got, want)
		}
	}
	h := de.HTML("%s asks to access your account. It will be able to:", template.HTML("<strong>"+template.HTMLEscapeString("A&B <Shop>")+"</strong>"))
	if want := template.HTML("<strong>A&amp;B &lt;Shop&gt;</strong> bittet um Zugriff auf Ihr Konto. Die Anwendung kann dann:"); h != want {
		t.Errorf("HTML: got %q, want %q", h, want)
	}
	if h := de.HTML("Continue to %s", "<b>x</b>"); h != "Weiter zu &lt;b&gt;x&lt;/b&gt;" {
		t.Errorf("HTML escapes plain arguments: got %q", h)
	}
}
