package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-id/custodian/egress"
	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/notify/notifytest"
)

// memStore is an outbox store for the worker's unit tests; the SQL store is covered by
// the storage conformance suite.
type memStore struct {
	mu   sync.Mutex
	msgs []*notify.Message
}

func (s *memStore) EnqueueMessage(_ context.Context, m *notify.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.ID = int64(len(s.msgs) + 1)
	c := *m
	s.msgs = append(s.msgs, &c)
	return nil
}

func (s *memStore) ClaimMessages(_ context.Context, now time.Time, limit int, lease time.Duration) ([]*notify.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*notify.Message
	for _, m := range s.msgs {
		if m.DeliveredAt == nil && !m.NextAttemptAt.IsZero() && !m.NextAttemptAt.After(now) && len(out) < limit {
			m.NextAttemptAt = now.Add(lease)
			m.Attempts++
			c := *m
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *memStore) MarkDelivered(_ context.Context, id int64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs[id-1].DeliveredAt = &at
	return nil
}

func (s *memStore) MarkFailed(_ context.Context, id int64, next *time.Time, lastErr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs[id-1]
	m.LastError = lastErr
	if next == nil {
		m.NextAttemptAt = time.Time{}
	} else {
		m.NextAttemptAt = *next
	}
	return nil
}

func (s *memStore) ReleaseMessage(_ context.Context, id int64, leasedUntil, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.msgs[id-1]; m.DeliveredAt == nil && m.NextAttemptAt.Equal(leasedUntil) && m.Attempts > 0 {
		m.NextAttemptAt, m.Attempts = now, m.Attempts-1
	}
	return nil
}

func (s *memStore) get(id int64) notify.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.msgs[id-1]
}

type failing struct{ n int }

func (f *failing) Send(context.Context, *notify.Message) error {
	f.n++
	return errors.New("mail server down")
}

func TestSMTPDelivery(t *testing.T) {
	srv := notifytest.StartSMTP(t)
	sender, err := notify.NewSMTPSender(srv.URL(), "shop@example.com")
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	o := notify.New(notify.Config{Store: st, Mail: sender})
	ctx := context.Background()
	if err := o.Enqueue(ctx, &notify.Message{Tenant: "shop", Kind: notify.KindPasswordReset, To: "jane@example.com",
		Subject: "Reset your password", Body: "Use this link: https://shop.example/reset?token=abc"}); err != nil {
		t.Fatal(err)
	}
	n, err := o.DeliverDue(ctx)
	if err != nil || n != 1 {
		t.Fatalf("delivered %d, err %v", n, err)
	}
	got := srv.WaitFor(t, "jane@example.com", 5*time.Second)
	if got.Subject != "Reset your password" || !strings.Contains(got.Body, "token=abc") || got.From != "shop@example.com" {
		t.Errorf("mail %+v", got)
	}
	if st.get(1).DeliveredAt == nil {
		t.Errorf("not marked delivered")
	}
	if n, _ := o.DeliverDue(ctx); n != 0 {
		t.Errorf("delivered again: %d", n)
	}
}

// TestSMTPSenderName: the tenant's display name is the From header's name, whatever
// characters it has (quotes, a backslash, non-ASCII letters, right-to-left text).
func TestSMTPSenderName(t *testing.T) {
	srv := notifytest.StartSMTP(t)
	sender, err := notify.NewSMTPSender(srv.URL(), "shop@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"Müller Mode", `Müller "Mode" \ Söhne`, "متجر الأزياء", "a <b@evil.example>, c", `Shop \`} {
		to := fmt.Sprintf("jane%d@example.com", i)
		if err := sender.Send(context.Background(), &notify.Message{Tenant: "shop", Kind: notify.KindPasswordReset, To: to,
			Subject: "Hello", Body: "Hi", Data: map[string]any{notify.DataSenderName: name}}); err != nil {
			t.Errorf("send with the sender name %q: %v", name, err)
			continue
		}
		if got := srv.WaitFor(t, to, 5*time.Second); got.FromName != name || got.From != "shop@example.com" {
			t.Errorf("sender %q <%s>, want %q <shop@example.com>", got.FromName, got.From, name)
		}
	}
}

func TestRetriesThenGivesUp(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := &memStore{}
	f := &failing{}
	o := notify.New(notify.Config{Store: st, Mail: f, Now: clock, MaxAttempts: 3, Logger: nil})
	ctx := context.Background()
	_ = o.Enqueue(ctx, &notify.Message{Tenant: "shop", Kind: notify.KindSignupOptIn, To: "a@example.com", Subject: "s", Body: "b"})
	for i := range 3 {
		if _, err := o.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		m := st.get(1)
		if m.Attempts != i+1 || m.LastError == "" {
			t.Fatalf("attempt %d: %+v", i+1, m)
		}
		if n, _ := o.DeliverDue(ctx); n != 0 || f.n != i+1 {
			t.Fatalf("retried before the backoff elapsed")
		}
		now = now.Add(2 * time.Hour)
	}
	if m := st.get(1); !m.NextAttemptAt.IsZero() {
		t.Errorf("not given up after max attempts: %+v", m)
	}
	_, _ = o.DeliverDue(ctx)
	if f.n != 3 {
		t.Errorf("sent %d times, want 3", f.n)
	}
}

func TestWebhookSigned(t *testing.T) {
	const secret = "webhook-secret-0123456789-0123456789"
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer ts.Close()
	at := time.Unix(1_800_000_000, 0)
	st := &memStore{}
	// The message carries the sealed secret; the sender opens it only to sign.
	open := func(tenant string, sealed []byte) (string, error) {
		if tenant != "shop" || string(sealed) != "sealed:"+secret {
			return "", errors.New("cannot open")
		}
		return secret, nil
	}
	o := notify.New(notify.Config{Store: st, Webhook: notify.WebhookSender{Now: func() time.Time { return at }, OpenSecret: open,
		Client: egress.Policy{AllowPrivate: true}.Client(10 * time.Second)}})
	ctx := context.Background()
	_ = o.Enqueue(ctx, &notify.Message{Tenant: "shop", Kind: notify.KindEmailChange, To: "new@example.com",
		Subject: "Confirm", Body: "token", Webhook: ts.URL, WebhookSecret: []byte("sealed:" + secret), Data: map[string]any{"token": "t1"}})
	if n, err := o.DeliverDue(ctx); n != 1 || err != nil {
		t.Fatalf("delivered %d, err %v", n, err)
	}
	r, body := <-got, <-bodies
	if want := notify.Sign(secret, at, body); r.Header.Get("X-Custodian-Signature") != want {
		t.Errorf("signature %q, want %q", r.Header.Get("X-Custodian-Signature"), want)
	}
	if notify.Sign("another-secret-0123456789-0123456789", at, body) == r.Header.Get("X-Custodian-Signature") {
		t.Errorf("signature does not depend on the secret")
	}
	if !strings.Contains(string(body), `"token":"t1"`) || r.Header.Get("X-Custodian-Event") != notify.KindEmailChange {
		t.Errorf("body %s", body)
	}
}

func TestEnqueueValidates(t *testing.T) {
	o := notify.New(notify.Config{Store: &memStore{}})
	if err := o.Enqueue(context.Background(), &notify.Message{Kind: "x"}); !errors.Is(err, notify.ErrInvalid) {
		t.Errorf("got %v", err)
	}
}
