package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// anchorRoster is an invite-only neighborhood founded by the anchor's
// data directory, with n members admitted by the founder: what a street
// of n+1 homes holds after everyone joined.
type anchorRoster struct {
	dir          string // the anchor's data directory (the founder's)
	neighborhood string
	charter      []byte
	charterID    record.ID
	keys         []crypto.PrivKey // the members'
	admissions   [][]byte         // admissions[i] admits keys[i]
	docs         int              // documents the founder signed
}

// newAnchorRoster founds the neighborhood in dir (node.Found, as
// `porchlight init --found` does) and has the founder invite and admit n
// homes with member.Service on the founder's own store, as `porchlight
// invite` and a joiner's claim do: invites of member.MaxUses uses each,
// one admission per home.
func newAnchorRoster(e *env, dir string, n int) (*anchorRoster, error) {
	cfg, err := node.Found(dir, node.Config{Name: "Anchor", DisableMDNS: true, Anchor: !*anchorPlain}, "Bench St", member.InviteByAny)
	if err != nil {
		return nil, fmt.Errorf("found the neighborhood: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, node.CharterFile))
	if err != nil {
		return nil, err
	}
	charterID, err := record.ParseID(cfg.Charter)
	if err != nil {
		return nil, err
	}
	key, err := node.LoadKey(dir)
	if err != nil {
		return nil, err
	}
	ch, err := member.OpenDoc(raw, time.Now())
	if err != nil {
		return nil, err
	}
	db, err := store.Open(store.Config{Dir: filepath.Join(dir, node.DBDir), Neighborhood: cfg.Neighborhood, Logger: e.log})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// Documents take the wall clock, one millisecond apart at least (their
	// creation times order the roster), never before the charter.
	last := ch.Created()
	now := func() time.Time {
		t := time.Now()
		if t.UnixMilli() <= last.UnixMilli() {
			t = last.Add(time.Millisecond)
		}
		last = t
		return t
	}
	svc, err := member.New(member.Config{Store: db, Charter: charterID, Key: key, Now: now, Logger: e.log})
	if err != nil {
		return nil, err
	}
	if _, err := svc.IngestDoc(raw); err != nil {
		return nil, fmt.Errorf("store the charter: %w", err)
	}
	r := &anchorRoster{dir: dir, neighborhood: cfg.Neighborhood, charter: raw, charterID: charterID, docs: 1}
	var inv *member.Invite
	for i := range n {
		if i%member.MaxUses == 0 {
			if inv, err = svc.CreateInvite(72*time.Hour, min(member.MaxUses, n-i), nil); err != nil {
				return nil, fmt.Errorf("invite %d: %w", i/member.MaxUses, err)
			}
			r.docs++
		}
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, err
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			return nil, err
		}
		adm, err := svc.Admit(inv.Doc, inv.Claim(id), id, fmt.Sprintf("%d Bench St", 2*i+3))
		if err != nil {
			return nil, fmt.Errorf("admit home %d: %w", i, err)
		}
		r.docs++
		r.keys = append(r.keys, k)
		r.admissions = append(r.admissions, adm.Raw)
	}
	if got := len(svc.Roster()); got != n+1 {
		return nil, fmt.Errorf("the founder's roster has %d members, want %d", got, n+1)
	}
	return r, nil
}

// simMember is one simulated home: a real mesh.Mesh (libp2p host,
// gossipsub, sync, the membership handshake with its proof) on a Badger
// store of its own that holds the charter and its admission, with no
// listening address (a home behind NAT: it dials out, nobody dials it).
type simMember struct {
	i   int
	m   *mesh.Mesh
	db  *store.DB
	svc *member.Service
	reg *prometheus.Registry

	// resConn is the connection to the anchor the reservation was made
	// on; a reservation ends with its connection.
	resMu   sync.Mutex
	resConn string
	resErr  error

	// sub delivers identify's news of peers to hideRelay's loop, done
	// closes when that loop returns.
	sub  event.Subscription
	done chan struct{}
}

// anchorMembers is the set of simulated homes.
type anchorMembers struct {
	list   []*simMember
	anchor peer.ID
	arr    *postArrivals
	// disconnects counts members' connections to the anchor that closed.
	disconnects atomic.Int64
	// reReserved counts reservations made again after their connection
	// closed.
	reReserved atomic.Int64
	// noRelay (the baseline): every home forgets that the anchor serves
	// relay reservations as soon as identify tells it, so that neither
	// its AutoRelay nor the mesh's anchor candidates (any connected
	// neighbor serving relay) pick the anchor.
	noRelay atomic.Bool
	// hidden counts the times a home forgot it.
	hidden atomic.Int64
}

// startAnchorMembers starts one simMember per roster key, each with the
// anchor at anchorAddr as its static peer (dialled at start and whenever
// disconnected), in parallel.
func startAnchorMembers(e *env, r *anchorRoster, anchorAddr string) (*anchorMembers, error) {
	ai, err := peer.AddrInfoFromString(anchorAddr)
	if err != nil {
		return nil, err
	}
	root, err := e.tempDir("anchor-members-")
	if err != nil {
		return nil, err
	}
	ms := &anchorMembers{list: make([]*simMember, len(r.keys)), anchor: ai.ID, arr: newPostArrivals()}
	var wg sync.WaitGroup
	errs := make(chan error, len(r.keys))
	sem := make(chan struct{}, 8)
	for i := range r.keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sm, err := startSimMember(e, r, ms, filepath.Join(root, fmt.Sprint(i)), i, anchorAddr)
			if err != nil {
				errs <- fmt.Errorf("member %d: %w", i, err)
				return
			}
			ms.list[i] = sm
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		ms.close()
		return nil, err
	}
	return ms, nil
}

func startSimMember(e *env, r *anchorRoster, ms *anchorMembers, dir string, i int, anchorAddr string) (*simMember, error) {
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: r.neighborhood, Logger: e.log})
	if err != nil {
		return nil, err
	}
	key := r.keys[i]
	svc, err := member.New(member.Config{Store: db, Charter: r.charterID, Key: key, Logger: e.log})
	if err == nil {
		for _, d := range [][]byte{r.charter, r.admissions[i]} {
			if _, err = svc.IngestDoc(d); err != nil {
				break
			}
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	self, _ := peer.IDFromPrivateKey(key)
	if !svc.IsMember(self) {
		db.Close()
		return nil, errors.New("not a member after storing its admission")
	}
	sm := &simMember{i: i, db: db, svc: svc, reg: prometheus.NewRegistry()}
	m, err := mesh.New(mesh.Config{
		Key:         key,
		Store:       db,
		Name:        fmt.Sprintf("%d Bench St", 2*i+3),
		ListenAddrs: []string{homeListen(i)},
		StaticPeers: []string{anchorAddr},
		// Homes behind NAT reach each other through the anchor only
		// here: none asks it for the others' records (see the report).
		NoPeerExchange: true,
		Registerer:     sm.reg,
		Logger:         e.log,
		Membership:     benchMembership{svc},
		OnRecord:       func(s *record.Signed) { ms.arr.mark(s.ID, i) },
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	sm.m = m
	// The relayed pair has no listener: homes behind NAT, which nobody
	// can dial, so they reach each other only through the anchor. The
	// others keep theirs, so that they dial the anchor from it
	// (go-libp2p's TCP reuses the listening port): each home comes from
	// its own address, as on a street, rather than 200 from one (the
	// anchor grants MaxReservationsPerIP per address).
	if i < pairHomes {
		if err := closeListeners(m); err != nil {
			m.Close()
			db.Close()
			return nil, err
		}
	}
	sub, err := m.Host().EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerProtocolsUpdated)})
	if err != nil {
		m.Close()
		db.Close()
		return nil, err
	}
	sm.sub, sm.done = sub, make(chan struct{})
	go func() {
		defer close(sm.done)
		for ev := range sub.Out() {
			var p peer.ID
			switch ev := ev.(type) {
			case event.EvtPeerIdentificationCompleted:
				p = ev.Peer
			case event.EvtPeerProtocolsUpdated:
				p = ev.Peer
			}
			if p == ms.anchor && ms.noRelay.Load() {
				ms.hideRelay(sm)
			}
		}
	}()
	m.Host().Network().Notify(&network.NotifyBundle{
		DisconnectedF: func(_ network.Network, c network.Conn) {
			if c.RemotePeer() == ms.anchor {
				ms.disconnects.Add(1)
			}
		},
	})
	return sm, nil
}

// pairHomes are the first homes of the list, the relayed pair.
const pairHomes = 2

// homeListen is home i's listen address on its own loopback address, for
// -anchor-transport.
func homeListen(i int) string {
	if *anchorTransport == "quic" {
		return fmt.Sprintf("/ip4/%s/udp/0/quic-v1", homeIP(i))
	}
	return fmt.Sprintf("/ip4/%s/tcp/0", homeIP(i))
}

// homeIP is home i's own loopback address, 127.1.x.y.
func homeIP(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1) }

// sourceIPs counts the distinct local IP addresses of the homes'
// connections to the anchor.
func (ms *anchorMembers) sourceIPs() int {
	seen := map[string]bool{}
	for _, sm := range ms.list {
		for _, c := range sm.m.Host().Network().ConnsToPeer(ms.anchor) {
			if ip, err := c.LocalMultiaddr().ValueForProtocol(ma.P_IP4); err == nil {
				seen[ip] = true
			}
		}
	}
	return len(seen)
}

// closeListeners closes every direct listener of m's host (a libp2p
// swarm): nobody can dial it.
func closeListeners(m *mesh.Mesh) error {
	sw, ok := m.Host().Network().(interface {
		ListenAddresses() []ma.Multiaddr
		ListenClose(...ma.Multiaddr)
	})
	if !ok {
		return fmt.Errorf("the host's network (%T) cannot close its listeners", m.Host().Network())
	}
	// The relay transport's listener (/p2p-circuit) stays: closing it
	// closes the circuit client, and the home could not be reached
	// through its reservation.
	var direct []ma.Multiaddr
	for _, a := range sw.ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			direct = append(direct, a)
		}
	}
	sw.ListenClose(direct...)
	for _, a := range sw.ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			return fmt.Errorf("still listening on %s", a)
		}
	}
	return nil
}

func (ms *anchorMembers) close() {
	var wg sync.WaitGroup
	for _, sm := range ms.list {
		if sm == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sm.sub.Close()
			<-sm.done
			sm.m.Close()
			sm.db.Close()
		}()
	}
	wg.Wait()
}

// hideRelay removes the relay hop protocol from what sm's peerstore says
// the anchor supports.
func (ms *anchorMembers) hideRelay(sm *simMember) {
	if protos, err := sm.m.Host().Peerstore().SupportsProtocols(ms.anchor, proto.ProtoIDv2Hop); err == nil && len(protos) > 0 {
		_ = sm.m.Host().Peerstore().RemoveProtocols(ms.anchor, proto.ProtoIDv2Hop)
		ms.hidden.Add(1)
	}
}

// setNoRelay turns noRelay on or off, and on, hides the relay at once on
// every home.
func (ms *anchorMembers) setNoRelay(on bool) {
	ms.noRelay.Store(on)
	if on {
		for _, sm := range ms.list {
			ms.hideRelay(sm)
		}
	}
}

// dropStrayReservations (baseline) finds the homes whose AutoRelay
// reserved on the anchor before it was hidden (the mesh's
// porchlight_relay_reservations_held), and closes their connections to
// the anchor, which ends the reservation; the static-peer redial brings
// them back, the relay hidden. It returns how many it closed.
func (ms *anchorMembers) dropStrayReservations() int {
	n := 0
	for _, sm := range ms.list {
		if gaugeSum(sm.reg, "porchlight_relay_reservations_held") > 0 {
			ms.hideRelay(sm)
			_ = sm.m.Host().Network().ClosePeer(ms.anchor)
			n++
		}
	}
	return n
}

func gaugeSum(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetGauge().GetValue()
			}
		}
	}
	return v
}

// neighbors counts the members whose handshake with the anchor is
// complete.
func (ms *anchorMembers) neighbors() int {
	n := 0
	for _, sm := range ms.list {
		if sm.m.IsNeighbor(ms.anchor) {
			n++
		}
	}
	return n
}

// waitNeighbors polls until every member counts the anchor as a neighbor.
func (ms *anchorMembers) waitNeighbors(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n := ms.neighbors()
		if n == len(ms.list) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d members completed the handshake with the anchor within %s", n, len(ms.list), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// connectAll has every member dial the anchor now, 16 at a time, rather
// than at its static-peer redial (every 5 s).
func (ms *anchorMembers) connectAll(ctx context.Context, anchorAddr string) {
	ai, err := peer.AddrInfoFromString(anchorAddr)
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, sm := range ms.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_ = sm.m.Connect(cctx, *ai) // the static-peer redial tries again
		}()
	}
	wg.Wait()
}

// reserve makes a relay reservation on the anchor, over the member's
// current connection to it (circuitv2 client.Reserve, what AutoRelay
// does for a static relay).
func (sm *simMember) reserve(ctx context.Context, anchor peer.ID) error {
	conns := sm.m.Host().Network().ConnsToPeer(anchor)
	if len(conns) == 0 {
		return errors.New("not connected to the anchor")
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := client.Reserve(rctx, sm.m.Host(), peer.AddrInfo{ID: anchor})
	sm.resMu.Lock()
	defer sm.resMu.Unlock()
	sm.resErr = err
	if err == nil {
		sm.resConn = conns[0].ID()
	}
	return err
}

// holds reports whether the member's reservation is on a connection to
// the anchor that is still open.
func (sm *simMember) holds(anchor peer.ID) bool {
	sm.resMu.Lock()
	id := sm.resConn
	sm.resMu.Unlock()
	if id == "" {
		return false
	}
	for _, c := range sm.m.Host().Network().ConnsToPeer(anchor) {
		if c.ID() == id {
			return true
		}
	}
	return false
}

// lost reports whether the member had a reservation whose connection
// closed.
func (sm *simMember) lost(anchor peer.ID) bool {
	sm.resMu.Lock()
	had := sm.resConn != ""
	sm.resMu.Unlock()
	return had && !sm.holds(anchor)
}

func (sm *simMember) forget() {
	sm.resMu.Lock()
	sm.resConn, sm.resErr = "", nil
	sm.resMu.Unlock()
}

// reserveAll has every member reserve, 16 at a time, each trying up to 3
// times a second apart (the anchor may still be checking its handshake),
// and returns how many hold one and the distinct errors of the others.
func (ms *anchorMembers) reserveAll(ctx context.Context) (int, []string) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, sm := range ms.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			for try := range 3 {
				if try > 0 {
					time.Sleep(time.Second)
				}
				if sm.reserve(ctx, ms.anchor) == nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	held, seen := 0, map[string]int{}
	for _, sm := range ms.list {
		if sm.holds(ms.anchor) {
			held++
		} else if sm.resErr != nil {
			seen[sm.resErr.Error()]++
		}
	}
	var errs []string
	for msg, n := range seen {
		errs = append(errs, fmt.Sprintf("%d× %s", n, msg))
	}
	return held, errs
}

// keepReservations makes a reservation again, every 5 s, for members
// whose reservation's connection closed and that are connected again (the
// static-peer redial), as AutoRelay would. A refused reservation is not
// asked again. It returns when ctx ends.
func (ms *anchorMembers) keepReservations(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, sm := range ms.list {
			if ctx.Err() != nil {
				return
			}
			if sm.lost(ms.anchor) && sm.m.Host().Network().Connectedness(ms.anchor) == network.Connected {
				if sm.reserve(ctx, ms.anchor) == nil {
					ms.reReserved.Add(1)
				}
			}
		}
	}
}

// held counts the members holding a reservation on an open connection.
func (ms *anchorMembers) held() int {
	n := 0
	for _, sm := range ms.list {
		if sm.holds(ms.anchor) {
			n++
		}
	}
	return n
}

// post has member i write a post of textLen bytes and registers it with
// the arrivals.
func (ms *anchorMembers) post(i int, text string) (*record.Signed, error) {
	sm := ms.list[i]
	t0 := time.Now()
	s, err := sm.m.Append(func(en *pb.Entry) { en.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: text}} })
	if err != nil {
		return nil, err
	}
	ms.arr.sent(s.ID, i, t0)
	return s, nil
}

// postArrivals records, per post, when each member stored it (OnRecord).
type postArrivals struct {
	mu    sync.Mutex
	posts map[record.ID]*postArrival
	wait  map[record.ID]map[int]chan struct{}
}

type postArrival struct {
	from int
	t0   time.Time
	at   map[int]time.Duration
}

func newPostArrivals() *postArrivals {
	return &postArrivals{posts: map[record.ID]*postArrival{}, wait: map[record.ID]map[int]chan struct{}{}}
}

func (a *postArrivals) sent(id record.ID, from int, t0 time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.posts[id]
	if p == nil {
		p = &postArrival{at: map[int]time.Duration{}}
		a.posts[id] = p
	}
	p.from, p.t0 = from, t0
	// Arrivals marked before sent (the record can come back before Append
	// returns) were timed from the zero time: drop them.
	for i := range p.at {
		p.at[i] = 0
	}
}

func (a *postArrivals) mark(id record.ID, i int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.posts[id]
	if p == nil {
		// Profiles and posts not sent by the bench are not tracked;
		// a post may still arrive before its sent: keep it.
		p = &postArrival{from: -1, at: map[int]time.Duration{}}
		a.posts[id] = p
	}
	if _, ok := p.at[i]; !ok {
		if p.t0.IsZero() {
			p.at[i] = 0
		} else {
			p.at[i] = time.Since(p.t0)
		}
	}
	if ch, ok := a.wait[id][i]; ok {
		close(ch)
		delete(a.wait[id], i)
	}
}

// await returns a channel closed when member i has stored id.
func (a *postArrivals) await(id record.ID, i int) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := make(chan struct{})
	if p := a.posts[id]; p != nil {
		if _, ok := p.at[i]; ok {
			close(ch)
			return ch
		}
	}
	if a.wait[id] == nil {
		a.wait[id] = map[int]chan struct{}{}
	}
	a.wait[id][i] = ch
	return ch
}

// delivery summarizes the posts in ids: how many (post, member) pairs
// arrived out of those possible, and the arrival times.
func (a *postArrivals) delivery(ids []record.ID, members int) (got, want int, ds []time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		p := a.posts[id]
		want += members - 1
		if p == nil {
			continue
		}
		for i, d := range p.at {
			if i == p.from {
				continue
			}
			got++
			ds = append(ds, d)
		}
	}
	return got, want, ds
}
