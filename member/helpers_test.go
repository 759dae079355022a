package member

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/porchlight-mesh/porchlight/member/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// No goroutine outlives the tests: the join protocol's hosts are closed
// (the ignored ones are process-wide workers of libp2p's dependencies).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/tcp.init.0.func1"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// t0 is the fixtures' epoch: documents are dated t0 plus an offset.
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type home struct {
	key crypto.PrivKey
	id  peer.ID
}

func newHome(t testing.TB) home {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return home{key, id}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// fixture is a neighborhood: a founder, a charter, and helpers that sign
// documents dated t0 + an offset.
type fixture struct {
	t       testing.TB
	founder home
	charter *Doc
	nb      string
}

func newFixture(t testing.TB, inviteBy string, stewards ...home) *fixture {
	t.Helper()
	f := &fixture{t: t, founder: newHome(t)}
	c := &pb.Charter{Name: "Maple St", InviteBy: inviteBy, Nonce: make([]byte, 16)}
	_, _ = rand.Read(c.Nonce)
	for _, s := range stewards {
		c.Stewards = append(c.Stewards, []byte(s.id))
	}
	var err error
	f.charter, err = seal(f.founder.key, "", t0, func(m *pb.Doc) { m.Body = &pb.Doc_Charter{Charter: c} })
	if err != nil {
		t.Fatal(err)
	}
	f.nb = f.charter.Neighborhood()
	return f
}

func (f *fixture) at(off time.Duration) time.Time { return t0.Add(off) }

func (f *fixture) sign(h home, off time.Duration, body func(*pb.Doc)) *Doc {
	f.t.Helper()
	d, err := seal(h.key, f.nb, f.at(off), body)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// invite is a signed invite and its secret.
type invite struct {
	doc    *Doc
	secret ed25519.PrivateKey
}

func (f *fixture) invite(by home, off, life time.Duration, uses int) invite {
	f.t.Helper()
	pub, sec, _ := ed25519.GenerateKey(rand.Reader)
	d := f.sign(by, off, func(m *pb.Doc) {
		m.Body = &pb.Doc_Invite{Invite: &pb.Invite{Charter: f.charter.ID[:], Key: pub, Expires: f.at(off + life).UnixMilli(), Uses: uint32(uses)}}
	})
	return invite{d, sec}
}

func (f *fixture) admit(by home, off time.Duration, inv invite, joiner home) *Doc {
	f.t.Helper()
	claim := ed25519.Sign(inv.secret, claimMessage(inv.doc.ID, joiner.id))
	return f.sign(by, off, func(m *pb.Doc) {
		m.Body = &pb.Doc_Admission{Admission: &pb.Admission{Invite: inv.doc.Raw, Member: []byte(joiner.id), Name: "home", Claim: claim}}
	})
}

// remove signs a removal of target that keeps the documents keep (those
// of target's that by's node holds, for an honest steward).
func (f *fixture) remove(by home, off time.Duration, target home, keep ...*Doc) *Doc {
	return f.sign(by, off, func(m *pb.Doc) {
		m.Body = &pb.Doc_Removal{Removal: &pb.Removal{Member: []byte(target.id), Reason: "moved away", Keep: keepIDs(keep)}}
	})
}

// steward signs a naming or (on false) an unnaming of target, which keeps
// the documents keep.
func (f *fixture) steward(by home, off time.Duration, target home, on bool, keep ...*Doc) *Doc {
	return f.sign(by, off, func(m *pb.Doc) {
		m.Body = &pb.Doc_Steward{Steward: &pb.Steward{Member: []byte(target.id), Steward: on, Keep: keepIDs(keep)}}
	})
}

func keepIDs(docs []*Doc) [][]byte {
	var out [][]byte
	for _, d := range docs {
		out = append(out, append([]byte(nil), d.ID[:]...))
	}
	return out
}

func (f *fixture) revoke(by home, off time.Duration, id record.ID) *Doc {
	return f.sign(by, off, func(m *pb.Doc) {
		m.Body = &pb.Doc_InviteRevocation{InviteRevocation: &pb.InviteRevocation{Invite: id[:]}}
	})
}

func openDB(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// service starts a Service for h on a fresh database, its clock at now.
func (f *fixture) service(t testing.TB, h home, now *clock) *Service {
	t.Helper()
	return f.serviceOn(t, openDB(t), h, now)
}

func (f *fixture) serviceOn(t testing.TB, db *store.DB, h home, now *clock) *Service {
	t.Helper()
	s, err := New(Config{Store: db, Charter: f.charter.ID, Key: h.key, Now: now.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ingestAll ingests docs like sync would: those held (ErrUnknown) again
// until nothing more is added. It fails on any other error.
func ingestAll(t testing.TB, s *Service, raws [][]byte) {
	t.Helper()
	pending := raws
	for len(pending) > 0 {
		var held [][]byte
		for _, raw := range pending {
			if _, err := s.IngestDoc(raw); err != nil {
				if isUnknown(err) {
					held = append(held, raw)
					continue
				}
				t.Fatalf("ingest: %v", err)
			}
		}
		if len(held) == len(pending) {
			t.Fatalf("%d documents held for good", len(held))
		}
		pending = held
	}
}

func raws(docs ...*Doc) [][]byte {
	out := make([][]byte, len(docs))
	for i, d := range docs {
		out[i] = d.Raw
	}
	return out
}

type pbDoc = pb.Doc

func removalBody(target home) *pb.Doc_Removal {
	return &pb.Doc_Removal{Removal: &pb.Removal{Member: []byte(target.id), Reason: "moved away"}}
}
