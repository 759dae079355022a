package feed

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// Limits bound what one author may add to the feed. The zero value of a
// field means the default (DefaultLimits).
type Limits struct {
	// PostsPerHour is the most posts (profile changes included) an author
	// may write in any rolling hour, and the rate at which its burst
	// allowance refills.
	PostsPerHour int
	// Burst is how many posts an author may write back to back.
	Burst int
	// MaxBytes bounds the envelopes of an author's feed records (posts,
	// profiles, retractions) that are not retracted.
	MaxBytes int64
}

// DefaultLimits are the limits of a neighborhood whose charter sets none.
var DefaultLimits = Limits{PostsPerHour: 20, Burst: 5, MaxBytes: 10_000_000}

// Tighten returns l (zero fields: the default) with every field that other
// sets stricter taken from other: a charter may tighten the limits, never
// loosen them.
func (l Limits) Tighten(other Limits) Limits {
	l = l.orDefault()
	if other.PostsPerHour > 0 && other.PostsPerHour < l.PostsPerHour {
		l.PostsPerHour = other.PostsPerHour
	}
	if other.Burst > 0 && other.Burst < l.Burst {
		l.Burst = other.Burst
	}
	if other.MaxBytes > 0 && other.MaxBytes < l.MaxBytes {
		l.MaxBytes = other.MaxBytes
	}
	return l
}

func (l Limits) orDefault() Limits {
	if l.PostsPerHour <= 0 {
		l.PostsPerHour = DefaultLimits.PostsPerHour
	}
	if l.Burst <= 0 {
		l.Burst = DefaultLimits.Burst
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	return l
}

// hourMs is the rolling window, in the unit of created times.
const hourMs = int64(time.Hour / time.Millisecond)

// maxCachedAuthors bounds the Limiter's memory: past it, the state of an
// author is dropped and rebuilt from its log when needed.
const maxCachedAuthors = 4096

// maxNotes bounds the retractions whose effect the Limiter remembers.
const maxNotes = 4096

// Limiter judges feed records against the per-author Limits. Every node
// must reach the same verdict on a record, or sync would offer forever
// what some nodes hold and others refuse; so a record is judged only from
// what its author signed: its own created time and size, and the records
// before it in the author's log, never from when or in which order it
// arrived. See the package documentation for the rules.
//
// The state of each author's log (its bytes, and the times its rate is
// judged by) is cached in memory up to the last record judged, so that a
// record costs a read of the one before it; a cold cache (after a
// restart) is rebuilt from the stored log with the same result.
type Limiter struct {
	db       *store.DB
	lim      Limits
	interval int64 // ms between posts at the sustained rate (rounded up)
	slack    int64 // ms a burst may run ahead of the sustained rate

	mu      sync.Mutex
	authors map[peer.ID]*authorLog
	// effect remembers, for retractions judged, whether they purge a
	// post: a state that counted that post while it was live must then
	// be rebuilt.
	effect map[record.ID]bool
}

// NewLimiter returns a Limiter of the records stored in db (zero fields of
// l: the default).
func NewLimiter(db *store.DB, l Limits) *Limiter {
	l = l.orDefault()
	interval := (hourMs + int64(l.PostsPerHour) - 1) / int64(l.PostsPerHour)
	return &Limiter{
		db: db, lim: l, interval: interval, slack: int64(l.Burst-1) * interval,
		authors: map[peer.ID]*authorLog{}, effect: map[record.ID]bool{},
	}
}

// Limits returns the limits the Limiter applies.
func (l *Limiter) Limits() Limits { return l.lim }

// authorLog is the cached state of one author's log.
type authorLog struct {
	mu sync.Mutex
	st logState
}

// logState is what the limits need of slots 1..seq of a log, all held.
type logState struct {
	seq   uint64
	bytes int64 // envelopes of the live feed records
	last  int64 // clamped created time (Unix ms) of the last rated record
	dated bool  // a live rated record or retraction was folded: last is set
	// undated counts the retracted posts folded before any live rated
	// record or retraction: with no time before them, they count at the
	// time of the next one.
	undated int
	tat     int64   // theoretical arrival time of the next rated record (GCRA)
	times   []int64 // clamped times of the last PostsPerHour rated records, oldest first
}

// CheckEntry judges a verified log record against the limits before it is
// stored (see mesh.Rules): nil to accept, a *record.Invalid with reason
// record.ReasonRate or record.ReasonSize to refuse, or an error wrapping
// mesh.ErrHeld when an earlier record of the author's log has not arrived
// (the record cannot be judged yet). Records that are not feed records
// pass, and so does a record whose slot is held already: a duplicate, or
// a second version that the store keeps as proof of equivocation (it
// would be judged against the same records as the first).
func (l *Limiter) CheckEntry(s *record.Signed) error {
	var retraction *pb.Retraction
	switch b := s.Entry.GetBody().(type) {
	case *pb.Entry_Post, *pb.Entry_Profile, *pb.Entry_Omission:
	case *pb.Entry_Retraction:
		retraction = b.Retraction
	default:
		return nil
	}
	al := l.author(s.Author)
	al.mu.Lock()
	defer al.mu.Unlock()
	w, err := l.advance(al, s.Author, s.Seq())
	if err != nil {
		return fmt.Errorf("read the log of %s: %w", s.Author, err)
	}
	if w.held {
		return nil
	}
	if retraction != nil {
		return l.checkRetraction(al, s, retraction, w)
	}
	if !w.complete {
		return held(s, w.hole)
	}
	if r := l.judge(&al.st, s.Entry.GetCreated(), int64(len(s.Raw))); r != nil {
		return r.received(l.lim)
	}
	return nil
}

// checkRetraction judges a retraction: it is not rate-limited, and it
// counts for the bytes after its effect, so that retracting a post frees
// the post's bytes. A node that catches up a log receives a retracted
// post only as a stub, accepted after the retraction: a retraction whose
// target is missing is judged from the slots held, and passes if they
// stay under the limit.
func (l *Limiter) checkRetraction(al *authorLog, s *record.Signed, r *pb.Retraction, w walk) error {
	size := int64(len(s.Raw))
	tseq := r.GetTargetSeq()
	var freed int64
	found := false
	err := l.db.LogSlots(s.Author, tseq, tseq, func(sl store.Slot) error {
		found = true
		var target record.ID
		copy(target[:], r.GetTargetHash())
		if sl.Raw == nil || sl.ID != target {
			return nil
		}
		e, err := entryOf(sl.Raw)
		if err != nil {
			return err
		}
		if e.GetPost() != nil {
			freed = int64(len(sl.Raw))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the log of %s: %w", s.Author, err)
	}
	switch {
	case w.complete:
		l.note(s.ID, freed > 0)
		if b := al.st.bytes - freed + size; b > l.lim.MaxBytes {
			return (&refusal{reason: record.ReasonSize, bytes: b}).received(l.lim)
		}
		return nil
	case found:
		return held(s, w.hole)
	}
	l.note(s.ID, false)
	if b := al.st.bytes + w.after + size; b > l.lim.MaxBytes {
		return held(s, w.hole)
	}
	return nil
}

// checkOwn judges the next post of a's own log, written at now with an
// envelope of at most size bytes, and says what to do if it would be
// refused. A log with a hole is left to the log's own check.
func (l *Limiter) checkOwn(a peer.ID, now time.Time, size int64) error {
	h, err := l.db.Head(a)
	if err != nil {
		return err
	}
	al := l.author(a)
	al.mu.Lock()
	defer al.mu.Unlock()
	w, err := l.advance(al, a, h.Max+1)
	if err != nil {
		return fmt.Errorf("read this home's log: %w", err)
	}
	if !w.complete {
		return nil
	}
	if r := l.judge(&al.st, now.UnixMilli(), size); r != nil {
		return r.own(l.lim, now)
	}
	return nil
}

func held(s *record.Signed, hole uint64) error {
	return fmt.Errorf("%w: feed record %d of %s is judged against the records before it, and record %d has not arrived",
		mesh.ErrHeld, s.Seq(), s.Author, hole)
}

// author returns the cached state of a's log, making an empty one.
func (l *Limiter) author(a peer.ID) *authorLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	al := l.authors[a]
	if al == nil {
		if len(l.authors) >= maxCachedAuthors {
			for k := range l.authors { // drop any one: it is rebuilt if needed
				delete(l.authors, k)
				break
			}
		}
		al = &authorLog{}
		l.authors[a] = al
	}
	return al
}

// note remembers whether the retraction id purges a live post.
func (l *Limiter) note(id record.ID, purges bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.effect) >= maxNotes {
		clear(l.effect)
	}
	l.effect[id] = purges
}

// purges reports what note remembered of the retraction id; known is
// false if it does not remember it.
func (l *Limiter) purges(id record.ID) (purges, known bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	purges, known = l.effect[id]
	return purges, known
}

// walk is what advance found of a log below seq k.
type walk struct {
	complete bool   // slots 1..k-1 are all held (then al.st covers them)
	hole     uint64 // the first missing seq, if not complete
	after    int64  // bytes of the live feed records held past the hole, below k
	held     bool   // slot k is held (by the record judged or another version)
}

// errRefold ends a walk that met a retraction of a post the state counted
// while it was live.
var errRefold = errors.New("rebuild the log's state")

// advance brings al's state up to slot k-1 of a's log, as far as the log
// is held without a hole, reading only the slots past what is cached.
func (l *Limiter) advance(al *authorLog, a peer.ID, k uint64) (walk, error) {
	st := &al.st
	if st.seq >= k {
		// Slot k is held: by this record (a duplicate) or by another
		// version of it (equivocation, which the store keeps as proof).
		return walk{complete: true, held: true}, nil
	}
	start := st.seq
	w := walk{complete: true}
	err := l.db.LogSlots(a, st.seq+1, k, func(sl store.Slot) error {
		switch {
		case sl.Seq == k:
			w.held = true
			return nil
		case w.complete && sl.Seq == st.seq+1:
			return l.fold(st, sl, start)
		}
		if w.complete {
			w.complete, w.hole = false, st.seq+1
		}
		n, err := feedBytes(sl)
		w.after += n
		return err
	})
	if errors.Is(err, errRefold) {
		*st = logState{}
		return l.advance(al, a, k)
	}
	if err != nil {
		*st = logState{}
		return w, err
	}
	if w.complete && st.seq < k-1 {
		w.complete, w.hole = false, st.seq+1
	}
	return w, nil
}

// fold adds slot sl (the one after st.seq) to st. A retracted (purged)
// post counts for the rate at the time of the rated record before it (or,
// with none, of the next rated record or retraction): its own time is
// gone with its content, on every node. start is where this walk began: a
// retraction of a post at or below it, which the state may have counted
// while it was live, makes the state be rebuilt.
func (l *Limiter) fold(st *logState, sl store.Slot, start uint64) error {
	if sl.Raw == nil {
		if st.dated {
			l.rate(st, st.last)
		} else {
			st.undated++
		}
		st.seq = sl.Seq
		return nil
	}
	e, err := entryOf(sl.Raw)
	if err != nil {
		return err
	}
	switch b := e.GetBody().(type) {
	case *pb.Entry_Post, *pb.Entry_Profile, *pb.Entry_Omission:
		st.bytes += int64(len(sl.Raw))
		l.rateDated(st, max(e.GetCreated(), st.last))
	case *pb.Entry_Retraction:
		if b.Retraction.GetTargetSeq() <= start {
			if purges, known := l.purges(sl.ID); purges || !known {
				return errRefold
			}
		}
		st.bytes += int64(len(sl.Raw))
		if !st.dated {
			// The first time the log gives: the posts it retracted
			// before count at it.
			c := e.GetCreated()
			for ; st.undated > 0; st.undated-- {
				l.rate(st, c)
			}
			st.last, st.dated = c, true
		}
	}
	st.seq = sl.Seq
	return nil
}

// rateDated adds a live rated record at clamped time t, after the undated
// retracted posts before it.
func (l *Limiter) rateDated(st *logState, t int64) {
	for ; st.undated > 0; st.undated-- {
		l.rate(st, t)
	}
	l.rate(st, t)
	st.dated = true
}

// rate adds a rated record at clamped time t.
func (l *Limiter) rate(st *logState, t int64) {
	st.tat = max(t, st.tat) + l.interval
	if len(st.times) == l.lim.PostsPerHour {
		copy(st.times, st.times[1:])
		st.times = st.times[:len(st.times)-1]
	}
	st.times = append(st.times, t)
	st.last = t
}

// refusal is why a rated record would be refused.
type refusal struct {
	reason record.Reason
	window bool  // the rolling hour is full (else the burst is spent), for ReasonRate
	until  int64 // when the record would pass (Unix ms), for ReasonRate
	bytes  int64 // the author's bytes with the record, for ReasonSize
}

// judge applies the limits to a rated record of size bytes created at
// created (Unix ms) after the log st.
func (l *Limiter) judge(st *logState, created, size int64) *refusal {
	t := max(created, st.last)
	if st.undated > 0 {
		// The undated retracted posts count at this record's time.
		c := *st
		c.times = append([]int64(nil), st.times...)
		for ; c.undated > 0; c.undated-- {
			l.rate(&c, t)
		}
		st = &c
	}
	var r *refusal
	if len(st.times) >= l.lim.PostsPerHour && st.times[0] > t-hourMs {
		r = &refusal{reason: record.ReasonRate, window: true, until: st.times[0] + hourMs}
	}
	if t < st.tat-l.slack {
		if r == nil {
			r = &refusal{reason: record.ReasonRate}
		}
		r.until = max(r.until, st.tat-l.slack)
	}
	if r != nil {
		return r
	}
	if b := st.bytes + size; b > l.lim.MaxBytes {
		return &refusal{reason: record.ReasonSize, bytes: b}
	}
	return nil
}

// received is the refusal of a neighbor's record.
func (r *refusal) received(lim Limits) error {
	switch {
	case r.reason == record.ReasonSize:
		return record.Invalidf(r.reason, "author's feed records would take %d bytes, over the limit of %d", r.bytes, lim.MaxBytes)
	case r.window:
		return record.Invalidf(r.reason, "author exceeded %d posts per hour", lim.PostsPerHour)
	}
	return record.Invalidf(r.reason, "author exceeded a burst of %d posts (then one per %s)", lim.Burst, time.Hour/time.Duration(lim.PostsPerHour))
}

// own is the refusal of this home's own post, saying what to do.
func (r *refusal) own(lim Limits, now time.Time) error {
	switch {
	case r.reason == record.ReasonSize:
		return record.Invalidf(r.reason, "your posts would take %s, over the neighborhood's limit of %s per home; retract old posts to make room",
			megabytes(r.bytes), megabytes(lim.MaxBytes))
	case r.window:
		return record.Invalidf(r.reason, "you have posted %d times in the last hour; wait %s", lim.PostsPerHour, minutes(r.until-now.UnixMilli()))
	}
	return record.Invalidf(r.reason, "you have posted %d times in quick succession; wait %s", lim.Burst, minutes(r.until-now.UnixMilli()))
}

// minutes says ms as whole minutes, rounded up.
func minutes(ms int64) string {
	n := max((ms+59_999)/60_000, 1)
	if n == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// megabytes says b bytes for a person.
func megabytes(b int64) string {
	switch {
	case b < 10_000:
		return fmt.Sprintf("%d bytes", b)
	case b < 1_000_000:
		return fmt.Sprintf("%d kB", b/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(b)/1e6)
}

// entryOf decodes the entry of a stored envelope (verified when stored).
func entryOf(raw []byte) (*pb.Entry, error) {
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("decode stored envelope: %w", err)
	}
	e := new(pb.Entry)
	if err := proto.Unmarshal(env.RawPayload, e); err != nil {
		return nil, fmt.Errorf("decode stored entry: %w", err)
	}
	return e, nil
}

// feedBytes is the size a slot counts for: a live feed record's envelope.
func feedBytes(sl store.Slot) (int64, error) {
	if sl.Raw == nil {
		return 0, nil
	}
	e, err := entryOf(sl.Raw)
	if err != nil {
		return 0, err
	}
	switch e.GetBody().(type) {
	case *pb.Entry_Post, *pb.Entry_Profile, *pb.Entry_Omission, *pb.Entry_Retraction:
		return int64(len(sl.Raw)), nil
	}
	return 0, nil
}
