package mesh_test

import (
	"context"
	"encoding/binary"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	lrecord "github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/porchlight-mesh/porchlight/mesh"
)

// noPeerExchange keeps a test's topology as built.
func noPeerExchange(c *mesh.Config) { c.NoPeerExchange = true }

func inBook(n *testNode, p peer.ID) bool {
	return slices.ContainsFunc(n.m.AddressBook(), func(e mesh.AddrBookEntry) bool { return e.ID == p })
}

// TestAddressBookIntroducesMembers: C knows only A; it learns B's signed
// peer record from A and connects to B. Restarted on a new port with no
// static peers, C redials A and B from its persisted address book (A and
// B only know C's old address, so the dials are C's).
func TestAddressBookIntroducesMembers(t *testing.T) {
	r := newRoster()
	a := newTestNodeWith(t, "a", "maple-st", withRoster(r))
	b := newTestNodeWith(t, "b", "maple-st", withRoster(r))
	c := newTestNodeWith(t, "c", "maple-st", withRoster(r))
	for _, n := range []*testNode{a, b, c} {
		r.set(n.m.ID(), mesh.Member)
	}
	connect(t, b, a)
	eventually(t, 10*time.Second, "a records b's peer record", func() bool { return inBook(a, b.m.ID()) })
	connect(t, c, a)
	eventually(t, 20*time.Second, "c connects to b, learnt from a", func() bool { return isNeighbors(c, b) })
	for _, e := range c.m.AddressBook() {
		if e.ID == b.m.ID() && len(e.Addrs) == 0 {
			t.Error("b's entry has no address")
		}
	}

	c.stop()
	c.start()
	eventually(t, 20*time.Second, "restarted c redials a and b", func() bool { return isNeighbors(c, a) && isNeighbors(c, b) })
}

// TestAddressBookNotForOutsiders: an agency neighbor and a stranger ask a
// member for its peers and get nothing.
func TestAddressBookNotForOutsiders(t *testing.T) {
	r := newRoster()
	a := newTestNodeWith(t, "a", "maple-st", withRoster(r))
	b := newTestNodeWith(t, "b", "maple-st", withRoster(r))
	ag := newTestNodeWith(t, "agency", "maple-st", withRoster(r))
	r.set(a.m.ID(), mesh.Member)
	r.set(b.m.ID(), mesh.Member)
	r.set(ag.m.ID(), mesh.Agency)
	connect(t, b, a)
	eventually(t, 10*time.Second, "a records b's peer record", func() bool { return inBook(a, b.m.ID()) })
	connect(t, ag, a)
	eventually(t, 10*time.Second, "a and the agency complete the handshake", func() bool { return isNeighbors(a, ag) })

	ask := func(h host.Host) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := h.NewStream(ctx, a.m.ID(), mesh.PeersProtocol)
		if err != nil {
			return nil
		}
		defer s.Close()
		_ = s.CloseWrite()
		got, _ := io.ReadAll(s)
		return got
	}
	if got := ask(ag.m.Host()); len(got) != 0 {
		t.Errorf("agency received %d bytes of peer records", len(got))
	}
	if inBook(ag, b.m.ID()) {
		t.Error("agency's address book holds b")
	}

	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Connect(ctx, a.info()); err != nil {
		t.Fatal(err)
	}
	if got := ask(h); len(got) != 0 {
		t.Errorf("stranger received %d bytes of peer records", len(got))
	}
}

// signedRecord is id's peer record at addrs, sealed by key.
func signedRecord(t *testing.T, id peer.ID, key crypto.PrivKey, addrs ...string) []byte {
	t.Helper()
	rec := &peer.PeerRecord{PeerID: id, Seq: uint64(time.Now().UnixNano())}
	for _, s := range addrs {
		rec.Addrs = append(rec.Addrs, ma.StringCast(s))
	}
	env, err := lrecord.Seal(rec, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func newIdentity(t *testing.T) (peer.ID, crypto.PrivKey) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id, key
}

// TestAddressBookRefusesBadRecords: a member neighbor answers with a
// forged record, a record of one peer signed by another, a non-member's
// record and an oversized one, around one valid record: only the valid
// one is kept.
func TestAddressBookRefusesBadRecords(t *testing.T) {
	r := newRoster()
	x := newTestNodeWith(t, "x", "maple-st", withRoster(r))
	c := newTestNodeWith(t, "c", "maple-st", withRoster(r))
	r.set(x.m.ID(), mesh.Member)
	r.set(c.m.ID(), mesh.Member)
	valid, validKey := newIdentity(t)
	forged, forgedKey := newIdentity(t)
	other, _ := newIdentity(t)
	_, signerKey := newIdentity(t)
	outsider, outsiderKey := newIdentity(t)
	for _, p := range []peer.ID{valid, forged, other} {
		r.set(p, mesh.Member)
	}
	bad := signedRecord(t, forged, forgedKey, "/ip4/127.0.0.1/tcp/1")
	bad[len(bad)-1] ^= 1
	var answer []byte
	for _, raw := range [][]byte{
		bad,
		signedRecord(t, other, signerKey, "/ip4/127.0.0.1/tcp/1"),
		signedRecord(t, outsider, outsiderKey, "/ip4/127.0.0.1/tcp/1"),
		signedRecord(t, valid, validKey, "/ip4/127.0.0.1/tcp/1"),
		make([]byte, mesh.MaxPeerRecordSize+1),
	} {
		answer = binary.AppendUvarint(answer, uint64(len(raw)))
		answer = append(answer, raw...)
	}
	x.m.Host().SetStreamHandler(mesh.PeersProtocol, func(s network.Stream) {
		_, _ = s.Write(answer)
		_ = s.Close()
	})
	connect(t, c, x)
	eventually(t, 10*time.Second, "c keeps the valid record", func() bool { return inBook(c, valid) })
	for _, p := range []struct {
		name string
		id   peer.ID
	}{{"forged", forged}, {"signed by another peer", other}, {"non-member's", outsider}} {
		if inBook(c, p.id) {
			t.Errorf("c kept the %s record", p.name)
		}
	}
}

// TestAddressBookAgesOut: an entry not seen connected for AddrBookMaxAge
// is dropped, and stays dropped after a restart.
func TestAddressBookAgesOut(t *testing.T) {
	var skew atomic.Int64
	a := newTestNodeWith(t, "a", "maple-st", func(c *mesh.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	b := newTestNode(t, "b", "maple-st")
	connect(t, b, a)
	eventually(t, 10*time.Second, "a records b's peer record", func() bool { return inBook(a, b.m.ID()) })
	bid := b.m.ID()
	b.stop()
	skew.Store(int64(mesh.AddrBookMaxAge - time.Hour))
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if !inBook(a, bid) { // a round of the address book runs every 5 s
			t.Fatal("b aged out before AddrBookMaxAge")
		}
	}
	skew.Store(int64(mesh.AddrBookMaxAge + time.Hour))
	eventually(t, 15*time.Second, "b ages out of a's address book", func() bool { return !inBook(a, bid) })
	a.stop()
	a.start()
	if inBook(a, bid) {
		t.Error("b is back in a's address book after a restart")
	}
}

// TestAddressBookOpenPolicyExchangesNothing: an open neighborhood keeps
// to its LAN and static peers: its nodes neither hand out nor ask for
// peer records (any neighbor could point them anywhere), though each
// keeps the records of the neighbors it connected to itself.
func TestAddressBookOpenPolicyExchangesNothing(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	c := newTestNode(t, "c", "maple-st")
	connect(t, c, a)
	eventually(t, 10*time.Second, "a records c's peer record", func() bool { return inBook(a, c.m.ID()) })
	// b meets a after a knows c: under a membership, b would ask a at
	// once, learn c and dial it (TestAddressBookIntroducesMembers).
	connect(t, b, a)
	eventually(t, 10*time.Second, "a records b's peer record", func() bool { return inBook(a, b.m.ID()) })
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if b.m.Host().Network().Connectedness(c.m.ID()) == network.Connected || inBook(b, c.m.ID()) {
			t.Fatal("b learned c from a in an open neighborhood")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s, err := c.m.Host().NewStream(ctx, a.m.ID(), mesh.PeersProtocol); err == nil {
		_ = s.CloseWrite()
		if got, _ := io.ReadAll(s); len(got) != 0 {
			t.Errorf("an open neighbor received %d bytes of peer records", len(got))
		}
		s.Close()
	}
}
