package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	stdmail "net/mail"
	"net/url"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/custodian-id/custodian/egress"
)

// LogSender writes messages to the log: the default of the embedded setup, so a
// newcomer sees opt-in and reset links in the console. Never use it in production.
type LogSender struct{ Log *slog.Logger }

// Send implements Sender.
func (s LogSender) Send(ctx context.Context, m *Message) error {
	s.Log.InfoContext(ctx, "mail (log channel: set CUSTODIAN_SMTP_URL to send it)",
		"tenant", m.Tenant, "kind", m.Kind, "to", m.To, "subject", m.Subject, "body", m.Body)
	return nil
}

// SMTPSender delivers e-mail through an SMTP server.
type SMTPSender struct {
	host     string
	port     int
	implicit bool
	user     string
	pass     string
	from     string
	timeout  time.Duration
}

// NewSMTPSender parses smtp://[user:pass@]host:port (STARTTLS when the server offers it)
// or smtps://[user:pass@]host:port (implicit TLS).
func NewSMTPSender(rawURL, from string) (*SMTPSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("SMTP URL: %w", err)
	}
	s := &SMTPSender{host: u.Hostname(), from: from, timeout: 15 * time.Second}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, fmt.Errorf("SMTP URL: scheme must be smtp or smtps")
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("SMTP URL: port: %w", err)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	if s.host == "" || from == "" {
		return nil, fmt.Errorf("SMTP: host and sender are required")
	}
	return s, nil
}

// Send implements Sender.
func (s *SMTPSender) Send(ctx context.Context, m *Message) error {
	msg := mail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	// The tenant's display name (branding.display_name) is the sender's name; the
	// address stays the operator's.
	if name, _ := m.Data[DataSenderName].(string); name != "" {
		if from, err := stdmail.ParseAddress(s.from); err == nil {
			// As an address value, not text to parse: a name with quotes or a
			// backslash (`Müller "Mode"`) was mangled, and one ending in a backslash
			// failed every delivery; now each is encoded as it is.
			msg.SetAddrHeaderFromMailAddress(mail.HeaderFrom, &stdmail.Address{Name: name, Address: from.Address})
		}
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	msg.SetMessageIDWithValue(fmt.Sprintf("custodian-%s-%d@%s", m.Tenant, m.ID, s.host))
	opts := []mail.Option{mail.WithPort(s.port), mail.WithTimeout(s.timeout)}
	if s.implicit {
		opts = append(opts, mail.WithSSL())
	} else {
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if s.user != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.user), mail.WithPassword(s.pass))
	}
	c, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("SMTP client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("SMTP send: %w", err)
	}
	return nil
}

// WebhookSender posts messages as JSON, signed with HMAC-SHA256 over
// "<unix time>.<body>" in the header X-Custodian-Signature: t=<unix time>,v1=<hex>.
// Receivers recompute it with the shared secret and reject stale timestamps.
type WebhookSender struct {
	// Client makes the call (default: one that refuses internal addresses, egress.Policy).
	Client *http.Client
	Now    func() time.Time
	// OpenSecret opens a message's sealed signing secret (identity.WebhookSecrets.Open).
	OpenSecret func(tenant string, sealed []byte) (string, error)
}

// Sign returns the signature header value of a body at a time.
func Sign(secret string, at time.Time, body []byte) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Send implements Sender.
func (s WebhookSender) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode webhook: %w", err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Webhook, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Custodian-Webhook/1")
	req.Header.Set("X-Custodian-Event", m.Kind)
	if s.OpenSecret == nil {
		return fmt.Errorf("webhook: no way to open the signing secret")
	}
	secret, err := s.OpenSecret(m.Tenant, m.WebhookSecret)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("X-Custodian-Signature", Sign(secret, now(), body))
	client := s.Client
	if client == nil {
		client = egress.Policy{}.Client(10 * time.Second)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}
