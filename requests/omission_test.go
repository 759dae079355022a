package requests_test

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	clipspb "github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
)

// The omission tests build on the rule fixture (rules_test.go): the
// agency "Springfield PD" makes a request at ruleBase, a home grants it
// two clips, the agency receives one at ruleBase+10m and signs the
// transfer record, and the home writes a YieldOmission record at
// ruleBase+30m. Identifiers start with "om".

// omClip is a clip ID made from a byte.
func omClip(b byte) record.ID { return record.IDOf([]byte{b, 'c', 'l', 'i', 'p'}) }

// omGrant signs a grant of owner's key to grantee for clips, answering
// request, issued a minute after ruleBase for a week.
func omGrant(t *testing.T, key crypto.PrivKey, grantee peer.ID, request record.ID, cs ...record.ID) *clips.SignedGrant {
	t.Helper()
	owner, _ := peer.IDFromPrivateKey(key)
	gid := make([]byte, clips.GrantIDLen)
	_, _ = rand.Read(gid)
	g := &clipspb.Grant{GrantId: gid, Owner: []byte(owner), Grantee: []byte(grantee), RequestId: request[:],
		Issued: ruleBase.Add(time.Minute).UnixMilli(), Expires: ruleBase.Add(7 * 24 * time.Hour).UnixMilli()}
	for _, c := range cs {
		g.ClipIds = append(g.ClipIds, append([]byte(nil), c[:]...))
	}
	sg, err := clips.SealGrant(g, key)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

// omTransfer signs, with the receiver's key, the transfer record of clip
// received under g at received.
func omTransfer(t *testing.T, key crypto.PrivKey, g *clips.SignedGrant, clip record.ID, received time.Time) *clips.SignedTransfer {
	t.Helper()
	rcv, _ := peer.IDFromPrivateKey(key)
	gid := g.GrantID()
	tr, err := clips.SealTransfer(&clipspb.Transfer{ClipId: clip[:], GrantId: gid[:], Owner: []byte(g.Owner), Receiver: []byte(rcv),
		Received: received.UnixMilli(), Sha256: clip[:], Size: 4096, Grant: g.ID[:]}, key)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func omBody(tr, g []byte) func(*pb.Entry) {
	return func(e *pb.Entry) {
		e.Body = &pb.Entry_Omission{Omission: &pb.YieldOmission{Transfer: tr, Grant: g}}
	}
}

func omYieldBody(req *record.Signed, cs ...record.ID) func(*pb.Entry) {
	return func(e *pb.Entry) {
		y := &pb.Yield{RequestSeq: req.Seq(), RequestId: req.ID[:], NewHomes: 1}
		for _, c := range cs {
			y.Shares = append(y.Shares, &pb.YieldShare{Commitment: append([]byte(nil), c[:]...), Size: 4096, VideoMs: 6000})
		}
		e.Body = &pb.Entry_Yield{Yield: y}
	}
}

// omNote is an update of req at created: a record of the agency's log
// that carries no yield.
func (f *ruleFixture) omNote(req *record.Signed, created time.Time) *record.Signed {
	f.t.Helper()
	return f.append(f.agency, created, ruleUpdateBody(req.Seq(), req.ID, false, "canvassing"))
}

// TestOmissionValidation: a YieldOmission record is accepted or refused
// from its own content, whatever the node holds of the agency's log.
func TestOmissionValidation(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	req := f.request(ruleBase)
	home := ruleNewLog(t)
	other := ruleNewLog(t)    // another home
	stranger := ruleNewLog(t) // a fresh key posing as an agency
	c1, c2, c3 := omClip(1), omClip(2), omClip(3)
	_ = c2
	g := omGrant(t, home.key, f.agency.id, req.ID, c1, c2)
	received := ruleBase.Add(10 * time.Minute)
	good := omTransfer(t, f.agency.key, g, c1, received)
	otherGrant := omGrant(t, other.key, f.agency.id, req.ID, c1, c2)
	sameIDGrant := func() *clips.SignedGrant { // the home's second grant under the same grant ID
		gid := g.GrantID()
		x := &clipspb.Grant{GrantId: gid[:], Owner: []byte(home.id), Grantee: []byte(f.agency.id), RequestId: req.ID[:],
			Issued: g.G.GetIssued(), Expires: g.G.GetExpires() + 1, ClipIds: g.G.GetClipIds()}
		sg, err := clips.SealGrant(x, home.key)
		if err != nil {
			t.Fatal(err)
		}
		return sg
	}()
	forged := func(raw []byte) []byte {
		b := bytes.Clone(raw)
		b[len(b)-5] ^= 0xff // inside the signature, the envelope's last field
		return b
	}
	noBinding, err := clips.SealTransfer(&clipspb.Transfer{ClipId: c1[:], GrantId: good.T.GetGrantId(), Owner: []byte(home.id), Receiver: []byte(f.agency.id),
		Received: received.UnixMilli(), Sha256: c1[:], Size: 4096}, f.agency.key)
	if err != nil {
		t.Fatal(err)
	}
	created := ruleBase.Add(30 * time.Minute)
	cases := []struct {
		name            string
		transfer, grant []byte
		created         time.Time
		ok              bool
	}{
		{"valid proof", good.Raw, g.Raw, created, true},
		{"valid proof written before the grace passed (judged later)", good.Raw, g.Raw, received.Add(time.Second), true},
		{"transfer signed by another agency", omTransfer(t, stranger.key, g, c1, received).Raw, g.Raw, created, false},
		{"grant by another home", omTransfer(t, f.agency.key, otherGrant, c1, received).Raw, otherGrant.Raw, created, false},
		{"clip not in the grant", omTransfer(t, f.agency.key, g, c3, received).Raw, g.Raw, created, false},
		{"forged transfer signature", forged(good.Raw), g.Raw, created, false},
		{"forged grant signature", good.Raw, forged(g.Raw), created, false},
		{"another grant of the home under the same grant ID", good.Raw, sameIDGrant.Raw, created, false},
		{"transfer record that names no grant envelope", noBinding.Raw, g.Raw, created, false},
		{"received before the grant was issued", omTransfer(t, f.agency.key, g, c1, ruleBase.Add(-time.Hour)).Raw, g.Raw, created, false},
		{"received after the record was written", omTransfer(t, f.agency.key, g, c1, created.Add(time.Hour)).Raw, g.Raw, created, false},
		{"grant and transfer swapped", g.Raw, good.Raw, created, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := f.mustSign(home, c.created, omBody(c.transfer, c.grant))
			if _, err := record.Open(s.Raw, c.created); err != nil {
				if c.ok {
					t.Fatalf("record.Open: %v", err)
				}
				return
			}
			err := f.svc.CheckEntry(s)
			if c.ok {
				if err != nil {
					t.Fatalf("CheckEntry = %v, want accepted", err)
				}
				return
			}
			ruleVerdict(t, c.name, err, record.ReasonOmission, false)
		})
	}
	t.Run("huge transfer", func(t *testing.T) {
		huge := make([]byte, record.MaxOmissionTransfer+1)
		e := &pb.Entry{Author: []byte(home.id), Seq: home.seq + 1, Created: created.UnixMilli(), Neighborhood: ruleHood}
		omBody(huge, g.Raw)(e)
		if _, err := record.SealAt(e, home.key, created); record.ReasonOf(err) != record.ReasonMalformed {
			t.Fatalf("SealAt(huge transfer) = %v, want %s", err, record.ReasonMalformed)
		}
	})
}

// omSetup is a fixture with a request, a home's grant of two clips, the
// agency's transfer record of the first at ruleBase+10m and the home's
// omission record, stored.
type omSetup struct {
	f     *ruleFixture
	req   *record.Signed
	home  *ruleLog
	g     *clips.SignedGrant
	tr    *clips.SignedTransfer
	rec   *record.Signed
	proof *requests.OmissionProof
}

func newOmSetup(t *testing.T, request func(f *ruleFixture) record.ID) *omSetup {
	f := newRuleFixture(t, requests.Config{})
	o := &omSetup{f: f, req: f.request(ruleBase), home: ruleNewLog(t)}
	rid := o.req.ID
	if request != nil {
		rid = request(f)
	}
	o.g = omGrant(t, o.home.key, f.agency.id, rid, omClip(1), omClip(2))
	o.tr = omTransfer(t, f.agency.key, o.g, omClip(1), ruleBase.Add(10*time.Minute))
	o.rec = f.append(o.home, ruleBase.Add(30*time.Minute), omBody(o.tr.Raw, o.g.Raw))
	var err error
	if o.proof, err = requests.OpenOmission(o.rec); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *omSetup) verdict() requests.OmissionState {
	o.f.t.Helper()
	v, err := o.f.svc.JudgeOmission(o.proof)
	if err != nil {
		o.f.t.Fatal(err)
	}
	return v.State
}

// shown is the omissions the agency's history shows.
func (o *omSetup) shown() []requests.Omission {
	o.f.t.Helper()
	ag, ok, err := o.f.svc.Agency(o.f.agency.id, ruleBase)
	if err != nil || !ok {
		o.f.t.Fatalf("Agency = %v, %v", ok, err)
	}
	return ag.Omissions
}

// TestOmissionVerdict: the deterministic verdict against the agency's log.
func TestOmissionVerdict(t *testing.T) {
	t.Run("pending until the agency's log passes the grace, then proven", func(t *testing.T) {
		o := newOmSetup(t, nil)
		if got := o.verdict(); got != requests.OmissionPending {
			t.Fatalf("no record after the transfer: %s, want pending", got)
		}
		o.f.omNote(o.req, ruleBase.Add(24*time.Minute)) // due at +25m
		if got := o.verdict(); got != requests.OmissionPending {
			t.Fatalf("last record before the grace ends: %s, want pending", got)
		}
		if len(o.shown()) != 0 {
			t.Fatal("a pending omission is shown")
		}
		o.f.omNote(o.req, ruleBase.Add(25*time.Minute))
		if got := o.verdict(); got != requests.OmissionProven {
			t.Fatalf("a record dated when the grace ends: %s, want proven", got)
		}
		sh := o.shown()
		if len(sh) != 1 || sh[0].Record != o.rec.ID || sh[0].Home != o.home.id || sh[0].Request != o.req.ID || !bytes.Equal(sh[0].Raw, o.rec.Raw) {
			t.Fatalf("shown = %+v", sh)
		}
	})
	t.Run("commitment present in time: not proven", func(t *testing.T) {
		o := newOmSetup(t, nil)
		o.f.append(o.f.agency, ruleBase.Add(12*time.Minute), omYieldBody(o.req, o.proof.Commitment()))
		o.f.omNote(o.req, ruleBase.Add(40*time.Minute))
		if got := o.verdict(); got != requests.OmissionNotProven {
			t.Fatalf("%s, want not_proven", got)
		}
		if len(o.shown()) != 0 {
			t.Fatal("an omission is shown although the yield counts the clip")
		}
	})
	t.Run("commitment of the other clip only: proven", func(t *testing.T) {
		o := newOmSetup(t, nil)
		o.f.append(o.f.agency, ruleBase.Add(12*time.Minute), omYieldBody(o.req, requests.YieldCommitment(o.req.ID, o.g.ID, omClip(2))))
		o.f.omNote(o.req, ruleBase.Add(40*time.Minute))
		if got := o.verdict(); got != requests.OmissionProven {
			t.Fatalf("%s, want proven", got)
		}
	})
	t.Run("commitment first written after the grace: proven", func(t *testing.T) {
		o := newOmSetup(t, nil)
		o.f.omNote(o.req, ruleBase.Add(26*time.Minute))
		o.f.append(o.f.agency, ruleBase.Add(27*time.Minute), omYieldBody(o.req, o.proof.Commitment()))
		if got := o.verdict(); got != requests.OmissionProven {
			t.Fatalf("%s, want proven", got)
		}
	})
	t.Run("a late yield before any other record past the grace counts", func(t *testing.T) {
		// An agency down for longer than the grace writes its pending
		// Yields first when it comes back: their dates do not frame it.
		o := newOmSetup(t, nil)
		o.f.append(o.f.agency, ruleBase.Add(25*time.Minute), omYieldBody(o.req, o.proof.Commitment()))
		if got := o.verdict(); got != requests.OmissionPending {
			t.Fatalf("only a yield past the grace: %s, want pending", got)
		}
		o.f.omNote(o.req, ruleBase.Add(40*time.Minute))
		if got := o.verdict(); got != requests.OmissionNotProven {
			t.Fatalf("%s, want not_proven", got)
		}
	})
	t.Run("a late yield without the clip, then another record: proven", func(t *testing.T) {
		o := newOmSetup(t, nil)
		o.f.append(o.f.agency, ruleBase.Add(25*time.Minute), omYieldBody(o.req, requests.YieldCommitment(o.req.ID, o.g.ID, omClip(2))))
		o.f.omNote(o.req, ruleBase.Add(40*time.Minute))
		if got := o.verdict(); got != requests.OmissionProven {
			t.Fatalf("%s, want proven", got)
		}
	})
	t.Run("request not in the agency's log", func(t *testing.T) {
		o := newOmSetup(t, func(*ruleFixture) record.ID { return record.IDOf([]byte("no such request")) })
		o.f.omNote(o.req, ruleBase.Add(40*time.Minute))
		if got := o.verdict(); got != requests.OmissionNotProven {
			t.Fatalf("%s, want not_proven", got)
		}
	})
	t.Run("one omission shown once, however often published", func(t *testing.T) {
		o := newOmSetup(t, nil)
		o.f.append(o.home, ruleBase.Add(31*time.Minute), omBody(o.tr.Raw, o.g.Raw))
		o.f.omNote(o.req, ruleBase.Add(40*time.Minute))
		if sh := o.shown(); len(sh) != 1 || sh[0].Record != o.rec.ID {
			t.Fatalf("shown = %+v, want the first record only", sh)
		}
	})
}

// omHomeLog is a home's log as an Appender: it signs at a fixed time and
// stores through the fixture, as the mesh does.
type omHomeLog struct {
	f       *ruleFixture
	l       *ruleLog
	created time.Time
}

func (h *omHomeLog) ID() peer.ID { return h.l.id }
func (h *omHomeLog) Append(body func(*pb.Entry)) (*record.Signed, error) {
	s, err := h.l.sign(h.created, body)
	if err != nil {
		return nil, err
	}
	if err := h.f.svc.CheckEntry(s); err != nil {
		return nil, err
	}
	if _, err := h.f.db.Ingest(s); err != nil {
		return nil, err
	}
	h.l.skip(s)
	return s, nil
}

// omSource is a home's grants and receipts in memory.
type omSource struct {
	grants   []*clips.SignedGrant
	receipts map[record.ID]*clips.SignedTransfer // by clip
}

func (s *omSource) List() ([]*clips.SignedGrant, error) { return s.grants, nil }
func (s *omSource) Receipt(_ clips.GrantID, clip record.ID) (*clips.SignedTransfer, error) {
	if t, ok := s.receipts[clip]; ok {
		return t, nil
	}
	return nil, clips.ErrNotFound
}

// TestPublishOmission: the home's side. Only its own grants for the
// request count; a clip without a receipt, or whose receipt names no grant
// envelope, proves nothing; a proven clip is published once.
func TestPublishOmission(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	// The service judges; this node is the home.
	home := &omHomeLog{f: f, l: ruleNewLog(t), created: ruleBase.Add(40 * time.Minute)}
	req := f.request(ruleBase)
	neighbor := ruleNewLog(t)
	c1, c2, c3 := omClip(1), omClip(2), omClip(3)
	g := omGrant(t, home.l.key, f.agency.id, req.ID, c1, c2)
	g3 := omGrant(t, home.l.key, f.agency.id, req.ID, c3)
	received := ruleBase.Add(10 * time.Minute)
	old, err := clips.SealTransfer(&clipspb.Transfer{ClipId: c3[:], GrantId: g3.G.GetGrantId(), Owner: []byte(home.l.id), Receiver: []byte(f.agency.id),
		Received: received.UnixMilli(), Sha256: c3[:], Size: 4096}, f.agency.key)
	if err != nil {
		t.Fatal(err)
	}
	src := &omSource{
		grants: []*clips.SignedGrant{g, g3, omGrant(t, neighbor.key, home.l.id, req.ID, omClip(9))},
		receipts: map[record.ID]*clips.SignedTransfer{
			c1: omTransfer(t, f.agency.key, g, c1, received),
			c3: old,
		},
	}
	if err := f.svc.SetAppender(home); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PublishOmission(req.ID, src); err != requests.ErrNoOmission {
		t.Fatalf("before the grace: PublishOmission = %v, want ErrNoOmission", err)
	}
	f.omNote(req, ruleBase.Add(30*time.Minute))
	cs, err := f.svc.AuditOmissions(home.l.id, req.ID, src)
	if err != nil {
		t.Fatal(err)
	}
	got := map[record.ID]requests.OmissionCandidate{}
	for _, c := range cs {
		got[c.Clip] = c
	}
	switch {
	case len(cs) != 3:
		t.Fatalf("%d candidates, want the 3 clips of the home's own grants: %+v", len(cs), cs)
	case !got[c1].Receipt || got[c1].Verdict.State != requests.OmissionProven:
		t.Fatalf("clip 1: %+v, want proven", got[c1])
	case got[c2].Receipt || got[c2].Verdict.State != "":
		t.Fatalf("clip 2 (no receipt): %+v", got[c2])
	case got[c3].Verdict.State != requests.OmissionNotProven:
		t.Fatalf("clip 3 (a receipt naming no grant envelope): %+v, want not proven", got[c3])
	}
	recs, err := f.svc.PublishOmission(req.ID, src)
	if err != nil || len(recs) != 1 {
		t.Fatalf("PublishOmission = %d records, %v; want 1", len(recs), err)
	}
	if p, err := requests.OpenOmission(recs[0]); err != nil || p.Clip != c1 {
		t.Fatalf("the published proof: %+v, %v", p, err)
	}
	if _, err := f.svc.PublishOmission(req.ID, src); err != requests.ErrNoOmission {
		t.Fatalf("publishing again = %v, want ErrNoOmission", err)
	}
	cs, _ = f.svc.AuditOmissions(home.l.id, req.ID, src)
	for _, c := range cs {
		if c.Clip == c1 && c.Published != recs[0].ID {
			t.Fatalf("clip 1 after publishing: %+v", c)
		}
	}
	ag, _, err := f.svc.Agency(f.agency.id, ruleBase)
	if err != nil || len(ag.Omissions) != 1 || ag.Omissions[0].Record != recs[0].ID {
		t.Fatalf("the agency shows %+v, %v", ag.Omissions, err)
	}
}
