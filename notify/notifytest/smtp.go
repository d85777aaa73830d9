// Package notifytest runs a real SMTP server on loopback for tests: messages sent to
// it are parsed and kept for assertions.
package notifytest

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message the server received.
type Mail struct {
	From     string // the envelope's sender address
	FromName string // the name of the From header, decoded ("" for none)
	To       []string
	Subject  string
	Body     string
}

// SMTPServer is an SMTP server on 127.0.0.1 that accepts every message.
type SMTPServer struct {
	Addr string
	mu   sync.Mutex
	mail []Mail
	wait chan struct{}
	// gate, while set, holds every message in DATA (read, not yet accepted) until it
	// is closed; held reports the recipients of the messages it holds.
	gate chan struct{}
	held chan string
}

// Hold makes the server hold every message it receives in the middle of DATA, before
// accepting it, until release is called: a delivery in progress, for tests of what a
// sender does meanwhile. held reports the first recipient of each message held.
func (s *SMTPServer) Hold() (held <-chan string, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gate, h := make(chan struct{}), make(chan string, 1024)
	s.gate, s.held = gate, h
	var once sync.Once
	return h, func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate, s.held = nil, nil
			s.mu.Unlock()
			close(gate)
		})
	}
}

// StartSMTP starts a server for the duration of the test.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	s := &SMTPServer{wait: make(chan struct{}, 1024)}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp listen: %v", err)
	}
	s.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// URL is the smtp:// URL of the server.
func (s *SMTPServer) URL() string { return "smtp://" + s.Addr }

// Messages returns what the server has received.
func (s *SMTPServer) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

// WaitFor waits until a message to the recipient arrives and returns the newest one.
func (s *SMTPServer) WaitFor(t testing.TB, to string, timeout time.Duration) Mail {
	t.Helper()
	deadline := time.After(timeout)
	for {
		msgs := s.Messages()
		for i := len(msgs) - 1; i >= 0; i-- {
			for _, r := range msgs[i].To {
				if strings.EqualFold(r, to) {
					return msgs[i]
				}
			}
		}
		select {
		case <-s.wait:
		case <-deadline:
			t.Fatalf("no mail to %s within %s", to, timeout)
		}
	}
}

type backend struct{ s *SMTPServer }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *SMTPServer
	from string
	to   []string
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error   { x.to = append(x.to, to); return nil }
func (x *session) Reset()                                      { x.from, x.to = "", nil }
func (x *session) Logout() error                               { return nil }

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	gate, held := x.s.gate, x.s.held
	x.s.mu.Unlock()
	if gate != nil {
		to := ""
		if len(x.to) > 0 {
			to = x.to[0]
		}
		held <- to
		<-gate
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return errors.New("unparseable message")
	}
	body, _ := io.ReadAll(msg.Body)
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		if dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err == nil {
			body = dec
		}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	fromName := ""
	if a, err := (&mail.AddressParser{WordDecoder: new(mime.WordDecoder)}).Parse(msg.Header.Get("From")); err == nil {
		fromName = a.Name
	}
	x.s.mu.Lock()
	x.s.mail = append(x.s.mail, Mail{From: x.from, FromName: fromName, To: x.to, Subject: subject, Body: string(body)})
	x.s.mu.Unlock()
	select {
	case x.s.wait <- struct{}{}:
	default:
	}
	return nil
}
