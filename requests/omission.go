package requests

// Yield omissions: a home's proof that an agency received one of its clips
// for a request and left it out of the request's yield.
//
// A YieldOmission record (in the home's own log) carries the agency's
// signed transfer record of the clip, which the agency handed the home as
// a receipt (package clips, ReceiptProtocol), and the home's signed grant
// the clip was sent under. Every node checks it at validation, from the
// record alone (checkOmission): nothing in it depends on what a node
// holds, so every node accepts or refuses it alike. It is then judged
// against the agency's log as this node holds it (JudgeOmission), again
// and again as the log grows:
//
//	T = transfer.received + YieldGrace
//	k = the first seq of the agency's log created at or after T that is
//	    not a Yield record
//
// The omission is proven once this node holds the agency's log up to k
// without a gap and no Yield record at a seq below k holds the clip's
// commitment (YieldCommitment(request, grant, clip)) for any request of the
// agency before k; pending while the log does not reach k. The transfer
// record names the grant's envelope (its ID), so the home cannot swap in
// another grant of its own under the same grant ID; the check still covers
// every request of the agency, so an agency that counted the clip under
// another of its requests is shown as having counted it (not framed).

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// YieldGrace is how long an agency has, after receiving a clip, to count it
// in a Yield record of its log: a home's omission proof is judged by the
// first record of the agency's log dated at least YieldGrace after the
// transfer record's receive time.
const YieldGrace = 15 * time.Minute

// OmissionState is a verdict on an omission proof.
type OmissionState string

// Verdicts of JudgeOmission.
const (
	// OmissionProven: the agency's log, held up to the first record past
	// the grace, counts the clip in no yield.
	OmissionProven OmissionState = "proven"
	// OmissionPending: this node does not hold the agency's log as far as
	// the first record past the grace (the agency has not written one yet,
	// or it has not arrived).
	OmissionPending OmissionState = "pending"
	// OmissionNotProven: the agency counted the clip in time, or the
	// request is not one of the agency's.
	OmissionNotProven OmissionState = "not_proven"
)

// OmissionVerdict is what JudgeOmission says of a proof.
type OmissionVerdict struct {
	State OmissionState
	// Why says so in words.
	Why string
	// Due is the receive time plus the grace: the agency's log must count
	// the clip before its first record dated at or after Due.
	Due time.Time
	// Through is k, that first record's seq (0 while pending).
	Through uint64
}

// OmissionProof is a YieldOmission's content, checked.
type OmissionProof struct {
	Home     peer.ID // the grant's owner: the record's author
	Agency   peer.ID // the grantee, who signed the transfer record
	Request  record.ID
	Clip     record.ID
	Grant    *clips.SignedGrant
	Transfer *clips.SignedTransfer
}

// Commitment is the clip's yield commitment under the grant's request.
func (p *OmissionProof) Commitment() record.ID {
	return YieldCommitment(p.Request, p.Grant.ID, p.Clip)
}

func omissionInvalid(format string, args ...any) error {
	return record.Invalidf(record.ReasonOmission, format, args...)
}

// CheckOmissionProof checks a grant and a transfer record as the proof of
// a YieldOmission written by home at created: the grant is home's, names a
// request and a grantee other than home; the transfer record is signed by
// that grantee, names home, the grant's ID and a clip the grant names, the
// whole clip, and a receive time within the grant's validity and not after
// created. It never reads any state.
func CheckOmissionProof(home peer.ID, created time.Time, grant, transfer []byte) (*OmissionProof, error) {
	g, err := clips.OpenGrant(grant)
	if err != nil {
		return nil, omissionInvalid("the grant does not verify: %v", err)
	}
	t, err := clips.OpenTransfer(transfer)
	if err != nil {
		return nil, omissionInvalid("the transfer record does not verify: %v", err)
	}
	p := &OmissionProof{Home: home, Agency: g.Grantee(), Clip: t.ClipID(), Grant: g, Transfer: t}
	copy(p.Request[:], g.G.GetRequestId())
	rcv := t.Received()
	switch {
	case g.Owner != home:
		return nil, omissionInvalid("the grant is signed by %s, not by the record's author %s", g.Owner, home)
	case len(g.G.GetRequestId()) != len(record.ID{}):
		return nil, omissionInvalid("the grant answers no request")
	case p.Agency == "":
		return nil, omissionInvalid("the grant is for the whole neighborhood, not an agency")
	case p.Agency == home:
		return nil, omissionInvalid("the grant is for its own owner")
	case t.Receiver != p.Agency:
		return nil, omissionInvalid("the transfer record is signed by %s, not by the grantee %s", t.Receiver, p.Agency)
	case t.Owner() != home:
		return nil, omissionInvalid("the transfer record names owner %s, not the record's author %s", t.Owner(), home)
	case t.GrantID() != g.GrantID() || t.Grant() != g.ID:
		return nil, omissionInvalid("the transfer record names grant %s (envelope %.12s), not this grant %s (envelope %.12s)", t.GrantID(), t.Grant(), g.GrantID(), g.ID)
	case !g.Covers(p.Clip):
		return nil, omissionInvalid("the grant does not name clip %s", p.Clip)
	case t.Sum() != p.Clip:
		return nil, omissionInvalid("the transfer record is not of the whole clip %s", p.Clip)
	case rcv.Before(g.Issued().Add(-clips.MaxGrantSkew)) || !rcv.Before(g.Expires()):
		return nil, omissionInvalid("the clip was received %s, outside the grant's validity", rcv.UTC().Format(time.RFC3339))
	case rcv.After(created.Add(record.MaxClockSkew)):
		return nil, omissionInvalid("the clip was received %s, after the record was written", rcv.UTC().Format(time.RFC3339))
	}
	return p, nil
}

// OpenOmission checks a YieldOmission record (see CheckOmissionProof).
func OpenOmission(sr *record.Signed) (*OmissionProof, error) {
	o := sr.Entry.GetOmission()
	if o == nil {
		return nil, omissionInvalid("not a yield omission")
	}
	return CheckOmissionProof(sr.Author, sr.Created(), o.GetGrant(), o.GetTransfer())
}

// checkOmission is the rule of YieldOmission records: the proof checks,
// whatever this node holds or trusts (so every node judges a home's log
// alike; a refused record would stop the rest of the log).
func (s *Service) checkOmission(sr *record.Signed) error {
	_, err := OpenOmission(sr)
	return err
}

// yieldIndex is what the verdicts need of an agency's log, read up to
// contig and extended as it grows (like agencyLog).
type yieldIndex struct {
	contig  uint64
	created []int64 // created[n-1]: created time of seq n (Unix ms)
	// closes[n-1]: seq n can end an omission's window: any record but a
	// Yield (see judge).
	closes   []bool
	requests map[record.ID]uint64 // request ID -> its seq
	// commits: commitment -> the first Yield holding it, with the request
	// that Yield names.
	commits map[record.ID]countedAt
}

type countedAt struct {
	seq     uint64
	request record.ID
}

// yieldIndexOf returns a's index read up to what this node holds without a
// gap. The caller must hold s.omMu.
func (s *Service) yieldIndexOf(a peer.ID) (*yieldIndex, error) {
	h, err := s.db.Head(a)
	if err != nil {
		return nil, err
	}
	if s.omYields == nil {
		s.omYields = map[peer.ID]*yieldIndex{}
	}
	x := s.omYields[a]
	if x == nil {
		x = &yieldIndex{requests: map[record.ID]uint64{}, commits: map[record.ID]countedAt{}}
		s.omYields[a] = x
	}
	for x.contig < h.Contig {
		slots, _, err := s.db.Slots(a, x.contig+1, 1000, 4<<20)
		if err != nil {
			return nil, err
		}
		progressed := false
		for _, sl := range slots {
			if sl.Seq != x.contig+1 {
				continue // equivocating extras, or past a hole
			}
			x.add(sl.Seq, sl.Raw)
			progressed = true
		}
		if !progressed {
			break
		}
	}
	return x, nil
}

func (x *yieldIndex) add(seq uint64, raw []byte) {
	x.contig = seq
	var created int64
	yield := false
	if raw != nil {
		if sr, err := record.DecodeTrusted(raw); err == nil {
			created = sr.Entry.GetCreated()
			switch b := sr.Entry.GetBody().(type) {
			case *pb.Entry_Request:
				if _, ok := x.requests[sr.ID]; !ok {
					x.requests[sr.ID] = seq
				}
			case *pb.Entry_Yield:
				yield = true
				var rid record.ID
				copy(rid[:], b.Yield.GetRequestId())
				for _, sh := range b.Yield.GetShares() {
					var c record.ID
					copy(c[:], sh.GetCommitment())
					if _, ok := x.commits[c]; !ok {
						x.commits[c] = countedAt{seq: seq, request: rid}
					}
				}
			}
		}
	}
	x.created = append(x.created, created)
	x.closes = append(x.closes, !yield)
}

// yieldGrace is the grace in force (Config.YieldGrace).
func (s *Service) yieldGrace() time.Duration {
	if s.cfg.YieldGrace > 0 {
		return s.cfg.YieldGrace
	}
	return YieldGrace
}

// JudgeOmission judges a checked proof against the agency's log as this
// node holds it now (see the file's comment). Every node that holds the
// same log judges alike.
func (s *Service) JudgeOmission(p *OmissionProof) (OmissionVerdict, error) {
	s.omMu.Lock()
	defer s.omMu.Unlock()
	x, err := s.yieldIndexOf(p.Agency)
	if err != nil {
		return OmissionVerdict{}, err
	}
	return x.judge(p, s.yieldGrace()), nil
}

func (x *yieldIndex) judge(p *OmissionProof, grace time.Duration) OmissionVerdict {
	v := OmissionVerdict{Due: p.Transfer.Received().Add(grace)}
	due := v.Due.UnixMilli()
	// k is the first record past the grace that is not itself a Yield:
	// an agency's node writes every pending Yield before any other record,
	// so one that was down for longer than the grace writes its Yields
	// first when it comes back, and is not framed by their dates.
	var k uint64
	for i, c := range x.created {
		if c >= due && x.closes[i] {
			k = uint64(i) + 1
			break
		}
	}
	if k == 0 {
		v.State = OmissionPending
		v.Why = fmt.Sprintf("this node holds the agency's log up to seq %d, and no record of it is dated %s or later yet", x.contig, v.Due.UTC().Format(time.RFC3339))
		return v
	}
	v.Through = k
	if seq, ok := x.requests[p.Request]; !ok || seq >= k {
		v.State = OmissionNotProven
		v.Why = fmt.Sprintf("request %.12s is not in the agency's log before seq %d", p.Request, k)
		return v
	}
	for rid, seq := range x.requests {
		if seq >= k {
			continue
		}
		c := YieldCommitment(rid, p.Grant.ID, p.Clip)
		if at, ok := x.commits[c]; ok && at.seq < k && at.request == rid {
			v.State = OmissionNotProven
			v.Why = fmt.Sprintf("the agency counted the clip in its yield record at seq %d", at.seq)
			return v
		}
	}
	v.State = OmissionProven
	v.Why = fmt.Sprintf("no yield record of the agency before seq %d (its first record dated %s or later) counts the clip", k, v.Due.UTC().Format(time.RFC3339))
	return v
}

// omissionRecords returns the YieldOmission records this node holds, by
// author and seq: what omissionsAgainst judges.
func (s *Service) omissionRecords() ([]*record.Signed, error) {
	recs, err := s.db.Omissions()
	if err != nil {
		return nil, err
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Author != recs[j].Author {
			return recs[i].Author < recs[j].Author
		}
		return recs[i].Seq() < recs[j].Seq()
	})
	return recs, nil
}

// omissionsAgainst lists the proven omissions of agency a from recs
// (omissionRecords), by home and log position, one per home, grant and
// clip.
func (s *Service) omissionsAgainst(a peer.ID, recs []*record.Signed) ([]Omission, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	type key struct {
		home  peer.ID
		grant clips.GrantID
		clip  record.ID
	}
	seen := map[key]bool{}
	var out []Omission
	for _, sr := range recs {
		p, err := s.openCached(sr)
		if err != nil || p.Agency != a {
			continue
		}
		k := key{p.Home, p.Grant.GrantID(), p.Clip}
		if seen[k] {
			continue
		}
		v, err := s.JudgeOmission(p)
		if err != nil {
			return nil, err
		}
		if v.State != OmissionProven {
			continue
		}
		seen[k] = true
		out = append(out, Omission{Request: p.Request, Home: p.Home, Record: sr.ID, Raw: sr.Raw})
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Record.String() < out[j].Record.String() && out[i].Home == out[j].Home
	})
	return out, nil
}

// maxCachedProofs bounds the cache of opened omission records.
const maxCachedProofs = 4096

// openCached opens a stored YieldOmission record once per process: its
// signatures were checked before it was stored, and it never changes.
func (s *Service) openCached(sr *record.Signed) (*OmissionProof, error) {
	s.omMu.Lock()
	p, ok := s.omProofs[sr.ID]
	s.omMu.Unlock()
	if ok {
		return p, nil
	}
	p, err := OpenOmission(sr)
	if err != nil {
		return nil, err
	}
	s.omMu.Lock()
	if s.omProofs == nil || len(s.omProofs) >= maxCachedProofs {
		s.omProofs = map[record.ID]*OmissionProof{}
	}
	s.omProofs[sr.ID] = p
	s.omMu.Unlock()
	return p, nil
}

// OmissionSource is what a home's own grants and receipts give
// AuditOmissions and PublishOmission (*clips.Grants implements it).
type OmissionSource interface {
	// List returns the grants stored, this home's and received ones.
	List() ([]*clips.SignedGrant, error)
	// Receipt returns the agency's transfer record of clip under this
	// home's grant id, or an error wrapping clips.ErrNotFound.
	Receipt(id clips.GrantID, clip record.ID) (*clips.SignedTransfer, error)
}

var _ OmissionSource = (*clips.Grants)(nil)

// OmissionCandidate is one clip this home shared for a request, as an
// omission proof would see it.
type OmissionCandidate struct {
	Agency peer.ID
	Grant  clips.GrantID
	Clip   record.ID
	// Receipt: the agency handed this home its transfer record of the clip.
	// Without one there is nothing to prove (it may not have fetched it).
	Receipt bool
	// Verdict is the proof judged now (zero without a receipt).
	Verdict OmissionVerdict
	// Published: this home's log holds an omission record of the clip.
	Published record.ID
	proof     *OmissionProof
}

// ErrNoOmission: no clip this home shared for the request is proven
// missing from the agency's yield now.
var ErrNoOmission = errors.New("no clip of this home is proven missing from the request's yield")

// AuditOmissions judges every clip this home (self) shared for request,
// under its own grants, whose receipt it holds: what PublishOmission would
// publish (the proven ones not published yet).
func (s *Service) AuditOmissions(self peer.ID, request record.ID, src OmissionSource) ([]OmissionCandidate, error) {
	gs, err := src.List()
	if err != nil {
		return nil, err
	}
	published, err := s.ownOmissions(self)
	if err != nil {
		return nil, err
	}
	var out []OmissionCandidate
	for _, g := range gs {
		if g.Owner != self || g.Grantee() == "" || string(g.G.GetRequestId()) != string(request[:]) {
			continue
		}
		for _, clip := range g.ClipIDs() {
			c := OmissionCandidate{Agency: g.Grantee(), Grant: g.GrantID(), Clip: clip, Published: published[omKey{g.GrantID(), clip}]}
			t, err := src.Receipt(g.GrantID(), clip)
			switch {
			case errors.Is(err, clips.ErrNotFound):
				out = append(out, c)
				continue
			case err != nil:
				return nil, err
			}
			c.Receipt = true
			p, err := CheckOmissionProof(self, time.Now(), g.Raw, t.Raw)
			if err != nil {
				// A receipt kept before transfer records named the grant
				// envelope, say: it cannot prove anything to others.
				c.Verdict = OmissionVerdict{State: OmissionNotProven, Why: fmt.Sprintf("the agency's receipt cannot serve as proof: %v", err)}
				out = append(out, c)
				continue
			}
			if c.Verdict, err = s.JudgeOmission(p); err != nil {
				return nil, err
			}
			c.proof = p
			out = append(out, c)
		}
	}
	return out, nil
}

type omKey struct {
	grant clips.GrantID
	clip  record.ID
}

// ownOmissions maps the clips of self's omission records to the records.
func (s *Service) ownOmissions(self peer.ID) (map[omKey]record.ID, error) {
	recs, err := s.db.Omissions()
	if err != nil {
		return nil, err
	}
	out := map[omKey]record.ID{}
	for _, sr := range recs {
		if sr.Author != self {
			continue
		}
		if p, err := s.openCached(sr); err == nil {
			out[omKey{p.Grant.GrantID(), p.Clip}] = sr.ID
		}
	}
	return out, nil
}

// PublishOmission writes, in this home's own log, one YieldOmission record
// per clip it shared for request that is proven missing from the agency's
// yield now and not published yet (AuditOmissions), and returns them. It
// reveals to every node that this home shared those clips for the request,
// the grant (every clip ID it names) and the grant's ID, with which anyone
// can tell this home's other shares in the request's yield. With nothing
// to publish it returns ErrNoOmission.
func (s *Service) PublishOmission(request record.ID, src OmissionSource) ([]*record.Signed, error) {
	m, err := s.log()
	if err != nil {
		return nil, err
	}
	cs, err := s.AuditOmissions(m.ID(), request, src)
	if err != nil {
		return nil, err
	}
	var out []*record.Signed
	for _, c := range cs {
		if c.proof == nil || !c.Published.IsZero() || c.Verdict.State != OmissionProven {
			continue
		}
		o := &pb.YieldOmission{Transfer: c.proof.Transfer.Raw, Grant: c.proof.Grant.Raw}
		sr, err := m.Append(func(e *pb.Entry) { e.Body = &pb.Entry_Omission{Omission: o} })
		if err != nil {
			return out, fmt.Errorf("publish the omission of clip %.12s: %w", c.Clip, err)
		}
		out = append(out, sr)
	}
	if len(out) == 0 {
		return nil, ErrNoOmission
	}
	return out, nil
}
