package storage

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// notifyChannel is the PostgreSQL channel the triggers of migration 00013 notify on
// every insert, update and delete of tenants, clients and signing_keys.
const notifyChannel = "custodian_cache"

// caches are a Store's per-node caches of tenants, clients and signing keys, and what
// keeps them true: in-process invalidation after every write through this Store
// commits, and on PostgreSQL a LISTEN connection that hears every other writer.
type caches struct {
	tenants *readCache[*identity.Tenant]
	clients *readCache[*oauth.Client]
	keys    *readCache[[]*oauth.SigningKey]

	// pending holds the invalidations of writes made in a transaction; they apply when
	// it commits (applied earlier, a load between the write and the commit would read
	// and store the old row).
	mu      sync.Mutex
	pending map[*sqlx.Tx][]invalidation

	listener  *pq.Listener
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	log       *slog.Logger
}

// invalidation names what a write changed. The triggers send the same as JSON.
type invalidation struct {
	Table  string `json:"table"` // tenants, clients or signing_keys
	Tenant string `json:"tenant"`
	ID     string `json:"id,omitempty"` // a client's id
}

func clientKey(tenant, id string) string { return tenant + "\x00" + id }

func newCaches(ttl time.Duration, log *slog.Logger) *caches {
	return &caches{
		tenants: newReadCache[*identity.Tenant]("tenants", tenantCacheSize, ttl, nil),
		clients: newReadCache[*oauth.Client]("clients", clientCacheSize, ttl, nil),
		keys:    newReadCache[[]*oauth.SigningKey]("keys", keyCacheSize, ttl, nil),
		pending: map[*sqlx.Tx][]invalidation{},
		log:     log,
	}
}

func (c *caches) setEnabled(on bool) {
	c.tenants.setEnabled(on)
	c.clients.setEnabled(on)
	c.keys.setEnabled(on)
}

func (c *caches) flush() {
	c.tenants.flush()
	c.clients.flush()
	c.keys.flush()
}

func (c *caches) apply(inv invalidation) {
	switch inv.Table {
	case "tenants":
		c.tenants.invalidate(inv.Tenant)
	case "clients":
		c.clients.invalidate(clientKey(inv.Tenant, inv.ID))
	case "signing_keys":
		if inv.Tenant == "" {
			c.keys.flush()
		} else {
			c.keys.invalidate(inv.Tenant)
		}
	default:
		c.flush()
	}
}

// invalidate records that a write changed inv: at once without a transaction, when
// it commits inside one.
func (s *Store) invalidate(ctx context.Context, inv invalidation) {
	if s.caches == nil {
		return
	}
	if tx, ok := ctx.Value(txKey{}).(*sqlx.Tx); ok {
		s.caches.mu.Lock()
		s.caches.pending[tx] = append(s.caches.pending[tx], inv)
		s.caches.mu.Unlock()
		return
	}
	s.caches.apply(inv)
}

// txEnded applies (commit) or drops (rollback) a transaction's invalidations. A
// failed commit applies them too: whether it took effect is unknown.
func (s *Store) txEnded(tx *sqlx.Tx, committed bool) {
	if s.caches == nil {
		return
	}
	s.caches.mu.Lock()
	invs := s.caches.pending[tx]
	delete(s.caches.pending, tx)
	s.caches.mu.Unlock()
	if committed {
		for _, inv := range invs {
			s.caches.apply(inv)
		}
	}
}

// cached reports whether a read may be served from the caches: never inside a
// transaction, which must see its own writes and the rows as they are.
func (s *Store) cached(ctx context.Context) bool {
	if s.caches == nil {
		return false
	}
	_, inTx := ctx.Value(txKey{}).(*sqlx.Tx)
	return !inTx
}

// CacheStats reports the Store's caches (none when Options.CacheTTL is negative).
func (s *Store) CacheStats() []CacheStat {
	if s.caches == nil {
		return nil
	}
	return []CacheStat{s.caches.tenants.stat(), s.caches.clients.stat(), s.caches.keys.stat()}
}

// Listener timings: reconnection backoff after the LISTEN connection is lost, and how
// often an idle one is pinged so that a dead connection is noticed (the TTL bounds
// what it may miss meanwhile).
const (
	listenMinReconnect = 100 * time.Millisecond
	listenMaxReconnect = 5 * time.Second
	listenPing         = 15 * time.Second
)

// listen starts the LISTEN connection of a PostgreSQL Store. The caches serve nothing
// until it listens; when it loses the connection they are emptied and switched off,
// and when it is back (PostgreSQL restarted, the network returned) they start empty,
// because whatever was notified meanwhile is lost.
func (c *caches) listen(dsn string) {
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	c.listener = pq.NewListener(dsn, listenMinReconnect, listenMaxReconnect, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventReconnected:
			c.setEnabled(true)
			c.log.Info("cache invalidation listener reconnected; caches emptied")
		case pq.ListenerEventDisconnected:
			c.setEnabled(false)
			c.log.Warn("cache invalidation listener lost its connection; caches off until it is back", "err", err)
		case pq.ListenerEventConnectionAttemptFailed:
			c.log.Warn("cache invalidation listener cannot connect", "err", err)
		}
	})
	go c.run()
}

func (c *caches) run() {
	defer close(c.done)
	// Listen blocks until the LISTEN is acknowledged (or the connection is lost, in
	// which case the listener issues it again when it reconnects and reports that).
	if err := c.listener.Listen(notifyChannel); err == nil || c.listener.Ping() == nil {
		c.setEnabled(true)
	} else if _, ok := err.(*pq.Error); ok {
		c.log.Error("cache invalidation listener: LISTEN refused; caches stay off", "err", err)
	}
	ping := time.NewTicker(listenPing)
	defer ping.Stop()
	for {
		select {
		case <-c.stop:
			return
		case n := <-c.listener.Notify:
			if n == nil { // reconnected: notifications may have been lost
				c.flush()
				continue
			}
			var inv invalidation
			if err := json.Unmarshal([]byte(n.Extra), &inv); err != nil {
				c.flush()
				continue
			}
			c.apply(inv)
		case <-ping.C:
			go func() { _ = c.listener.Ping() }()
		}
	}
}

// close stops the listener; closing again (a Store closed twice) does nothing.
func (c *caches) close() {
	if c.listener == nil {
		return
	}
	c.closeOnce.Do(func() {
		close(c.stop)
		_ = c.listener.Close() // unblocks a Listen still waiting for a connection
		<-c.done
	})
}
