package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"

	"github.com/custodian-id/custodian/identity"
)

// DefaultCacheTTL is how long a node serves a cached tenant, client or key set
// without reading it again, when Options.CacheTTL is zero. Invalidation (in-process
// on every write, and PostgreSQL's NOTIFY from every node and the command line) is
// what makes changes take effect at once; the TTL is the bound when an invalidation
// cannot reach this node: a notification lost while the listening connection was
// down, or a write to a SQLite file by another process (the command line).
const DefaultCacheTTL = time.Second

// Sizes of the caches. A miss costs one query, never a failure; 1,000 tenants with a
// handful of clients each fit whole.
const (
	tenantCacheSize = 4096
	clientCacheSize = 16384
	keyCacheSize    = 4096
)

// readCache is one per-node cache of rows that rarely change: an LRU of at most
// size entries, each served for at most ttl after it was read.
//
// Invalidation races a load in flight: a load that read the row before a change
// committed may finish after the invalidation of that change. Every invalidation
// therefore bumps the cache's epoch, and a load stores its value only if the epoch
// is the one it started in; loads are shared (singleflight) only among callers of the
// same epoch, so a caller that arrives after an invalidation never gets a value read
// before it.
type readCache[V any] struct {
	name string
	ttl  time.Duration
	now  func() time.Time // the TTL's clock: real time, not the Store's (tests pin that)

	mu      sync.Mutex
	lru     *simplelru.LRU[string, cacheEntry[V]]
	epoch   uint64
	enabled bool // false: every read goes to the database and nothing is stored

	flight singleflight.Group

	hits, misses, invalidations atomic.Uint64
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time
}

func newReadCache[V any](name string, size int, ttl time.Duration, now func() time.Time) *readCache[V] {
	l, err := simplelru.NewLRU[string, cacheEntry[V]](size, nil)
	if err != nil {
		panic(err) // only for a size <= 0, which the constants rule out
	}
	if now == nil {
		now = time.Now
	}
	return &readCache[V]{name: name, ttl: ttl, now: now, lru: l}
}

// get returns the cached value of key, or loads it. A failed load (not found
// included) is returned and not stored. The load runs detached from the caller's
// cancellation (other callers may share it) but a caller whose ctx ends stops
// waiting.
func (c *readCache[V]) get(ctx context.Context, key string, load func(ctx context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	if !c.enabled {
		c.mu.Unlock()
		c.misses.Add(1)
		return load(ctx)
	}
	if e, ok := c.lru.Get(key); ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		c.hits.Add(1)
		return e.v, nil
	}
	epoch := c.epoch
	c.mu.Unlock()
	c.misses.Add(1)
	ch := c.flight.DoChan(key+"\x00"+strconv.FormatUint(epoch, 36), func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
		defer cancel()
		v, err := load(lctx)
		if err != nil {
			return v, err
		}
		c.mu.Lock()
		if c.enabled && c.epoch == epoch {
			c.lru.Add(key, cacheEntry[V]{v: v, expires: c.now().Add(c.ttl)})
		}
		c.mu.Unlock()
		return v, nil
	})
	select {
	case r := <-ch:
		v, _ := r.Val.(V)
		return v, r.Err
	case <-ctx.Done():
		// The request's deadline ran out while the shared load still waits on the
		// database: as on the uncached path (mapErr), that is the database being
		// unavailable, never an answer about the row (a client that "does not exist"
		// would be invalid_client).
		var zero V
		err := fmt.Errorf("waiting for the %s cache's load: %w", c.name, ctx.Err())
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = errors.Join(identity.ErrUnavailable, err)
		}
		return zero, err
	}
}

// invalidate drops key, and any load in flight started before now.
func (c *readCache[V]) invalidate(key string) {
	c.mu.Lock()
	c.lru.Remove(key)
	c.epoch++
	c.mu.Unlock()
	c.invalidations.Add(1)
}

// flush drops everything, and any load in flight.
func (c *readCache[V]) flush() {
	c.mu.Lock()
	c.lru.Purge()
	c.epoch++
	c.mu.Unlock()
	c.invalidations.Add(1)
}

// setEnabled switches the cache on or off; either way it starts empty.
func (c *readCache[V]) setEnabled(on bool) {
	c.mu.Lock()
	c.lru.Purge()
	c.epoch++
	c.enabled = on
	c.mu.Unlock()
}

func (c *readCache[V]) stat() CacheStat {
	c.mu.Lock()
	n := c.lru.Len()
	c.mu.Unlock()
	return CacheStat{Name: c.name, Entries: n, Hits: c.hits.Load(), Misses: c.misses.Load(), Invalidations: c.invalidations.Load()}
}

// CacheStat is what one cache of a Store has done since the Store opened.
type CacheStat struct {
	Name          string // "tenants", "clients", "keys"
	Entries       int
	Hits          uint64
	Misses        uint64 // reads that went to the database
	Invalidations uint64 // keys dropped or whole flushes
}
