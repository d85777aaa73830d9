package admin

// The bulk customer import and export (CONTRACT.md §6) as streams of JSON lines: the
// request body of an import and the response of both are read and written line by line,
// never held whole.

import (
	"bufio"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/custodian-id/custodian/customer"
)

// NDJSON is the media type of the bulk endpoints.
const NDJSON = "application/x-ndjson"

// bulkIdle is how long a bulk stream may go without progress before the server's read and
// write deadlines end it; every batch pushes them on.
const bulkIdle = 2 * time.Minute

// flushEvery is how many report or export lines are written between flushes.
const flushEvery = 500

// queryBool reads an optional boolean query parameter: absent is false, and only true
// and false are accepted.
func queryBool(r *http.Request, name string) (bool, error) {
	v, ok := r.URL.Query()[name]
	if !ok {
		return false, nil
	}
	if len(v) != 1 || (v[0] != "true" && v[0] != "false") {
		return false, badRequest("query parameter " + name + " must be true or false")
	}
	return v[0] == "true", nil
}

// stream keeps a long response alive: it pushes the connection's deadlines on and
// flushes what is buffered.
type stream struct {
	rc  *http.ResponseController
	buf *bufio.Writer
	n   int
}

func newStream(w http.ResponseWriter) *stream {
	s := &stream{rc: http.NewResponseController(w), buf: bufio.NewWriterSize(w, 64<<10)}
	s.extend()
	return s
}

func (s *stream) extend() {
	d := time.Now().Add(bulkIdle)
	_ = s.rc.SetReadDeadline(d)
	_ = s.rc.SetWriteDeadline(d)
}

func (s *stream) flush() error {
	s.extend()
	if err := s.buf.Flush(); err != nil {
		return err
	}
	return s.rc.Flush()
}

// line writes one JSON value as a line and flushes every flushEvery lines.
func (s *stream) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.buf.Write(append(b, '\n')); err != nil {
		return err
	}
	if s.n++; s.n%flushEvery == 0 {
		return s.flush()
	}
	return nil
}

// importCustomers is POST /admin/tenants/{tenant}/customers/import: the body is the
// import file (application/x-ndjson), the answer a stream of one report line per input
// line ({line, outcome, customerId?, reason?, note?}) and a last {"summary": {...}}, or
// {"error": {...}} in the admin error shape when the import stopped.
func (a *API) importCustomers(w http.ResponseWriter, r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != NDJSON && mt != "application/jsonl") {
		return &adminError{status: http.StatusUnsupportedMediaType, typ: "unsupported_media_type",
			msg: "the body must be JSON Lines, Content-Type: " + NDJSON}
	}
	var opt customer.ImportOptions
	if opt.DryRun, err = queryBool(r, "dryRun"); err != nil {
		return err
	}
	if opt.AllowCrackableLegacyHashes, err = queryBool(r, "allowInsecureLegacyHashes"); err != nil {
		return err
	}
	t, err := a.oauth.GetTenant(r.Context(), tenantVar(r))
	if err != nil {
		return err
	}
	// The report is written while the body is still read.
	if err := http.NewResponseController(w).EnableFullDuplex(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	s := newStream(w)
	w.Header().Set("Content-Type", NDJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	opt.Actor = "admin-api"
	opt.Report = func(res customer.ImportResult) error { return s.line(res) }
	sum, err := a.svc.Import(r.Context(), t.Name, r.Body, opt)
	if err != nil {
		if r.Context().Err() != nil {
			return nil // the client went away; nobody reads the rest
		}
		a.log.ErrorContext(r.Context(), "admin: import stopped", "tenant", t.Name, "err", err)
		_ = s.line(map[string]any{"summary": sum, "error": map[string]any{"status": http.StatusInternalServerError,
			"type": "internal_error", "message": "the import stopped after the reported lines: " + importStopReason(err)}})
		_ = s.flush()
		return nil
	}
	if err := s.line(map[string]any{"summary": sum}); err != nil {
		return nil
	}
	_ = s.flush()
	return nil
}

// importStopReason says why an import stopped without exposing internals: a read error
// of the body is the client's, anything else is ours.
func importStopReason(err error) string {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return "the body is too large"
	}
	return "internal error"
}

// exportCustomers is GET /admin/tenants/{tenant}/customers/export: every customer of the
// tenant as JSON Lines in the import format, streamed. A failure after the first line
// aborts the response, so a client never mistakes a cut export for a whole one.
func (a *API) exportCustomers(w http.ResponseWriter, r *http.Request) error {
	t, err := a.oauth.GetTenant(r.Context(), tenantVar(r))
	if err != nil {
		return err
	}
	s := newStream(w)
	w.Header().Set("Content-Type", NDJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="`+t.Name+`-customers.jsonl"`)
	w.WriteHeader(http.StatusOK)
	n := 0
	err = a.svc.ExportTenant(r.Context(), t.Name, func(l *customer.Line) error {
		n++
		return s.line(l)
	})
	if err == nil {
		err = s.flush()
	}
	if err != nil {
		if r.Context().Err() == nil {
			a.log.ErrorContext(r.Context(), "admin: export stopped", "tenant", t.Name, "after", strconv.Itoa(n), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}
