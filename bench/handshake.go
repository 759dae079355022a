package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// targetHandshake is issue 13's bound on a handshake with a membership
// proof, on loopback.
const targetHandshake = 50 * time.Millisecond

// handshakeDepth is how many invites separate the joiner from the founder:
// founder → b → c → joiner, a street that grew by word of mouth.
const handshakeDepth = 3

// runHandshake measures the neighborhood handshake of two fresh meshes on
// 127.0.0.1, from the joiner's Connect until each side counts the other as
// a neighbor (IsNeighbor), in a chartered neighborhood (the joiner proves
// its membership with its admission chain; the other side has never seen
// it) and, as the baseline, in an open one (no proof), in alternating
// turns.
func runHandshake(ctx context.Context, e *env) (*section, error) {
	chain, err := newInviteChain(e, handshakeDepth)
	if err != nil {
		return nil, err
	}
	n := e.p.handshakes
	progress("%d handshakes of each kind, alternating: a member with a proof of %d documents (admitted %d invites from the founder) vs an open neighborhood",
		n, len(chain.proof), handshakeDepth)
	var proofs, open []time.Duration
	var stalls []string
	for i := range 2*n + 2 { // the first turn of each kind warms up and is not counted
		chartered := i%2 == 0
		d, err := handshakeOnce(ctx, e, chain, chartered)
		if errors.Is(err, errStall) {
			stalls = append(stalls, fmt.Sprintf("turn %d (membership proof: %v): %v", i, chartered, err))
			progress("%s", stalls[len(stalls)-1])
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("handshake %d (chartered %v): %w", i, chartered, err)
		}
		switch {
		case i < 2:
		case chartered:
			proofs = append(proofs, d)
		default:
			open = append(open, d)
		}
	}
	p, o := summarize(proofs), summarize(open)
	s := &section{title: "Membership handshake"}
	s.add(row{
		metric:   fmt.Sprintf("Connect → IsNeighbor on both sides, member with a proof of %d documents, p99", len(chain.proof)),
		result:   ms(p.p99),
		baseline: "open neighborhood (no proof): " + ms(o.p99),
		ratio:    ratio(float64(p.p99), float64(o.p99)),
		target:   "≤ 50 ms",
		met:      met(p.p99 <= targetHandshake),
	})
	if len(stalls) > 0 {
		s.add(row{metric: fmt.Sprintf("turns with no handshake within %s (left out of the figures)", stallAfter), result: fmt.Sprint(len(stalls)), target: "0", met: met(false)})
	}
	s.printf("Two fresh meshes per turn (`mesh.New`: libp2p TCP on 127.0.0.1, gossipsub, Badger on disk), one the founder of a chartered neighborhood whose store holds the charter only, ")
	s.printf("the other a member admitted %d invites away from the founder (founder → b → c → member, each admission signed by the inviter), whose handshake proof is the charter and the %d admissions (%d documents, %d bytes); ",
		handshakeDepth, handshakeDepth, len(chain.proof), chain.proofBytes())
	s.printf("the founder has never seen the admissions, so it verifies every document and rebuilds its roster during the handshake. ")
	s.printf("The membership is `member.Service` behind `mesh.Config.Membership`, as the node wires it. ")
	s.printf("Baseline: the same two keys and meshes in an open neighborhood (no `Membership`, no proof). ")
	s.printf("Time is from the member's `Connect` until both sides' `IsNeighbor` hold (watched through `OnPeers`): the TCP dial, the security and muxer handshakes, and the first `/porchlight/sync/2` round each way. ")
	s.printf("Turns alternate between the two kinds; the first of each kind is a warm-up. Setup and teardown of the meshes are outside the timed part.\n\n")
	distTable(&s.body, []string{"with a membership proof", "open neighborhood"}, []dist{p, o})
	s.printf("Ratios: p99 %s, median %s.\n\n", ratio(float64(p.p99), float64(o.p99)), ratio(float64(p.median), float64(o.median)))
	if len(stalls) > 0 {
		s.printf("Turns in which neither side counted the other as a neighbor within %s (left out of the table above):\n\n", stallAfter)
		for _, st := range stalls {
			s.printf("- %s\n", st)
		}
		s.printf("\n")
	}
	return s, nil
}

// inviteChain is a chartered neighborhood whose joiner was admitted
// depth invites away from the founder.
type inviteChain struct {
	charter       []byte
	charterID     record.ID
	neighborhood  string
	founder, last crypto.PrivKey
	proof         [][]byte // the joiner's handshake proof
}

func (c *inviteChain) proofBytes() int {
	n := 0
	for _, d := range c.proof {
		n += len(d)
	}
	return n
}

// newInviteChain founds a neighborhood, then has each member invite and
// admit the next, depth times, with member.Service on stores of their own
// (documents an hour old, one second apart, so that they apply in order).
func newInviteChain(e *env, depth int) (*inviteChain, error) {
	t := time.Now().Add(-time.Hour)
	now := func() time.Time { t = t.Add(time.Second); return t }
	founder, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	raw, id, err := member.NewCharter(founder, "Bench St", member.InviteByAny, nil, "", now())
	if err != nil {
		return nil, err
	}
	c := &inviteChain{charter: raw, charterID: id, neighborhood: member.NeighborhoodID(id), founder: founder}
	docs := [][]byte{raw} // what a new member needs: the charter and the admissions so far
	key := founder
	for range depth {
		svc, closeSvc, err := c.service(e, key, docs, now)
		if err != nil {
			return nil, err
		}
		next, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			closeSvc()
			return nil, err
		}
		nextID, _ := peer.IDFromPrivateKey(next)
		inv, err := svc.CreateInvite(72*time.Hour, 1, nil)
		if err == nil {
			var adm *member.Doc
			if adm, err = svc.Admit(inv.Doc, inv.Claim(nextID), nextID, "home "+nextID.ShortString()); err == nil {
				docs = append(docs, adm.Raw)
			}
		}
		closeSvc()
		if err != nil {
			return nil, err
		}
		key = next
	}
	c.last = key
	svc, closeSvc, err := c.service(e, key, docs, now)
	if err != nil {
		return nil, err
	}
	defer closeSvc()
	self, _ := peer.IDFromPrivateKey(key)
	if !svc.IsMember(self) {
		return nil, errors.New("the joiner at the end of the invite chain is not a member")
	}
	c.proof = svc.Proof()
	if len(c.proof) != depth+1 {
		return nil, fmt.Errorf("the joiner's proof has %d documents, want the charter and %d admissions", len(c.proof), depth)
	}
	return c, nil
}

// service opens a member.Service for key on a new store holding docs.
func (c *inviteChain) service(e *env, key crypto.PrivKey, docs [][]byte, now func() time.Time) (*member.Service, func(), error) {
	db, dir, err := c.openStore(e, c.neighborhood)
	if err != nil {
		return nil, nil, err
	}
	closeAll := func() { db.Close(); os.RemoveAll(dir) }
	svc, err := member.New(member.Config{Store: db, Charter: c.charterID, Key: key, Now: now, Logger: e.log})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	for _, d := range docs {
		if _, err := svc.IngestDoc(d); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("ingest a document of the chain: %w", err)
		}
	}
	return svc, closeAll, nil
}

func (c *inviteChain) openStore(e *env, neighborhood string) (*store.DB, string, error) {
	dir, err := e.tempDir("handshake-")
	if err != nil {
		return nil, "", err
	}
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: neighborhood, Logger: e.log})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return db, dir, nil
}

// stallAfter is how long a turn waits for the handshake; errStall says it
// did not come.
const stallAfter = 10 * time.Second

var errStall = fmt.Errorf("no handshake within %s", stallAfter)

// handshakeOnce starts the founder's and the joiner's meshes (with their
// membership, or in an open neighborhood), times the handshake, and stops
// both.
func handshakeOnce(ctx context.Context, e *env, c *inviteChain, chartered bool) (time.Duration, error) {
	type side struct {
		m      *mesh.Mesh
		closer func()
	}
	peers := make(chan struct{}, 16)
	start := func(key crypto.PrivKey, docs [][]byte) (*side, error) {
		nb := "bench-open"
		if chartered {
			nb = c.neighborhood
		}
		db, dir, err := c.openStore(e, nb)
		if err != nil {
			return nil, err
		}
		cfg := mesh.Config{
			Key: key, Store: db, Name: "bench", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: e.log,
			OnPeers: func() {
				select {
				case peers <- struct{}{}:
				default:
				}
			},
		}
		if chartered {
			svc, err := member.New(member.Config{Store: db, Charter: c.charterID, Key: key, Logger: e.log})
			if err == nil {
				for _, d := range docs {
					if _, err = svc.IngestDoc(d); err != nil {
						break
					}
				}
			}
			if err != nil {
				db.Close()
				os.RemoveAll(dir)
				return nil, err
			}
			cfg.Membership = benchMembership{svc}
		}
		m, err := mesh.New(cfg)
		if err != nil {
			db.Close()
			os.RemoveAll(dir)
			return nil, err
		}
		return &side{m, func() { m.Close(); db.Close(); os.RemoveAll(dir) }}, nil
	}
	founder, err := start(c.founder, [][]byte{c.charter})
	if err != nil {
		return 0, err
	}
	defer founder.closer()
	joiner, err := start(c.last, c.proof)
	if err != nil {
		return 0, err
	}
	defer joiner.closer()
	fid, jid := founder.m.ID(), joiner.m.ID()
	ai := peer.AddrInfo{ID: fid, Addrs: founder.m.Host().Addrs()}

	cctx, cancel := context.WithTimeout(ctx, stallAfter)
	defer cancel()
	t0 := time.Now()
	if err := joiner.m.Connect(cctx, ai); err != nil {
		return 0, err
	}
	tick := time.NewTicker(time.Millisecond) // a fallback: OnPeers wakes this loop
	defer tick.Stop()
	for !(founder.m.IsNeighbor(jid) && joiner.m.IsNeighbor(fid)) {
		select {
		case <-peers:
		case <-tick.C:
		case <-cctx.Done():
			return 0, fmt.Errorf("%w (neighbors: founder→joiner %v, joiner→founder %v; connected %v/%v; sync rounds founder client ok %.0f error %.0f server ok %.0f refused %.0f, joiner client ok %.0f error %.0f server ok %.0f refused %.0f)",
				errStall, founder.m.IsNeighbor(jid), joiner.m.IsNeighbor(fid),
				founder.m.Host().Network().Connectedness(jid), joiner.m.Host().Network().Connectedness(fid),
				founder.m.SyncRounds("client", "ok"), founder.m.SyncRounds("client", "error"), founder.m.SyncRounds("server", "ok"), founder.m.SyncRounds("server", "refused"),
				joiner.m.SyncRounds("client", "ok"), joiner.m.SyncRounds("client", "error"), joiner.m.SyncRounds("server", "ok"), joiner.m.SyncRounds("server", "refused"))
		}
	}
	return time.Since(t0), nil
}

// benchMembership is the mesh's view of a member.Service, as package node
// wires it (no agencies here).
type benchMembership struct{ svc *member.Service }

func (b benchMembership) Owns(raw []byte) bool { return b.svc.Owns(raw) }

func (b benchMembership) IngestDoc(raw []byte) (bool, error) {
	added, err := b.svc.IngestDoc(raw)
	if errors.Is(err, member.ErrUnknown) {
		return false, fmt.Errorf("%w: %v", mesh.ErrHeld, err)
	}
	return added, err
}

func (b benchMembership) DocIDs() ([]record.ID, error) { return b.svc.DocIDs() }

func (b benchMembership) DocsNotIn(have map[record.ID]bool) ([][]byte, error) {
	return b.svc.DocsNotIn(have)
}

func (b benchMembership) Standing(p peer.ID) mesh.Standing {
	if b.svc.IsMember(p) {
		return mesh.Member
	}
	return mesh.Stranger
}

func (b benchMembership) Proof() [][]byte { return b.svc.Proof() }

func (benchMembership) Join(context.Context, peer.ID) error { return nil }
