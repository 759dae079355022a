package requests

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// yieldDomain separates yield commitments from every other hash.
const yieldDomain = "porchlight-yield/1\x00"

// YieldCommitment is a Yield share's commitment to one clip received for
// a request under a grant: SHA-256("porchlight-yield/1" 0x00 request
// grant clip). grant is the ID of the grant's signed envelope (the
// SHA-256 of its bytes: clips.SignedGrant.ID, not the 16-byte
// clips.GrantID). Only the grant's owner and the agency hold the grant,
// so nobody else can tell which home a share is.
func YieldCommitment(request, grant, clip record.ID) record.ID {
	h := sha256.New()
	h.Write([]byte(yieldDomain))
	h.Write(request[:])
	h.Write(grant[:])
	h.Write(clip[:])
	var id record.ID
	copy(id[:], h.Sum(nil))
	return id
}

// Omission is a valid proof that an agency left a home's clip out of a
// request's yield: the home's YieldOmission record (its Raw envelope
// carries the agency's transfer record and the home's grant).
type Omission struct {
	Request record.ID // the request whose yield omits the clip
	Home    peer.ID   // the home that published it
	Record  record.ID // the home's YieldOmission record
	Raw     []byte    // the home's signed YieldOmission envelope: the proof
}

// Bounds of one Yield share, judged by every node. They are far above any
// real clip, and they keep a request's sums from overflowing.
const (
	// MaxShareBytes bounds a share's size: 128 GiB, above the largest clip
	// a manifest allows (7,168 chunks of 16 MiB).
	MaxShareBytes = 128 << 30
	// MaxShareVideo bounds a share's length of video. The agency's node
	// counts a clip's manifest (its owner's claim) up to this.
	MaxShareVideo = 24 * time.Hour
)

// yieldAt is where a commitment was counted: the Yield record's seq and
// the request it counts for.
type yieldAt struct {
	seq     uint64    // of the Yield record
	id      record.ID // of the Yield record
	request uint64    // seq of the request
}

// addYield takes a Yield's effect: each share whose commitment is new
// counts for the request. (In a log the rules judged, every commitment is
// new; the check keeps an equivocating agency's two versions, which
// buildAll reads both of, from counting a clip twice.)
func (l *agencyLog) addYield(s *record.Signed, y *pb.Yield) {
	it := l.bySeq[y.GetRequestSeq()]
	if it == nil || string(it.ID[:]) != string(y.GetRequestId()) {
		return
	}
	if l.commits == nil {
		l.commits = map[record.ID]yieldAt{}
	}
	clips := 0
	for _, sh := range y.GetShares() {
		var c record.ID
		copy(c[:], sh.GetCommitment())
		if _, dup := l.commits[c]; dup {
			continue
		}
		l.commits[c] = yieldAt{seq: s.Seq(), id: s.ID, request: y.GetRequestSeq()}
		clips++
		it.Yield.Bytes = satAdd(it.Yield.Bytes, sh.GetSize())
		it.Yield.VideoMS = satAdd(it.Yield.VideoMS, sh.GetVideoMs())
	}
	it.Yield.Clips += clips
	it.Yield.Homes = min(it.Yield.Homes+int(min(y.GetNewHomes(), uint32(clips))), it.Yield.Clips)
	it.Yield.Records++
}

// satAdd adds without overflowing: the rules bound every share, but a
// sum over a long log is the agency's to inflate.
func satAdd(sum int64, v uint64) int64 {
	if v > uint64(1<<63-1-sum) {
		return 1<<63 - 1
	}
	return sum + int64(v)
}

// checkYield applies the yield rules, from the agency's log before the
// record alone, so every node reaches the same verdict: only an agency's
// log holds Yields; a Yield names a request of its own log; no commitment
// is counted twice for a request, in one Yield or across its Yields; each
// share's figures are within bounds; and (record.CheckEntry) new_homes is
// at most its shares, so a request's homes never exceed its clips.
func (s *Service) checkYield(sr *record.Signed, y *pb.Yield) error {
	// The log before the record first: a home's record after a gap is
	// held like any other, and reading a home's log is no business here.
	h, err := s.db.Head(sr.Author)
	if err != nil {
		return err
	}
	if h.Contig < sr.Seq()-1 {
		return fmt.Errorf("%s's log has a gap before seq %d: %w", sr.Author, sr.Seq(), mesh.ErrHeld)
	}
	if !s.IsAgency(sr.Author) {
		return record.Invalidf(record.ReasonYieldNotAgency, "only an agency's log may hold a yield record; no trusted issuer certified %s as an agency", sr.Author)
	}
	l, err := s.agencyLog(sr.Author, sr.Seq()-1)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkTimeOrder(sr, l); err != nil {
		return err
	}
	var rid record.ID
	copy(rid[:], y.GetRequestId())
	if it := l.bySeq[y.GetRequestSeq()]; it == nil || it.ID != rid {
		return record.Invalidf(record.ReasonYieldOther, "a yield may only count clips for a request of the same agency; seq %d of %s is not request %.12s", y.GetRequestSeq(), sr.Author, rid)
	}
	if n := len(y.GetShares()); int(y.GetNewHomes()) > n {
		return record.Invalidf(record.ReasonYield, "the yield counts %d new homes for %d clips: each home shared at least one clip", y.GetNewHomes(), n)
	}
	seen := make(map[record.ID]bool, len(y.GetShares()))
	for i, sh := range y.GetShares() {
		var c record.ID
		copy(c[:], sh.GetCommitment())
		if seen[c] {
			return record.Invalidf(record.ReasonYieldTwice, "share %d counts commitment %.12s a second time in the same yield", i, c)
		}
		seen[c] = true
		if at, ok := l.commits[c]; ok && at.seq < sr.Seq() {
			return record.Invalidf(record.ReasonYieldTwice, "share %d counts commitment %.12s, which the yield at seq %d already counted: a clip counts once", i, c, at.seq)
		}
		if sh.GetSize() == 0 || sh.GetSize() > MaxShareBytes {
			return record.Invalidf(record.ReasonYield, "share %d is %d bytes; a clip received is 1 byte to %d GiB", i, sh.GetSize(), MaxShareBytes>>30)
		}
		if sh.GetVideoMs() > uint64(MaxShareVideo.Milliseconds()) {
			return record.Invalidf(record.ReasonYield, "share %d claims %s of video; at most %s per clip", i, msString(int64(min(sh.GetVideoMs(), 1<<62))), MaxShareVideo)
		}
	}
	return nil
}

// ErrUnknownRequest: no request with this ID is stored on this node.
var ErrUnknownRequest = errors.New("no request with this ID on this node")

// requestItem finds a stored request and its agency's log, read as far as
// this node holds it without a gap.
func (s *Service) requestItem(request record.ID) (*agencyLog, *Item, error) {
	sr, err := s.db.Record(request)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("request %.12s: %w", request, ErrUnknownRequest)
	}
	if err != nil {
		return nil, nil, err
	}
	if sr.Entry.GetRequest() == nil {
		return nil, nil, fmt.Errorf("record %.12s is not a request: %w", request, ErrUnknownRequest)
	}
	l, err := s.agencyLog(sr.Author, 0)
	if err != nil {
		return nil, nil, err
	}
	it := l.bySeq[sr.Seq()]
	if it == nil || it.ID != request {
		// Another version of the slot (an equivocating agency): not in
		// the log the rules follow.
		return l, nil, fmt.Errorf("request %.12s is not in its agency's log as this node holds it: %w", request, ErrUnknownRequest)
	}
	return l, it, nil
}

// YieldIncludes reports whether a Yield of the request's agency counts the
// commitment c (YieldCommitment) for that request, in the agency's log as
// this node holds it. An unknown request is ErrUnknownRequest.
func (s *Service) YieldIncludes(request, c record.ID) (bool, error) {
	at, err := s.YieldIncludedAt(request, c)
	return at.Seq > 0, err
}

// YieldRef names the Yield record that counts a commitment.
type YieldRef struct {
	Seq uint64    // its seq in the agency's log; 0 if none counts it
	ID  record.ID // its ID
}

// YieldIncludedAt is YieldIncludes naming the Yield record that counts c
// (a zero YieldRef if none does): a proof of omission is judged by where
// in the log a share appears, not only whether.
func (s *Service) YieldIncludedAt(request, c record.ID) (YieldRef, error) {
	l, it, err := s.requestItem(request)
	if err != nil {
		return YieldRef{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := l.commits[c]; ok && at.request == it.Seq {
		return YieldRef{Seq: at.seq, ID: at.id}, nil
	}
	return YieldRef{}, nil
}

// Inclusion states (YieldStatus).
const (
	// YieldIncluded: a Yield of the agency counts the clip.
	YieldIncluded = "included"
	// YieldMissing: none does, and the agency's log has records dated
	// YieldGrace or more after the clip was served.
	YieldMissing = "missing"
	// YieldPending: none does yet; the agency's log has not passed
	// YieldGrace after the clip was served.
	YieldPending = "pending"
)

// Inclusion is where a clip stands in a request's yield.
type Inclusion struct {
	State string   // YieldIncluded, YieldMissing or YieldPending
	Yield YieldRef // the Yield that counts it, when included
	// Passed is the first record of the agency's log dated YieldGrace or
	// more after the serve, when there is one: once a log holds it, a
	// share it has not counted is missing.
	Passed uint64
}

// YieldStatus judges whether the agency's log counts commitment c, of a
// clip served (sent by its owner) at served, in the yield of request.
func (s *Service) YieldStatus(request, c record.ID, served time.Time) (Inclusion, error) {
	l, it, err := s.requestItem(request)
	if err != nil {
		return Inclusion{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var in Inclusion
	due := served.Add(s.yieldGrace()).UnixMilli()
	// latest is the running maximum of the log's times, so the first seq
	// whose maximum reaches due is the first record dated at or after it.
	if n := sort.Search(len(l.latest), func(i int) bool { return l.latest[i] >= due }); n < len(l.latest) && n > 0 {
		in.Passed = uint64(n)
	}
	switch at, ok := l.commits[c]; {
	case ok && at.request == it.Seq:
		in.State, in.Yield = YieldIncluded, YieldRef{Seq: at.seq, ID: at.id}
	case in.Passed > 0:
		in.State = YieldMissing
	default:
		in.State = YieldPending
	}
	return in, nil
}

// ReceivedClip is a clip this agency's node received for a request: what
// one Yield share counts.
type ReceivedClip struct {
	Request record.ID // the request the grant answers
	Grant   record.ID // the grant's envelope ID (clips.SignedGrant.ID)
	Clip    record.ID
	Home    peer.ID // the clip's owner, who shared it
	Bytes   uint64  // received
	VideoMS uint64  // the clip's length by its manifest; 0 if unknown
}

// SetYieldSource sets, once, where this agency's node finds the clips it
// received (package sharing: its transfer records). From then on Create
// and Close first write the Yields of clips received and not yet counted,
// so that no record of this agency's log follows a clip received without
// a Yield that counts it.
func (s *Service) SetYieldSource(received func() ([]ReceivedClip, error)) error {
	if received == nil {
		return errors.New("requests: SetYieldSource(nil)")
	}
	if !s.yieldSource.CompareAndSwap(nil, &received) {
		return errors.New("requests: the yield source is already set")
	}
	return nil
}

// flushYields writes the Yields the yield source calls for (none without
// a source).
func (s *Service) flushYields() error {
	src := s.yieldSource.Load()
	if src == nil {
		return nil
	}
	received, err := (*src)()
	if err != nil {
		return fmt.Errorf("list the clips received: %w", err)
	}
	if _, err := s.WriteYields(received); err != nil {
		return fmt.Errorf("write the yield of the clips received: %w", err)
	}
	return nil
}

// WriteYields appends to this agency's log the Yield records that the
// clips received call for: per request of its own log, one share for each
// received clip that no Yield counts yet (at most record.MaxYieldShares
// per record), with new_homes the homes none of whose clips was counted
// before. Clips for requests that are not this agency's are skipped. It
// returns the records written. Everything it needs is derived from the
// clips received and the log, so calling it again after a crash writes
// exactly what is missing, and calling it twice writes nothing twice.
func (s *Service) WriteYields(received []ReceivedClip) ([]*record.Signed, error) {
	if len(received) == 0 {
		return nil, nil
	}
	m, err := s.log()
	if err != nil {
		return nil, err
	}
	s.yieldMu.Lock()
	defer s.yieldMu.Unlock()
	self := m.ID()
	l, err := s.agencyLog(self, 0)
	if err != nil {
		return nil, err
	}
	type pendingClip struct {
		ReceivedClip
		commit record.ID
	}
	type batch struct {
		item    *Item
		pending []pendingClip
		counted map[peer.ID]bool // homes a Yield already counted
	}
	byReq := map[record.ID]*batch{}
	var order []record.ID
	s.mu.Lock()
	byID := map[record.ID]*Item{}
	for _, it := range l.items {
		if l.bySeq[it.Seq] == it {
			byID[it.ID] = it
		}
	}
	for _, rc := range received {
		it := byID[rc.Request]
		if it == nil {
			continue
		}
		b := byReq[rc.Request]
		if b == nil {
			c := *it
			b = &batch{item: &c, counted: map[peer.ID]bool{}}
			byReq[rc.Request] = b
			order = append(order, rc.Request)
		}
		c := YieldCommitment(rc.Request, rc.Grant, rc.Clip)
		if at, ok := l.commits[c]; ok && at.request == it.Seq {
			b.counted[rc.Home] = true
			continue
		}
		b.pending = append(b.pending, pendingClip{ReceivedClip: rc, commit: c})
	}
	floor := l.latestThrough(l.contig)
	s.mu.Unlock()

	var out []*record.Signed
	for _, rid := range order {
		b := byReq[rid]
		// By commitment: a stable order (the same clips give the same
		// records) that says nothing of which shares are one home's.
		sort.Slice(b.pending, func(i, j int) bool {
			return string(b.pending[i].commit[:]) < string(b.pending[j].commit[:])
		})
		seen := map[record.ID]bool{}
		for len(b.pending) > 0 {
			n := min(len(b.pending), record.MaxYieldShares)
			chunk := b.pending[:n]
			b.pending = b.pending[n:]
			y := &pb.Yield{RequestSeq: b.item.Seq, RequestId: rid[:]}
			for _, rc := range chunk {
				c := rc.commit
				if seen[c] {
					continue // the source listed a clip twice
				}
				seen[c] = true
				y.Shares = append(y.Shares, &pb.YieldShare{
					Commitment: c[:],
					Size:       min(max(rc.Bytes, 1), MaxShareBytes),
					VideoMs:    min(rc.VideoMS, uint64(MaxShareVideo.Milliseconds())),
				})
				if !b.counted[rc.Home] {
					b.counted[rc.Home] = true
					y.NewHomes++
				}
			}
			if len(y.Shares) == 0 {
				continue
			}
			sr, err := m.Append(func(e *pb.Entry) {
				// Times in an agency's log may not go backwards (see
				// Create).
				e.Created = max(e.Created, floor)
				e.Body = &pb.Entry_Yield{Yield: y}
			})
			if err != nil {
				return out, fmt.Errorf("yield of request %.12s: %w", rid, err)
			}
			floor = max(floor, sr.Entry.GetCreated())
			out = append(out, sr)
		}
	}
	return out, nil
}
