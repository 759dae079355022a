package member

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func newHost(t *testing.T, h home) host.Host {
	t.Helper()
	hst, err := libp2p.New(libp2p.Identity(h.key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hst.Close() })
	return hst
}

// server is a member serving the join protocol on a real host.
type server struct {
	h         host.Host
	s         *Service
	mu        sync.Mutex
	published [][]byte
}

func serve(t *testing.T, h home, s *Service) *server {
	sv := &server{h: newHost(t, h), s: s}
	sv.h.SetStreamHandler(JoinProtocol, func(st network.Stream) {
		s.ServeJoin(st, func(raw []byte) {
			sv.mu.Lock()
			sv.published = append(sv.published, raw)
			sv.mu.Unlock()
		})
	})
	return sv
}

func (sv *server) info() peer.AddrInfo { return peer.AddrInfo{ID: sv.h.ID(), Addrs: sv.h.Addrs()} }

func joiner(t *testing.T, sv *server) (home, host.Host) {
	t.Helper()
	j := newHome(t)
	h := newHost(t, j)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Connect(ctx, sv.info()); err != nil {
		t.Fatal(err)
	}
	return j, h
}

// TestJoin: a joiner with a's invite is admitted by the founder (a is not
// online), gets the admission and a proof that make it a member in its own
// roster; the founder published the admission.
func TestJoin(t *testing.T) {
	w := newWorld(t, InviteByAny)
	clk := &clock{t: time.Now()}
	w.fixture.t = t
	a := w.started(t, w.a, clk)
	sv := serve(t, w.founder, w.started(t, w.founder, clk))
	var addrs []ma.Multiaddr
	for _, addr := range sv.h.Addrs() {
		addrs = append(addrs, addr.Encapsulate(ma.StringCast("/p2p/"+sv.h.ID().String())))
	}
	made, err := a.CreateInvite(time.Hour, 1, addrs)
	if err != nil {
		t.Fatal(err)
	}
	// The joiner knows only the invite string, with the founder's address.
	inv, err := ParseInvite(made.String(), clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	j := newHome(t)
	jh := newHost(t, j)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// check_only admits no one.
	adm, proof, err := Join(ctx, jh, sv.h.ID(), inv, "14 Maple St", true)
	if err != nil || adm != nil || len(proof) == 0 || sv.s.IsMember(j.id) {
		t.Fatalf("check only: %v, admission %d bytes, proof %d", err, len(adm), len(proof))
	}
	// At most one request per second from one peer, after a burst of two.
	if _, _, err := Join(ctx, jh, sv.h.ID(), inv, "14 Maple St", true); err != nil {
		t.Fatalf("a check right after a check: %v", err)
	}
	_, _, err = Join(ctx, jh, sv.h.ID(), inv, "14 Maple St", false)
	var refused *Refused
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "too many join requests") {
		t.Fatalf("a second request within a second: %v", err)
	}
	time.Sleep(1100 * time.Millisecond) // the per-peer rate is what is tested
	adm, proof, err = Join(ctx, jh, sv.h.ID(), inv, "14 Maple St", false)
	if err != nil {
		t.Fatal(err)
	}
	if !sv.s.IsMember(j.id) || len(sv.published) != 1 {
		t.Fatalf("the founder's roster lacks the joiner, or it published %d documents", len(sv.published))
	}
	js := w.service(t, j, clk)
	ingestAll(t, js, append(proof, adm))
	if me, ok := js.Self(); !ok || me.Removed || me.InvitedBy != w.a.id || me.AdmittedBy != w.founder.id || me.Name != "14 Maple St" {
		t.Fatalf("the joiner's own roster says %+v, %v", me, ok)
	}
	// A member asking again gets its admission again.
	time.Sleep(1100 * time.Millisecond)
	again, _, err := Join(ctx, jh, sv.h.ID(), inv, "14 Maple St", false)
	if err != nil || string(again) != string(adm) {
		t.Fatalf("joining again: %v", err)
	}
}

// TestJoinRefused: each bad invite is refused with its reason, and nothing
// is admitted or published.
func TestJoinRefused(t *testing.T) {
	w := newWorld(t, InviteByAny)
	clk := &clock{t: time.Now()}
	fs := w.started(t, w.founder, clk)
	sv := serve(t, w.founder, fs)
	mk := func(uses int) *Invite {
		inv, err := fs.CreateInvite(time.Hour, uses, nil)
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	used := mk(1)
	first := newHome(t)
	if _, err := fs.Admit(used.Doc, used.Claim(first.id), first.id, ""); err != nil {
		t.Fatal(err)
	}
	revoked := mk(3)
	if _, err := fs.RevokeInvite(revoked.ID.String()); err != nil {
		t.Fatal(err)
	}
	tampered := *mk(1)
	tampered.Doc = append([]byte{}, tampered.Doc...)
	tampered.Doc[len(tampered.Doc)-3] ^= 1
	other := newFixture(t, InviteByAny)
	oi := other.invite(other.founder, 0, 30*24*time.Hour, 1)
	otherInv := &Invite{Doc: oi.doc.Raw, ID: oi.doc.ID, Secret: oi.secret}
	stranger := newHome(t)
	si := w.invite(stranger, 0, 30*24*time.Hour, 1)
	strangerInv := &Invite{Doc: si.doc.Raw, ID: si.doc.ID, Secret: si.secret}
	expired := mk(1)
	published := len(sv.published)
	for _, c := range []struct {
		name string
		inv  *Invite
		want string
	}{
		{"used up", used, "invite is used up (1 of 1 uses)"},
		{"revoked", revoked, "invite was revoked"},
		{"tampered", &tampered, "invite is tampered with"},
		{"other neighborhood", otherInv, "invite is for another neighborhood"},
		{"inviter not a member", strangerInv, "is not a member"},
		{"expired", expired, "invite expired at"},
	} {
		if c.name == "expired" {
			clk.Set(clk.Now().Add(2 * time.Hour))
		}
		j, jh := joiner(t, sv)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := Join(ctx, jh, sv.h.ID(), c.inv, "x", false)
		cancel()
		var refused *Refused
		if !errors.As(err, &refused) || !strings.Contains(refused.Reason, c.want) {
			t.Errorf("%s: %v, want a refusal saying %q", c.name, err, c.want)
		}
		if fs.IsMember(j.id) {
			t.Errorf("%s: admitted", c.name)
		}
	}
	if len(sv.published) != published {
		t.Fatal("a refused join published a document")
	}
}

// TestServeJoinBudget: an oversized request is refused unread, a stalled
// one is cut at JoinTimeout, and beyond JoinRate requests per second in
// all are refused.
func TestServeJoinBudget(t *testing.T) {
	w := newWorld(t, InviteByAny)
	fs := w.started(t, w.founder, &clock{t: time.Now()})
	sv := serve(t, w.founder, fs)
	_, jh := joiner(t, sv)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	st, err := jh.NewStream(ctx, sv.h.ID(), JoinProtocol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(binary.AppendUvarint(nil, MaxJoinRequest+1)); err != nil {
		t.Fatal(err)
	}
	b, err := readDelimited(st, MaxJoinResponse)
	if err != nil || !strings.Contains(string(b), "8193 bytes, limit 8192") {
		t.Fatalf("oversized request: %q, %v", b, err)
	}
	st.Close()

	// A stalled request: the member gives up after JoinTimeout.
	time.Sleep(2100 * time.Millisecond)
	st, err = jh.NewStream(ctx, sv.h.ID(), JoinProtocol)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _ = io.ReadAll(st)
	if d := time.Since(start); d < JoinTimeout-500*time.Millisecond || d > JoinTimeout+3*time.Second {
		t.Fatalf("a stalled request held the stream %s, want about %s", d, JoinTimeout)
	}
	st.Reset()

	// The overall rate: JoinRate from distinct peers at once, then refused.
	refusals := 0
	for i := 0; i < JoinRate+3; i++ {
		if !fs.join.allow(newHome(t).id, time.Now()) {
			refusals++
		}
	}
	if refusals < 3 {
		t.Fatalf("%d of %d requests refused in one burst, want at least 3", refusals, JoinRate+3)
	}
}
