package mesh

import (
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/record"
)

// Nodes do not report their clocks, but every record carries its author's
// signed creation time, and a neighbor gossips its own new records to us
// directly within moments. The difference between that time and ours, per
// neighbor, tells whose clock is off. One record says little (a stranger
// can sign any time it likes), so the report is per neighbor, and only
// neighbors that delivered their own record count.

// ClockReport compares this node's clock with its neighbors'.
type ClockReport struct {
	// Observed is how many connected neighbors delivered a record of their
	// own in the last hour.
	Observed int
	// Ahead and Behind count those whose last record was dated more than
	// record.MaxClockSkew after or before this node's clock on arrival.
	// Records dated ahead are refused; behind is only a hint (a record can
	// be sent late).
	Ahead, Behind int
	// Median is the median of the neighbors' offsets (their time minus
	// ours); positive means the neighbors' clocks are ahead of this one.
	Median time.Duration
}

// clockVoteTTL is how long a neighbor's last offset counts.
const clockVoteTTL = time.Hour

// futureRecheck bounds how often a neighbor's refused future-dated record
// is opened a second time to read its time (a second signature check).
const futureRecheck = 30 * time.Second

type clockWatch struct {
	m  *Mesh
	mu sync.Mutex
	// votes holds the last offset seen from each neighbor; only neighbors
	// are added, and they are dropped when they leave (report prunes).
	votes map[peer.ID]clockVote
	// rechecked is when each neighbor's future-dated record was last
	// opened a second time.
	rechecked map[peer.ID]time.Time
}

type clockVote struct {
	offset time.Duration
	at     time.Time
}

func newClockWatch(m *Mesh, r prometheus.Registerer) *clockWatch {
	c := &clockWatch{m: m, votes: map[peer.ID]clockVote{}, rechecked: map[peer.ID]time.Time{}}
	gauge := func(state string, f func(ClockReport) float64) {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "porchlight_clock_neighbors",
			Help:        "Connected neighbors whose own records were seen in the last hour (state=observed), and those dated more than 5 min ahead of or behind this node's clock.",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 { return f(c.report()) }))
	}
	gauge("observed", func(r ClockReport) float64 { return float64(r.Observed) })
	gauge("ahead", func(r ClockReport) float64 { return float64(r.Ahead) })
	gauge("behind", func(r ClockReport) float64 { return float64(r.Behind) })
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "porchlight_clock_offset_seconds",
		Help:        "Median of the neighbors' clock offsets from this node's (positive: theirs are ahead).",
		ConstLabels: prometheus.Labels{"stat": "median"},
	}, func() float64 { return c.report().Median.Seconds() }))
	return c
}

// observe notes the record a peer delivered by gossip: s when it was
// opened, or raw when it was refused. Only a neighbor's own records count.
func (c *clockWatch) observe(from peer.ID, s *record.Signed, raw []byte, err error) {
	now := c.m.cfg.Now()
	if s == nil {
		if record.ReasonOf(err) != record.ReasonFuture || !c.m.peers.has(from) || !ownRecord(from, raw) || !c.due(from, now) {
			return
		}
		// Refused as future-dated: open it again without the time check,
		// to read the time and check that the sender signed it.
		var oerr error
		if s, oerr = record.Open(raw, now.Add(100*365*24*time.Hour)); oerr != nil {
			return
		}
	}
	if s.Author != from || !c.m.peers.has(from) {
		return
	}
	c.mu.Lock()
	c.votes[from] = clockVote{offset: s.Created().Sub(now), at: now}
	c.mu.Unlock()
}

// ownRecord reports whether raw's envelope names from as its signer, by
// parsing only (Open checks the signature after): a future-dated record
// that a neighbor relays, routine once neighbors are connected to each
// other, must not use up that neighbor's recheck and hide its own clock
// for futureRecheck.
func ownRecord(from peer.ID, raw []byte) bool {
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		return false
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	return err == nil && signer == from
}

// due reports whether a neighbor's future-dated record may be re-opened.
func (c *clockWatch) due(p peer.ID, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.rechecked[p]; ok && now.Sub(at) < futureRecheck {
		return false
	}
	c.rechecked[p] = now
	return true
}

func (c *clockWatch) report() ClockReport {
	now := c.m.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var r ClockReport
	var offsets []time.Duration
	for p, v := range c.votes {
		if now.Sub(v.at) > clockVoteTTL || !c.m.peers.has(p) {
			delete(c.votes, p)
			continue
		}
		r.Observed++
		switch {
		case v.offset > record.MaxClockSkew:
			r.Ahead++
		case v.offset < -record.MaxClockSkew:
			r.Behind++
		}
		offsets = append(offsets, v.offset)
	}
	for p := range c.rechecked {
		if !c.m.peers.has(p) {
			delete(c.rechecked, p)
		}
	}
	if len(offsets) > 0 {
		slices.Sort(offsets)
		r.Median = offsets[len(offsets)/2]
	}
	return r
}

// Clock compares this node's clock with its neighbors'.
func (m *Mesh) Clock() ClockReport { return m.clock.report() }
