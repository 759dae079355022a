package requests

import (
	"container/list"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/record"
)

// Credentials of issuers this node does not trust are anyone's to make, by
// the thousand, for free. They are kept only so that a request under one is
// refused for what it is (an untrusted issuer) rather than held waiting for
// its credential: in memory, never on disk, never relayed or offered in
// sync, a bounded number and size, least recently used evicted first, and
// forgotten after a while unless a request names them.

// Defaults for the untrusted-document cache (see Config).
const (
	DefaultUntrustedDocs  = 1024
	DefaultUntrustedBytes = 1 << 20
	DefaultUntrustedTTL   = 24 * time.Hour
)

// UntrustedStats describes the cache of untrusted issuers' credentials, for
// status and doctor: a large Received with Evicted close behind is a flood.
type UntrustedStats struct {
	Held     int    // credentials held now
	Bytes    int    // their envelopes' size
	Received uint64 // new credentials of untrusted issuers received since start
	Evicted  uint64 // dropped for the count or byte cap
	Expired  uint64 // dropped after TTL without a request naming them
	Ignored  uint64 // revocations by untrusted issuers, dropped on receipt
}

type untrustedEntry struct {
	doc  *record.Doc
	used time.Time
}

// untrustedDocs is an LRU of opened credentials by ID.
type untrustedDocs struct {
	maxDocs, maxBytes int
	ttl               time.Duration
	now               func() time.Time

	mu    sync.Mutex
	byID  map[record.ID]*list.Element
	lru   *list.List // front: most recently used
	bytes int
	stats UntrustedStats
}

func newUntrustedDocs(maxDocs, maxBytes int, ttl time.Duration, now func() time.Time) *untrustedDocs {
	return &untrustedDocs{maxDocs: maxDocs, maxBytes: maxBytes, ttl: ttl, now: now, byID: map[record.ID]*list.Element{}, lru: list.New()}
}

// add keeps d, evicting as needed; false if it was held already.
func (u *untrustedDocs) add(d *record.Doc) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.now()
	u.expireLocked(now)
	if el, ok := u.byID[d.ID]; ok {
		el.Value.(*untrustedEntry).used = now
		u.lru.MoveToFront(el)
		return false
	}
	u.stats.Received++
	if len(d.Raw) > u.maxBytes {
		u.stats.Evicted++
		return true
	}
	u.byID[d.ID] = u.lru.PushFront(&untrustedEntry{doc: d, used: now})
	u.bytes += len(d.Raw)
	for len(u.byID) > u.maxDocs || u.bytes > u.maxBytes {
		u.removeLocked(u.lru.Back())
		u.stats.Evicted++
	}
	return true
}

// get returns a held credential and marks it used, or nil.
func (u *untrustedDocs) get(id record.ID) *record.Doc {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.now()
	u.expireLocked(now)
	el, ok := u.byID[id]
	if !ok {
		return nil
	}
	e := el.Value.(*untrustedEntry)
	e.used = now
	u.lru.MoveToFront(el)
	return e.doc
}

// take removes and returns every credential whose issuer is now trusted.
func (u *untrustedDocs) take(trusted func(*record.Doc) bool) []*record.Doc {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*record.Doc
	for el := u.lru.Front(); el != nil; {
		next := el.Next()
		if d := el.Value.(*untrustedEntry).doc; trusted(d) {
			out = append(out, d)
			u.removeLocked(el)
		}
		el = next
	}
	return out
}

func (u *untrustedDocs) ignored() {
	u.mu.Lock()
	u.stats.Ignored++
	u.mu.Unlock()
}

func (u *untrustedDocs) snapshot() UntrustedStats {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expireLocked(u.now())
	s := u.stats
	s.Held, s.Bytes = len(u.byID), u.bytes
	return s
}

// expireLocked drops entries unused for ttl: the LRU's back is the oldest.
func (u *untrustedDocs) expireLocked(now time.Time) {
	for el := u.lru.Back(); el != nil && now.Sub(el.Value.(*untrustedEntry).used) >= u.ttl; el = u.lru.Back() {
		u.removeLocked(el)
		u.stats.Expired++
	}
}

func (u *untrustedDocs) removeLocked(el *list.Element) {
	e := u.lru.Remove(el).(*untrustedEntry)
	delete(u.byID, e.doc.ID)
	u.bytes -= len(e.doc.Raw)
}

// UntrustedDocs reports on the credentials of untrusted issuers this node
// holds (in memory only) and on how many it has received and dropped.
func (s *Service) UntrustedDocs() UntrustedStats { return s.untrusted.snapshot() }

// Collectors are the service's Prometheus metrics, for the node's registry:
// a flood of self-made credentials shows as a fast-rising
// porchlight_untrusted_documents_received_total.
func (s *Service) Collectors() []prometheus.Collector {
	gauge := func(name, help string, f func(UntrustedStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(s.UntrustedDocs()) })
	}
	counter := func(name, help string, f func(UntrustedStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(s.UntrustedDocs()) })
	}
	return []prometheus.Collector{
		gauge("porchlight_untrusted_documents", "Credentials of untrusted issuers held in memory (never stored, relayed or offered in sync).",
			func(u UntrustedStats) float64 { return float64(u.Held) }),
		gauge("porchlight_untrusted_document_bytes", "Size of the credentials of untrusted issuers held in memory.",
			func(u UntrustedStats) float64 { return float64(u.Bytes) }),
		counter("porchlight_untrusted_documents_received_total", "New credentials of untrusted issuers received; a fast rise is a flood.",
			func(u UntrustedStats) float64 { return float64(u.Received) }),
		counter("porchlight_untrusted_documents_evicted_total", "Credentials of untrusted issuers dropped for the count or byte cap.",
			func(u UntrustedStats) float64 { return float64(u.Evicted) }),
		counter("porchlight_untrusted_documents_expired_total", "Credentials of untrusted issuers dropped unused after their time to live.",
			func(u UntrustedStats) float64 { return float64(u.Expired) }),
		counter("porchlight_untrusted_revocations_ignored_total", "Revocations by untrusted issuers, dropped on receipt.",
			func(u UntrustedStats) float64 { return float64(u.Ignored) }),
	}
}
