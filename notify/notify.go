// Package notify is Custodian's notification outbox. A message is written to the
// outbox in the same transaction as the state change it announces (an opt-in link with
// the new account, a reset token with its hash); a worker on any node delivers it with
// retries through a channel: SMTP, a signed webhook, or the log.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/custodian-id/custodian/identity"
)

// Message kinds.
const (
	KindSignupOptIn   = "signup.optin"
	KindPasswordReset = "password.reset"
	KindEmailChange   = "email.change"
	KindEmailChanged  = "email.changed"
	KindTwoFactorCode = "twofactor.code"
	KindNewDevice     = "device.new"
	// KindAccountClaimed: a provider that verified the address took over an account
	// whose address was never verified.
	KindAccountClaimed = "account.claimed"

	// KindPasswordResetJob is a password reset request waiting for the worker: the
	// request answers at once, the same for every address, and the worker finds the
	// account, creates the token and queues the mail (or finds none and does nothing).
	KindPasswordResetJob = "job.password_reset"
)

// DataSenderName is the key of Message.Data that names the sender (the shop's display
// name): the SMTP sender writes it as the From name.
const DataSenderName = "senderName"

// IsJob reports whether a kind is work for the outbox's worker rather than a message
// to deliver: jobs never reach a channel.
func IsJob(kind string) bool { return strings.HasPrefix(kind, "job.") }

// Job does the work of one job message; an error retries it like a failed delivery.
type Job func(ctx context.Context, m *Message) error

// Message is one notification to one recipient.
type Message struct {
	ID      int64          `json:"id"`
	Tenant  string         `json:"tenant"`
	Kind    string         `json:"kind"`
	To      string         `json:"to"`
	Subject string         `json:"subject"`
	Body    string         `json:"body"`
	Data    map[string]any `json:"data,omitempty"`
	// Webhook, when set, delivers the message as a signed JSON POST to this URL
	// instead of by e-mail (the tenant sends its own branded mail). WebhookSecret is the
	// tenant's signing secret, sealed: the WebhookSender opens it only to sign.
	Webhook       string     `json:"-"`
	WebhookSecret []byte     `json:"-"`
	Attempts      int        `json:"-"`
	NextAttemptAt time.Time  `json:"-"`
	DeliveredAt   *time.Time `json:"-"`
	LastError     string     `json:"-"`
	CreatedAt     time.Time  `json:"createdAt"`
}

// Store persists the outbox.
type Store interface {
	// EnqueueMessage writes a message; it joins the transaction ctx carries.
	EnqueueMessage(ctx context.Context, m *Message) error
	// ClaimMessages leases up to limit undelivered messages that are due at now: their
	// next attempt moves to now+lease and their attempt count goes up, each with a
	// conditional update, so two nodes never deliver the same message at once.
	ClaimMessages(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*Message, error)
	MarkDelivered(ctx context.Context, id int64, at time.Time) error
	// ReleaseMessage gives back a message this node claimed (leased until leasedUntil)
	// and did not try to deliver: it is due again at now, with the attempt the claim
	// counted taken back, unless another node has moved it since.
	ReleaseMessage(ctx context.Context, id int64, leasedUntil, now time.Time) error
	// MarkFailed records a failed attempt; next is the time of the next attempt, or
	// nil when the message is given up (dead).
	MarkFailed(ctx context.Context, id int64, next *time.Time, lastErr string) error
}

// Sender delivers a message over one channel.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// Outbox enqueues and delivers messages.
type Outbox struct {
	mu          sync.Mutex
	jobs        map[string]Job
	store       Store
	mail        Sender
	webhook     Sender
	now         func() time.Time
	log         *slog.Logger
	maxAttempts int
	lease       time.Duration
	sendTimeout time.Duration
}

// Config configures an Outbox.
type Config struct {
	Store Store
	// Mail delivers e-mail: an SMTP sender, or a log sender when no SMTP server is set.
	Mail Sender
	// Webhook delivers messages that name a webhook.
	Webhook     Sender
	Now         func() time.Time
	Logger      *slog.Logger
	MaxAttempts int           // default 8
	Lease       time.Duration // default 2 minutes
	// SendTimeout bounds one delivery or job (default 30 seconds); it is also the
	// longest Run takes to stop once its context ends.
	SendTimeout time.Duration
}

// New builds an Outbox.
func New(cfg Config) *Outbox {
	o := &Outbox{store: cfg.Store, mail: cfg.Mail, webhook: cfg.Webhook, now: cfg.Now, log: cfg.Logger,
		maxAttempts: cfg.MaxAttempts, lease: cfg.Lease, sendTimeout: cfg.SendTimeout}
	if o.now == nil {
		o.now = time.Now
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.maxAttempts <= 0 {
		o.maxAttempts = 8
	}
	if o.lease <= 0 {
		o.lease = 2 * time.Minute
	}
	if o.sendTimeout <= 0 {
		o.sendTimeout = 30 * time.Second
	}
	return o
}

// ErrInvalid is returned for a message that cannot be sent.
var ErrInvalid = fmt.Errorf("%w message", identity.ErrInvalid)

// Enqueue writes a message to the outbox, due now. Call it inside the transaction of
// the state change it belongs to.
func (o *Outbox) Enqueue(ctx context.Context, m *Message) error {
	if m.Tenant == "" || m.Kind == "" || (m.To == "" && !IsJob(m.Kind)) {
		return fmt.Errorf("%w: tenant, kind and recipient are required", ErrInvalid)
	}
	now := o.now().UTC()
	m.CreatedAt = now
	m.NextAttemptAt = now
	if err := o.store.EnqueueMessage(ctx, m); err != nil {
		return fmt.Errorf("enqueue %s message: %w", m.Kind, err)
	}
	return nil
}

// backoff is the wait before attempt n+1: 10s, 20s, 40s … capped at an hour.
func backoff(attempts int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// HandleJob names the work of a job kind. The service that owns the kind registers
// it while the server is wired, before the worker runs.
func (o *Outbox) HandleJob(kind string, job Job) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.jobs == nil {
		o.jobs = map[string]Job{}
	}
	o.jobs[kind] = job
}

func (o *Outbox) job(kind string) Job {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.jobs[kind]
}

// DeliverDue delivers the messages that are due and reports how many were delivered.
// Jobs that are due run too, and the messages they queue are delivered in the same
// call.
func (o *Outbox) DeliverDue(ctx context.Context) (int, error) {
	return o.deliverDue(ctx, ctx)
}

// deliverDue delivers what is due; work is the context deliveries run in, stop says
// when to stop taking up new messages (Run's stop: see there).
func (o *Outbox) deliverDue(stop, work context.Context) (int, error) {
	delivered := 0
	for pass := 0; pass < 3 && stop.Err() == nil; pass++ {
		n, jobs, err := o.deliverBatch(stop, work)
		delivered += n
		if err != nil || jobs == 0 {
			return delivered, err
		}
	}
	return delivered, nil
}

// deliverBatch claims one batch of due messages and delivers them or runs them. When
// stop ends, the message in hand is finished and the rest of the batch is released.
func (o *Outbox) deliverBatch(stop, work context.Context) (delivered, jobs int, err error) {
	msgs, err := o.store.ClaimMessages(work, o.now().UTC(), 50, o.lease)
	if err != nil {
		return 0, 0, fmt.Errorf("claim messages: %w", err)
	}
	for i, m := range msgs {
		if stop.Err() != nil {
			return delivered, jobs, o.release(work, msgs[i:])
		}
		ok, err := o.deliverOne(work, m)
		if err != nil {
			return delivered, jobs, err
		}
		if IsJob(m.Kind) {
			jobs++
		} else if ok {
			delivered++
		}
	}
	return delivered, jobs, nil
}

// deliverOne delivers or runs one claimed message, bounded by the send timeout, and
// records the outcome; ok reports a success.
func (o *Outbox) deliverOne(work context.Context, m *Message) (ok bool, err error) {
	ctx, cancel := context.WithTimeout(work, o.sendTimeout)
	defer cancel()
	var sendErr error
	if IsJob(m.Kind) {
		if job := o.job(m.Kind); job == nil {
			sendErr = fmt.Errorf("no handler for job %s", m.Kind)
		} else {
			sendErr = job(ctx, m)
		}
	} else {
		sender := o.mail
		if m.Webhook != "" {
			sender = o.webhook
		}
		if sender == nil {
			sendErr = errors.New("no sender for this channel")
		} else {
			sendErr = sender.Send(ctx, m)
		}
	}
	if sendErr == nil {
		if err := o.store.MarkDelivered(work, m.ID, o.now().UTC()); err != nil {
			return false, fmt.Errorf("mark message %d delivered: %w", m.ID, err)
		}
		return true, nil
	}
	var next *time.Time
	if m.Attempts < o.maxAttempts {
		t := o.now().UTC().Add(backoff(m.Attempts))
		next = &t
	}
	o.log.WarnContext(work, "notification delivery failed", "id", m.ID, "kind", m.Kind, "tenant", m.Tenant,
		"attempt", m.Attempts, "gave_up", next == nil, "err", sendErr)
	if err := o.store.MarkFailed(work, m.ID, next, sendErr.Error()); err != nil {
		return false, fmt.Errorf("mark message %d failed: %w", m.ID, err)
	}
	return false, nil
}

// release gives back claimed messages this node will not deliver, so that another node
// sends them at once instead of after the lease.
func (o *Outbox) release(ctx context.Context, msgs []*Message) error {
	now := o.now().UTC()
	var errs []error
	for _, m := range msgs {
		if err := o.store.ReleaseMessage(ctx, m.ID, m.NextAttemptAt, now); err != nil {
			errs = append(errs, fmt.Errorf("release message %d: %w", m.ID, err))
		}
	}
	if len(msgs) > 0 {
		o.log.InfoContext(ctx, "released claimed notifications on shutdown", "count", len(msgs))
	}
	return errors.Join(errs...)
}

// Run delivers due messages every interval until ctx ends, then stops cleanly and
// returns: a delivery in progress completes (it is not cancelled: an SMTP server that
// accepted a message must see it marked delivered, or it would be sent again after the
// lease), bounded by the send timeout, and messages claimed but not yet tried are
// released, due at once for another node. Wait for Run to return before closing the
// store.
func (o *Outbox) Run(ctx context.Context, every time.Duration) {
	work := context.WithoutCancel(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := o.deliverDue(ctx, work); err != nil {
			o.log.ErrorContext(work, "deliver notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
