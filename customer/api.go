package customer

import (
	"html/template"
	"log/slog"
	"time"

	"github.com/custodian-id/custodian/oauth"
)

// API serves the two customer-facing dialects: the ticket API (modelled on Kibo's
// Customer Authentication Tickets) and the customer login API (modelled on Emporix's
// customer-managed authentication). Both are views of the same fosite tokens.
type API struct {
	svc   *Service
	oauth *oauth.Provider
	pages *template.Template // HTML pages (the "this was not me" link answers one)
	log   *slog.Logger
	now   func() time.Time
	// maxBody limits request bodies; a larger one is answered 413 in each API's shape.
	maxBody int64
}

// NewAPI builds the HTTP side of the customer package.
func NewAPI(svc *Service, provider *oauth.Provider, pages *template.Template, log *slog.Logger, now func() time.Time, maxBody int64) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &API{svc: svc, oauth: provider, pages: pages, log: log, now: now, maxBody: maxBody}
}
