// Package templates holds the HTML pages of the browser sign-in flow, embedded into the
// binary. Pages work without JavaScript; the one script (form_post.html submits its
// form by itself) is allowed by its hash and has a button to fall back on.
package templates

import (
	"embed"
	"fmt"
	"html/template"
)

//go:embed *.html
var files embed.FS

// Parse parses every page. Each page defines a template named after its file.
func Parse() (*template.Template, error) {
	t, err := template.New("pages").ParseFS(files, "*.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	return t, nil
}
