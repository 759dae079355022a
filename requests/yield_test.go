package requests_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// yieldShare is a share of a clip n bytes long, of 10 s of video, with a
// commitment made of tag.
func yieldShare(tag string, n uint64) *pb.YieldShare {
	c := sha256.Sum256([]byte(tag))
	return &pb.YieldShare{Commitment: c[:], Size: n, VideoMs: 10_000}
}

func yieldBody(seq uint64, id record.ID, newHomes uint32, shares ...*pb.YieldShare) func(*pb.Entry) {
	return func(e *pb.Entry) {
		e.Body = &pb.Entry_Yield{Yield: &pb.Yield{RequestSeq: seq, RequestId: id[:], Shares: shares, NewHomes: newHomes}}
	}
}

// itemOf finds a request in the node's listing.
func yieldItem(t *testing.T, f *ruleFixture, id record.ID) *requests.Listed {
	t.Helper()
	ls, err := f.svc.List("", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ls {
		if ls[i].ID == id {
			return &ls[i]
		}
	}
	t.Fatalf("request %.12s not listed", id)
	return nil
}

// TestRulesYield: the yield rules, each attack named.
func TestRulesYield(t *testing.T) {
	type logs struct{ own, post, other, earlier *record.Signed }
	tests := []struct {
		name string
		home bool // the yield is in a home's log, not the agency's
		at   time.Duration
		body func(l logs) func(*pb.Entry)
		want record.Reason
	}{
		{name: "counts new clips for own request",
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.own.ID, 1, yieldShare("c", 5<<20)) }},
		{name: "a later clip of a home already counted",
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.own.ID, 0, yieldShare("c", 5<<20)) }},
		{name: "a clip counted by an earlier yield", want: record.ReasonYieldTwice,
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.own.ID, 0, yieldShare("c", 1), yieldShare("a", 1)) }},
		{name: "a clip counted twice in one yield", want: record.ReasonYieldTwice,
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.own.ID, 1, yieldShare("c", 1), yieldShare("c", 1)) }},
		{name: "for another agency's request", want: record.ReasonYieldOther,
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.other.ID, 1, yieldShare("c", 1)) }},
		{name: "own request's seq with another ID", want: record.ReasonYieldOther,
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.post.ID, 1, yieldShare("c", 1)) }},
		{name: "names a post", want: record.ReasonYieldOther,
			body: func(l logs) func(*pb.Entry) { return yieldBody(2, l.post.ID, 1, yieldShare("c", 1)) }},
		{name: "in a home's log", home: true, want: record.ReasonYieldNotAgency,
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.own.ID, 1, yieldShare("c", 1)) }},
		{name: "a share of no bytes", want: record.ReasonYield,
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.own.ID, 1, yieldShare("c", 0)) }},
		{name: "a share of a terabyte", want: record.ReasonYield,
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.own.ID, 1, yieldShare("c", 1<<40)) }},
		{name: "a share of two days of video", want: record.ReasonYield,
			body: func(l logs) func(*pb.Entry) {
				sh := yieldShare("c", 1)
				sh.VideoMs = uint64((48 * time.Hour).Milliseconds())
				return yieldBody(1, l.own.ID, 1, sh)
			}},
		{name: "a share of 2^64-1 ms of video", want: record.ReasonYield,
			body: func(l logs) func(*pb.Entry) {
				sh := yieldShare("c", 1)
				sh.VideoMs = 1<<64 - 1
				return yieldBody(1, l.own.ID, 1, sh)
			}},
		{name: "dated before an earlier record", at: -time.Hour, want: record.ReasonTime,
			body: func(l logs) func(*pb.Entry) { return yieldBody(1, l.own.ID, 1, yieldShare("c", 1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRuleFixture(t, requests.Config{})
			var l logs
			l.own = f.request(ruleBase)
			l.post = f.append(f.agency, ruleBase.Add(time.Minute), rulePostBody)
			l.earlier = f.append(f.agency, ruleBase.Add(2*time.Minute), yieldBody(1, l.own.ID, 1, yieldShare("a", 3<<20)))
			other := ruleNewLog(t)
			oc := f.certify(f.issuerKey, other.id, ruleJurisdiction)
			f.ingestDoc(oc)
			l.other = f.append(other, ruleBase, ruleRequestBody(ruleRequest(oc, ruleBase)))

			log := f.agency
			if tt.home {
				log = ruleNewLog(t)
				f.append(log, ruleBase, rulePostBody)
			}
			s := f.mustSign(log, ruleBase.Add(10*time.Minute+tt.at), tt.body(l))
			ruleVerdict(t, "CheckEntry", f.svc.CheckEntry(s), tt.want, false)
		})
	}
}

// TestRulesYieldShape: what record.CheckEntry refuses before the rules
// run (a yield cannot even be sealed): more new homes than clips, more
// shares than a record holds.
func TestRulesYieldShape(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	own := f.request(ruleBase)
	many := make([]*pb.YieldShare, record.MaxYieldShares+1)
	for i := range many {
		many[i] = yieldShare(string(rune('a'+i%26))+string(rune(i)), 1)
	}
	for _, tt := range []struct {
		name string
		body func(*pb.Entry)
	}{
		{"new homes above clips (count mismatch)", yieldBody(1, own.ID, 2, yieldShare("c", 1))},
		{"257 shares", yieldBody(1, own.ID, 1, many...)},
		{"no shares", yieldBody(1, own.ID, 0)},
	} {
		if _, err := f.agency.sign(ruleBase.Add(time.Minute), tt.body); record.ReasonOf(err) != record.ReasonMalformed {
			t.Errorf("%s: seal = %v; want reason %q", tt.name, err, record.ReasonMalformed)
		}
	}
}

// TestRulesYieldHeldAboveGap: a yield whose log has a gap before it waits
// for it, in an agency's log and a home's alike.
func TestRulesYieldHeldAboveGap(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	own := f.request(ruleBase)
	f.agency.skip(f.mustSign(f.agency, ruleBase.Add(time.Minute), rulePostBody))
	s := f.mustSign(f.agency, ruleBase.Add(2*time.Minute), yieldBody(1, own.ID, 1, yieldShare("c", 1)))
	ruleVerdict(t, "agency's yield above a gap", f.svc.CheckEntry(s), "", true)
}

// TestYieldSums: a request's yield is the sum of its Yields, on every node
// that holds the log; YieldIncludes and YieldStatus find a share.
func TestYieldSums(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	own := f.request(ruleBase)
	second := f.request(ruleBase.Add(time.Minute))
	f.append(f.agency, ruleBase.Add(2*time.Minute), yieldBody(1, own.ID, 2, yieldShare("a", 3<<20), yieldShare("b", 2<<20)))
	y := f.append(f.agency, ruleBase.Add(3*time.Minute), yieldBody(1, own.ID, 1, yieldShare("c", 1<<20), yieldShare("d", 1<<20)))
	f.append(f.agency, ruleBase.Add(4*time.Minute), yieldBody(2, second.ID, 1, yieldShare("e", 1)))

	got := yieldItem(t, f, own.ID).Yield
	want := requests.Yield{Clips: 4, Homes: 3, Bytes: 7 << 20, VideoMS: 40_000, Records: 2}
	if got != want {
		t.Errorf("yield of the first request = %+v; want %+v", got, want)
	}
	if got := yieldItem(t, f, second.ID).Yield; got.Clips != 1 || got.Homes != 1 {
		t.Errorf("yield of the second request = %+v; want 1 clip, 1 home", got)
	}
	c := sha256.Sum256([]byte("c"))
	if ok, err := f.svc.YieldIncludes(own.ID, c); err != nil || !ok {
		t.Errorf("YieldIncludes(own, c) = %v, %v; want true", ok, err)
	}
	if at, err := f.svc.YieldIncludedAt(own.ID, c); err != nil || at.Seq != y.Seq() || at.ID != y.ID {
		t.Errorf("YieldIncludedAt(own, c) = %+v, %v; want seq %d", at, err, y.Seq())
	}
	// The commitment counts for the request its yield names, not another.
	if ok, err := f.svc.YieldIncludes(second.ID, c); err != nil || ok {
		t.Errorf("YieldIncludes(second, c) = %v, %v; want false", ok, err)
	}
	if _, err := f.svc.YieldIncludes(record.ID{1}, c); !errors.Is(err, requests.ErrUnknownRequest) {
		t.Errorf("YieldIncludes(unknown) = %v; want ErrUnknownRequest", err)
	}

	// Status: a share not counted is pending until the log passes the
	// grace after the serve, then missing.
	z := sha256.Sum256([]byte("z"))
	for _, tt := range []struct {
		name   string
		c      record.ID
		served time.Time
		want   string
	}{
		{"counted", c, ruleBase, requests.YieldIncluded},
		{"not counted, log past the grace", z, ruleBase.Add(4*time.Minute - requests.YieldGrace), requests.YieldMissing},
		{"not counted, log not past the grace", z, ruleBase.Add(4*time.Minute + time.Millisecond - requests.YieldGrace), requests.YieldPending},
	} {
		in, err := f.svc.YieldStatus(own.ID, tt.c, tt.served)
		if err != nil || in.State != tt.want {
			t.Errorf("%s: YieldStatus = %+v, %v; want %s", tt.name, in, err, tt.want)
		}
	}
}

// yieldLog is an Appender over a rule fixture: it signs the agency's next
// record a minute after the last, judges it and stores it, as the mesh does.
type yieldLog struct {
	f   *ruleFixture
	at  time.Time
	out []*record.Signed
}

func (l *yieldLog) ID() peer.ID { return l.f.agency.id }

func (l *yieldLog) Append(body func(*pb.Entry)) (*record.Signed, error) {
	l.at = l.at.Add(time.Minute)
	s, err := l.f.agency.sign(l.at, body)
	if err != nil {
		return nil, err
	}
	if err := l.f.svc.CheckEntry(s); err != nil {
		return nil, err
	}
	if _, err := l.f.db.Ingest(s); err != nil {
		return nil, err
	}
	l.f.agency.skip(s)
	l.out = append(l.out, s)
	return s, nil
}

func yieldID(tag string, i int) record.ID {
	return sha256.Sum256([]byte(tag + string(rune(i))))
}

// TestWriteYields: the agency's node writes what its clips call for, once:
// split at MaxYieldShares, new homes counted once, clips for requests that
// are not its own skipped; Close writes the yield before the update.
func TestWriteYields(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	own := f.request(ruleBase)
	other := ruleNewLog(t)
	oc := f.certify(f.issuerKey, other.id, ruleJurisdiction)
	f.ingestDoc(oc)
	theirs := f.append(other, ruleBase, ruleRequestBody(ruleRequest(oc, ruleBase)))
	log := &yieldLog{f: f, at: ruleBase.Add(time.Hour)}
	if err := f.svc.SetAppender(log); err != nil {
		t.Fatal(err)
	}
	homeA, homeB := ruleNewLog(t).id, ruleNewLog(t).id
	var received []requests.ReceivedClip
	for i := range 300 {
		home := homeA
		if i%2 == 1 {
			home = homeB
		}
		received = append(received, requests.ReceivedClip{Request: own.ID, Grant: yieldID("g", i/10), Clip: yieldID("clip", i), Home: home, Bytes: 1000, VideoMS: 2000})
	}
	received = append(received, requests.ReceivedClip{Request: theirs.ID, Grant: yieldID("g", 99), Clip: yieldID("x", 1), Home: homeA, Bytes: 1})

	wrote, err := f.svc.WriteYields(received)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrote) != 2 || len(wrote[0].Entry.GetYield().GetShares()) != record.MaxYieldShares || len(wrote[1].Entry.GetYield().GetShares()) != 300-record.MaxYieldShares {
		t.Fatalf("WriteYields wrote %d records; want 2: 256 and 44 shares", len(wrote))
	}
	if h := wrote[0].Entry.GetYield().GetNewHomes() + wrote[1].Entry.GetYield().GetNewHomes(); h != 2 {
		t.Errorf("new homes over the records = %d; want 2", h)
	}
	want := requests.Yield{Clips: 300, Homes: 2, Bytes: 300_000, VideoMS: 600_000, Records: 2}
	if got := yieldItem(t, f, own.ID).Yield; got != want {
		t.Errorf("yield = %+v; want %+v", got, want)
	}
	if got := yieldItem(t, f, theirs.ID).Yield; got.Clips != 0 {
		t.Errorf("another agency's request got a yield from this one: %+v", got)
	}
	// Again: nothing new, nothing written (a crash between two calls is
	// the same as calling twice).
	if wrote, err := f.svc.WriteYields(received); err != nil || len(wrote) != 0 {
		t.Fatalf("WriteYields again = %d records, %v; want none", len(wrote), err)
	}
	for _, rc := range received[:3] {
		if ok, err := f.svc.YieldIncludes(own.ID, requests.YieldCommitment(rc.Request, rc.Grant, rc.Clip)); err != nil || !ok {
			t.Errorf("YieldIncludes(clip %.12s) = %v, %v; want true", rc.Clip, ok, err)
		}
	}

	// A clip arrives; Close writes its yield, then the update.
	late := requests.ReceivedClip{Request: own.ID, Grant: yieldID("g", 0), Clip: yieldID("late", 0), Home: homeA, Bytes: 5}
	if err := f.svc.SetYieldSource(func() ([]requests.ReceivedClip, error) {
		return append(received, late), nil
	}); err != nil {
		t.Fatal(err)
	}
	n := len(log.out)
	if _, err := f.svc.Close(own.ID, "thanks"); err != nil {
		t.Fatal(err)
	}
	if len(log.out) != n+2 || log.out[n].Entry.GetYield() == nil || log.out[n+1].Entry.GetUpdate() == nil {
		t.Fatalf("Close wrote %d records; want a yield, then the update", len(log.out)-n)
	}
	if y := log.out[n].Entry.GetYield(); len(y.GetShares()) != 1 || y.GetNewHomes() != 0 {
		t.Errorf("late yield = %d shares, %d new homes; want 1, 0", len(y.GetShares()), y.GetNewHomes())
	}
	it := yieldItem(t, f, own.ID)
	if it.Yield.Clips != 301 || it.Yield.Homes != 2 || !it.Closed {
		t.Errorf("after Close: %+v, closed %v; want 301 clips, 2 homes, closed", it.Yield, it.Closed)
	}
}

// TestYieldSumsOnAnotherNode: a node that receives the agency's log judges
// and sums it alike (the rules and the sums depend on the log alone).
func TestYieldSumsOnAnotherNode(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	own := f.request(ruleBase)
	recs := []*record.Signed{
		f.append(f.agency, ruleBase.Add(time.Minute), yieldBody(1, own.ID, 2, yieldShare("a", 1), yieldShare("b", 1))),
		f.append(f.agency, ruleBase.Add(2*time.Minute), yieldBody(1, own.ID, 1, yieldShare("c", 1))),
	}
	g := newRuleFixture(t, requests.Config{Trusted: []peer.ID{f.issuer}})
	g.ingestDoc(f.cred)
	for _, s := range append([]*record.Signed{own}, recs...) {
		raw, err := record.Open(s.Raw, ruleBase.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := g.svc.CheckEntry(raw); err != nil {
			t.Fatalf("other node: CheckEntry(seq %d) = %v", s.Seq(), err)
		}
		if res, err := g.db.Ingest(raw); err != nil || res.Outcome != store.Added {
			t.Fatalf("other node: Ingest(seq %d) = %+v, %v", s.Seq(), res, err)
		}
	}
	if got := yieldItem(t, g, own.ID).Yield; got.Clips != 3 || got.Homes != 3 || got.Records != 2 {
		t.Errorf("other node's yield = %+v; want 3 clips, 3 homes, 2 records", got)
	}
}
