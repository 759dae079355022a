package requests

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// Item is one request as every node sees it.
type Item struct {
	ID          record.ID
	Agency      peer.ID
	Seq         uint64
	Credential  record.ID
	Case        string
	Incident    string
	Description string
	Contact     string
	Area        Area
	From, To    time.Time
	Created     time.Time
	Closed      bool
	ClosedAt    time.Time
	Notes       []Note
	// Yield: what the agency's Yield records for this request add up to.
	Yield Yield
}

// Yield is a request's yield: the sum of the agency's Yield records for it.
type Yield struct {
	Clips   int   // clips received (shares)
	Homes   int   // distinct homes that shared (sum of new_homes)
	Bytes   int64 // bytes received
	VideoMS int64 // seconds of video x 1000
	Records int   // Yield records
}

// Note is an annotation from a later update.
type Note struct {
	Time time.Time
	Text string
}

// AreaHours is the request's area in square miles times its window in hours.
func (it *Item) AreaHours() float64 {
	return it.Area.SquareMiles() * it.To.Sub(it.From).Hours()
}

// agencyLog is an agency's requests, built from its log up to contig and
// extended as the log grows. Requests are never removed, so extending is
// always right.
type agencyLog struct {
	contig uint64
	items  []*Item // in log order
	// byTime: the items by Created, oldest first, and of one time in
	// reverse log order, so that read from the end it is what List shows:
	// newest first, and of one time in log order. Kept as records are
	// applied, so that a listing sorts nothing and copies only what it
	// returns.
	byTime []*Item
	bySeq  map[uint64]*Item
	open   int   // open requests now
	opens  []int // opens[n]: open requests after seq n (opens[0] = 0)
	// latest[n]: the latest created time (Unix ms) of the records at seq
	// 1..n (latest[0] = 0). Times in an agency's log may not go backwards,
	// so a record cannot claim a time before one its log already shows.
	latest []int64
	// commits: every commitment a Yield of the log counted, and where.
	commits map[record.ID]yieldAt
	// areaHours: the items' AreaHours summed in log order, as Agency
	// reports it.
	areaHours float64
}

func newAgencyLog() *agencyLog {
	return &agencyLog{bySeq: map[uint64]*Item{}, opens: []int{0}, latest: []int64{0}}
}

func (l *agencyLog) openAfter(seq uint64) int {
	if seq >= uint64(len(l.opens)) {
		return l.opens[len(l.opens)-1]
	}
	return l.opens[seq]
}

// latestThrough is the latest time claimed by the records at seq 1..seq.
func (l *agencyLog) latestThrough(seq uint64) int64 {
	if seq >= uint64(len(l.latest)) {
		return l.latest[len(l.latest)-1]
	}
	return l.latest[seq]
}

// agencyLog returns the agency's requests with its log read at least up to
// seq `need`. If the log has a gap below need, the caller's record is held.
func (s *Service) agencyLog(a peer.ID, need uint64) (*agencyLog, error) {
	h, err := s.db.Head(a)
	if err != nil {
		return nil, err
	}
	if h.Contig < need {
		return nil, fmt.Errorf("agency %s's log has a gap before seq %d: %w", a, need+1, mesh.ErrHeld)
	}
	return s.agencyLogTo(a, h)
}

// agencyLogTo returns the agency's requests with its log read up to h,
// its head as just read.
func (s *Service) agencyLogTo(a peer.ID, h store.Head) (*agencyLog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[a]
	if l == nil {
		l = newAgencyLog()
		s.logs[a] = l
	}
	for l.contig < h.Contig {
		slots, _, err := s.db.Slots(a, l.contig+1, 1000, 4<<20)
		if err != nil {
			return nil, err
		}
		progressed := false
		for _, sl := range slots {
			if sl.Seq != l.contig+1 {
				continue // equivocating extras, or past a hole
			}
			l.add(a, sl)
			progressed = true
		}
		if !progressed {
			break
		}
	}
	return l, nil
}

// buildAll reads every slot of a's log, equivocating versions included.
func (s *Service) buildAll(a peer.ID) (*agencyLog, error) {
	l := newAgencyLog()
	seen := map[record.ID]bool{}
	from := uint64(1)
	for {
		slots, more, err := s.db.Slots(a, from, 100_000, 64<<20)
		if err != nil {
			return nil, err
		}
		for _, sl := range slots {
			if !seen[sl.ID] {
				seen[sl.ID] = true
				l.apply(a, sl)
			}
		}
		if !more || len(slots) == 0 {
			l.opens = append(l.opens, l.open)
			return l, nil
		}
		from = slots[len(slots)-1].Seq
	}
}

// add appends the next slot of the log (seq contig+1).
func (l *agencyLog) add(a peer.ID, sl store.Slot) {
	l.contig = sl.Seq
	latest := l.latest[len(l.latest)-1]
	if s := l.apply(a, sl); s != nil {
		latest = max(latest, s.Entry.GetCreated())
	}
	l.opens = append(l.opens, l.open)
	l.latest = append(l.latest, latest)
}

// apply takes one record's effect on the requests. It returns the decoded
// record, or nil for a purged slot.
func (l *agencyLog) apply(a peer.ID, sl store.Slot) *record.Signed {
	if sl.Raw == nil {
		return nil
	}
	s, err := record.DecodeTrusted(sl.Raw)
	if err != nil {
		return nil
	}
	switch b := s.Entry.GetBody().(type) {
	case *pb.Entry_Request:
		it := itemOf(a, s, b.Request)
		l.items = append(l.items, it)
		l.insertByTime(it)
		l.areaHours += it.AreaHours()
		if l.bySeq[s.Seq()] == nil {
			l.bySeq[s.Seq()] = it
		}
		l.open++
	case *pb.Entry_Update:
		if it := l.bySeq[b.Update.GetRequestSeq()]; it != nil {
			if b.Update.GetNote() != "" {
				it.Notes = append(it.Notes, Note{Time: s.Created(), Text: b.Update.GetNote()})
			}
			if b.Update.GetClosed() && !it.Closed {
				it.Closed, it.ClosedAt = true, s.Created()
				l.open--
			}
		}
	case *pb.Entry_Yield:
		l.addYield(s, b.Yield)
	}
	return s
}

// insertByTime places a new item in byTime: after every older one, and
// before those of its own time, which came earlier in the log. A log's
// times may not go backwards (checkTimeOrder), so this is almost always
// the end; an equivocating version (buildAll) may land anywhere.
func (l *agencyLog) insertByTime(it *Item) {
	n := len(l.byTime)
	if n == 0 || l.byTime[n-1].Created.Before(it.Created) {
		l.byTime = append(l.byTime, it)
		return
	}
	i := sort.Search(n, func(i int) bool { return !l.byTime[i].Created.Before(it.Created) })
	l.byTime = slices.Insert(l.byTime, i, it)
}

// newest returns the log's i-th newest request (0: the newest), in List's
// order.
func (l *agencyLog) newest(i int) *Item { return l.byTime[len(l.byTime)-1-i] }

func itemOf(a peer.ID, s *record.Signed, r *pb.Request) *Item {
	it := &Item{
		ID: s.ID, Agency: a, Seq: s.Seq(),
		Case: r.GetCaseNumber(), Incident: r.GetIncident(), Description: r.GetDescription(), Contact: r.GetContact(),
		Area: AreaFromPB(r.GetArea()), From: time.UnixMilli(r.GetFrom()), To: time.UnixMilli(r.GetTo()), Created: s.Created(),
	}
	copy(it.Credential[:], r.GetCredential())
	return it
}

// round3 keeps figures legible in JSON.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
