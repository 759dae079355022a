package mesh

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	lrecord "github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/porchlight-mesh/porchlight/store"
)

// PeersProtocol is the address-book exchange (see doc.go).
const PeersProtocol = "/porchlight/peers/1"

// Address-book limits.
const (
	// MaxAddrBookEntries bounds the persisted address book.
	MaxAddrBookEntries = 2000
	// MaxPeerRecordSize bounds one marshaled signed peer record.
	MaxPeerRecordSize = 4 << 10
	// MaxPeersPerAnswer bounds the records of one PeersProtocol answer.
	MaxPeersPerAnswer = 64
	// maxPeersAnswerBytes bounds one answer on the wire.
	maxPeersAnswerBytes = MaxPeersPerAnswer * (MaxPeerRecordSize + binary.MaxVarintLen64)
	// AddrBookMaxAge: an entry whose peer has not been seen connected (nor
	// sent a newer record) for this long is dropped.
	AddrBookMaxAge = 30 * 24 * time.Hour
)

// Address-book timings.
const (
	addrBookEvery   = 5 * time.Second  // record neighbors, age out, dial a few
	peersAskEvery   = 10 * time.Minute // a member neighbor is asked again
	anchorAskEvery  = peersServeEvery  // an anchor is asked again, while members of the book are not connected (doubling while it brings nothing new)
	peersServeEvery = 10 * time.Second // one answer per requester per this
	peersTimeout    = 10 * time.Second // one exchange, and one dial
	addrBookDials   = 3                // dials at once
	addrBookWant    = 32               // neighbors beyond which the book is not dialled
	addrBookTTL     = time.Hour        // of learned addresses in the host's peerstore
	seenEvery       = time.Hour        // a connected neighbor's last-seen is written at most this often
	addrBookHeader  = 16               // value: seen (unix s, 8) | seq (8) | envelope
	maxPeersServed  = 4096             // bound of the per-requester rate-limit map

	// addrBookRedialMin and addrBookRedialMax bound the delay before a
	// member that failed a dial is dialled again (doubling). The book
	// holds members only, and it is how two halves of a street heal after
	// a partition: with mDNS's 10-minute cap, 280 of 282 pairs across a
	// 10-minute cut of 100 simulated homes stayed apart up to 10 minutes
	// after it healed (docs/benchmarks.md, "Scale simulation").
	addrBookRedialMin = 15 * time.Second
	addrBookRedialMax = time.Minute
)

// AddrBookEntry is one neighbor in the address book.
type AddrBookEntry struct {
	ID peer.ID
	// Seq is the sequence number of its signed peer record.
	Seq uint64
	// Seen is when it was last seen connected, or when a newer record of
	// it arrived.
	Seen  time.Time
	Addrs []ma.Multiaddr
}

type abMeta struct {
	seq  uint64
	seen time.Time
}

// addrBook keeps member neighbors' latest signed peer records (table
// store.AddrBook), redials them and exchanges them with member neighbors.
type addrBook struct {
	m        *Mesh
	identify event.Subscription // closed by watchIdentify
	kick     chan peer.ID
	backoff  *dialBackoff

	mu    sync.Mutex
	meta  map[peer.ID]abMeta
	asked map[peer.ID]time.Time // when each neighbor was asked last
	// anchorEvery: how often each anchor is asked now (askAnchors).
	anchorEvery map[peer.ID]time.Duration
	// refused: a record was refused because its peer is not a member as
	// far as this node knows; recheck: the roster grew since, so the
	// anchors are asked again (a home that started with a young roster
	// refused its neighbors' records and would never ask again).
	refused, recheck bool
	served           map[peer.ID]time.Time // when each requester was answered last
}

func newAddrBook(m *Mesh) (*addrBook, error) {
	// Subscribed before anyone connects: identify's records are kept
	// nowhere else.
	sub, err := m.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted), eventbus.BufSize(64))
	if err != nil {
		return nil, fmt.Errorf("address book: subscribe to identify: %w", err)
	}
	b := &addrBook{
		m:           m,
		identify:    sub,
		kick:        make(chan peer.ID, 64),
		backoff:     newDialBackoff(m.cfg.Now, addrBookRedialMin, addrBookRedialMax),
		meta:        map[peer.ID]abMeta{},
		asked:       map[peer.ID]time.Time{},
		anchorEvery: map[peer.ID]time.Duration{},
		served:      map[peer.ID]time.Time{},
	}
	if err := b.load(); err != nil {
		sub.Close()
		return nil, fmt.Errorf("address book: load: %w", err)
	}
	return b, nil
}

// poke asks the address book to record p and ask it for records, if p is
// a member neighbor; it never blocks (the periodic round catches up).
func (b *addrBook) poke(p peer.ID) {
	select {
	case b.kick <- p:
	default:
	}
}

// disconnected forgets when p asked and was asked: a neighbor that
// reconnects (a home that restarted, maybe behind a new address) asks and
// is asked at once, within its handshake's cost.
func (b *addrBook) disconnected(p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.served, p)
	delete(b.asked, p)
	delete(b.anchorEvery, p)
}

// load reads the table's headers.
func (b *addrBook) load() error {
	return b.m.cfg.Store.View(func(tx *store.Txn) error {
		return tx.Scan(store.AddrBook, nil, store.ScanOptions{}, func(it store.Item) error {
			p, err := peer.IDFromBytes(it.Key())
			if err != nil {
				return nil // not ours to judge; aged out never, harmless
			}
			v, err := it.Value()
			if err != nil {
				return err
			}
			if len(v) < addrBookHeader {
				return nil
			}
			b.meta[p] = abMeta{seen: time.Unix(int64(binary.BigEndian.Uint64(v)), 0), seq: binary.BigEndian.Uint64(v[8:])}
			return nil
		})
	})
}

// put stores a verified record of p, when it is newer than the one held
// or the held one's last-seen is older than seenEvery. A full book takes a
// new entry only for a connected neighbor (connected), by dropping its
// least recently seen entry if older: records neighbors send cannot push
// out the homes this node has seen (under the open policy anyone can sign
// records of members).
// unchanged reports whether put would keep p's entry as it is: the book
// holds p's record of this seq, seen within seenEvery.
func (b *addrBook) unchanged(p peer.ID, seq uint64, seen time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, had := b.meta[p]
	return had && seq == old.seq && seen.Sub(old.seen) < seenEvery
}

func (b *addrBook) put(p peer.ID, raw []byte, seq uint64, seen time.Time, connected bool) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, had := b.meta[p]
	if had && (seq < old.seq || seq == old.seq && seen.Sub(old.seen) < seenEvery) {
		return false, nil
	}
	var evict peer.ID
	if !had && len(b.meta) >= MaxAddrBookEntries {
		if !connected {
			return false, nil
		}
		var at time.Time
		for q, e := range b.meta {
			if evict == "" || e.seen.Before(at) {
				evict, at = q, e.seen
			}
		}
		if !at.Before(seen) {
			return false, nil
		}
	}
	v := make([]byte, addrBookHeader, addrBookHeader+len(raw))
	binary.BigEndian.PutUint64(v, uint64(seen.Unix()))
	binary.BigEndian.PutUint64(v[8:], seq)
	v = append(v, raw...)
	err := b.m.cfg.Store.Update(func(tx *store.Txn) error {
		if evict != "" {
			if err := tx.Delete(store.AddrBook, []byte(evict)); err != nil {
				return err
			}
		}
		return tx.Put(store.AddrBook, []byte(p), v)
	})
	if err != nil {
		return false, fmt.Errorf("address book: store %s: %w", p, err)
	}
	if evict != "" {
		delete(b.meta, evict)
	}
	b.meta[p] = abMeta{seq: seq, seen: seen}
	return true, nil
}

// raw returns the stored record of p.
func (b *addrBook) raw(p peer.ID) ([]byte, error) {
	v, err := b.m.cfg.Store.Get(store.AddrBook, []byte(p))
	if err != nil {
		return nil, err
	}
	if len(v) < addrBookHeader {
		return nil, errors.New("address book: short entry")
	}
	return v[addrBookHeader:], nil
}

// errPeerRecord is wrapped by every refusal of openPeerRecord.
var errPeerRecord = errors.New("refused peer record")

// openPeerRecord verifies a marshaled signed peer record: its size, its
// envelope's signature, and that it is signed by the peer it names.
func openPeerRecord(raw []byte) (*lrecord.Envelope, *peer.PeerRecord, error) {
	if len(raw) > MaxPeerRecordSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, over %d", errPeerRecord, len(raw), MaxPeerRecordSize)
	}
	env, rec, err := lrecord.ConsumeEnvelope(raw, peer.PeerRecordEnvelopeDomain)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errPeerRecord, err)
	}
	pr, ok := rec.(*peer.PeerRecord)
	if !ok {
		return nil, nil, fmt.Errorf("%w: not a peer record", errPeerRecord)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signer: %w", errPeerRecord, err)
	}
	if signer != pr.PeerID {
		return nil, nil, fmt.Errorf("%w: record of %s signed by %s", errPeerRecord, pr.PeerID, signer)
	}
	return env, pr, nil
}

// readPeerRecords decodes an answer of PeersProtocol: uvarint-length-
// prefixed records up to EOF, at most MaxPeersPerAnswer, each at most
// MaxPeerRecordSize. What came before a fault is returned with it.
func readPeerRecords(r io.Reader) ([][]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxPeersAnswerBytes))
	var out [][]byte
	for {
		n, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("peers answer: length: %w", err)
		}
		if n == 0 || n > MaxPeerRecordSize {
			return out, fmt.Errorf("peers answer: record of %d bytes (at most %d)", n, MaxPeerRecordSize)
		}
		if len(out) == MaxPeersPerAnswer {
			return out, fmt.Errorf("peers answer: more than %d records", MaxPeersPerAnswer)
		}
		raw := make([]byte, n)
		if _, err := io.ReadFull(br, raw); err != nil {
			return out, fmt.Errorf("peers answer: record: %w", err)
		}
		out = append(out, raw)
	}
}

// writePeerRecords encodes an answer (see readPeerRecords).
func writePeerRecords(w io.Writer, raws [][]byte) error {
	bw := bufio.NewWriter(w)
	var l [binary.MaxVarintLen64]byte
	for _, raw := range raws {
		if _, err := bw.Write(l[:binary.PutUvarint(l[:], uint64(len(raw)))]); err != nil {
			return err
		}
		if _, err := bw.Write(raw); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// record stores the signed peer record identify gave for p (see
// identified), a member neighbor.
func (b *addrBook) record(p peer.ID) {
	if p == b.m.self || b.m.peers.standing(p) != Member || !b.m.enter() {
		return
	}
	defer b.m.leave()
	cab, ok := peerstore.GetCertifiedAddrBook(b.m.host.Peerstore())
	if !ok {
		return
	}
	env := cab.GetPeerRecord(p)
	if env == nil {
		return
	}
	// The certified address book verified the envelope when it took it;
	// its record is cached. The same record seen again within seenEvery
	// changes nothing (put), so it is not marshaled and verified again:
	// an anchor records its hundreds of member neighbors every
	// addrBookEvery.
	if rec, err := env.Record(); err == nil {
		if pr, ok := rec.(*peer.PeerRecord); ok && b.unchanged(p, pr.Seq, b.m.cfg.Now()) {
			return
		}
	}
	raw, err := env.Marshal()
	if err != nil {
		return
	}
	_, pr, err := openPeerRecord(raw)
	if err != nil || pr.PeerID != p {
		b.m.cfg.Logger.Debug("neighbor's own peer record not kept", "peer", p, "err", err)
		return
	}
	if _, err := b.put(p, raw, pr.Seq, b.m.cfg.Now(), true); err != nil {
		b.m.cfg.Logger.Warn("address book", "err", err)
	}
}

// identified keeps the signed peer record identify received in the
// host's certified address book (identify itself keeps only the
// addresses), then records it if the peer is a member neighbor already;
// otherwise the handshake's poke does.
func (b *addrBook) identified(ev event.EvtPeerIdentificationCompleted) {
	if ev.SignedPeerRecord == nil {
		return
	}
	if cab, ok := peerstore.GetCertifiedAddrBook(b.m.host.Peerstore()); ok {
		if _, err := cab.ConsumePeerRecord(ev.SignedPeerRecord, addrBookTTL); err != nil {
			b.m.cfg.Logger.Debug("neighbor's peer record refused", "peer", ev.Peer, "err", err)
			return
		}
	}
	b.record(ev.Peer)
}

// learn takes a record a member neighbor sent: kept (and its addresses
// given to the host) if valid, of a member of this node's roster, and
// newer than the one held. It reports whether it was kept.
func (b *addrBook) learn(raw []byte) (peer.ID, error) {
	env, pr, err := openPeerRecord(raw)
	if err != nil {
		return "", err
	}
	p := pr.PeerID
	if p == b.m.self {
		return "", nil
	}
	if st := b.m.standing(p); st != Member {
		b.mu.Lock()
		b.refused = true
		b.mu.Unlock()
		return "", fmt.Errorf("%w: %s is not a member (%s)", errPeerRecord, p, st)
	}
	b.mu.Lock()
	old, had := b.meta[p]
	b.mu.Unlock()
	if had && pr.Seq <= old.seq {
		return "", nil // not news: its last-seen stays (no relay keeps a dead peer fresh)
	}
	kept, err := b.put(p, raw, pr.Seq, b.m.cfg.Now(), false)
	if err != nil || !kept {
		return "", err
	}
	// New addresses deserve a dial now, whatever the old ones earned: a
	// home that restarted behind a new address is found again at once.
	b.backoff.succeeded(p, nil)
	if cab, ok := peerstore.GetCertifiedAddrBook(b.m.host.Peerstore()); ok {
		_, _ = cab.ConsumePeerRecord(env, addrBookTTL)
	}
	return p, nil
}

// serve answers a member neighbor with the records of the members in the
// book, most recently seen first; anyone else, or a neighbor asking more
// than once per peersServeEvery, gets a reset stream.
func (b *addrBook) serve(s network.Stream) {
	p := s.Conn().RemotePeer()
	if !b.exchange() || b.m.peers.standing(p) != Member || b.m.standing(p) != Member || !b.allowServe(p) || !b.m.enter() {
		_ = s.Reset()
		return
	}
	defer b.m.leave()
	_ = s.SetDeadline(time.Now().Add(peersTimeout))
	type cand struct {
		id   peer.ID
		seen time.Time
	}
	var cands []cand
	b.mu.Lock()
	for q, e := range b.meta {
		if q != p && q != b.m.self {
			cands = append(cands, cand{q, e.seen})
		}
	}
	b.mu.Unlock()
	sort.Slice(cands, func(i, j int) bool { return cands[i].seen.After(cands[j].seen) })
	var raws [][]byte
	for _, c := range cands {
		if len(raws) == MaxPeersPerAnswer {
			break
		}
		if b.m.standing(c.id) != Member || b.aged(c.seen) {
			continue
		}
		if raw, err := b.raw(c.id); err == nil {
			raws = append(raws, raw)
		}
	}
	if err := writePeerRecords(s, raws); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

func (b *addrBook) allowServe(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.m.cfg.Now()
	if at, ok := b.served[p]; ok && now.Sub(at) < peersServeEvery && !now.Before(at) {
		return false
	}
	if len(b.served) >= maxPeersServed {
		for q, at := range b.served {
			if now.Sub(at) >= peersServeEvery {
				delete(b.served, q)
			}
		}
		if len(b.served) >= maxPeersServed {
			return false
		}
	}
	b.served[p] = now
	return true
}

func (b *addrBook) aged(seen time.Time) bool {
	return b.m.cfg.Now().Sub(seen) > AddrBookMaxAge
}

// exchange reports whether this node swaps records with its members: not
// under the open policy (no Membership), where any neighbor could hand it
// records pointing anywhere and it would dial them; an open neighborhood
// stays on its LAN (mDNS) and static peers. It still keeps and redials
// the records of neighbors it was connected to itself.
func (b *addrBook) exchange() bool {
	return !b.m.cfg.NoPeerExchange && b.m.cfg.Membership != nil
}

// ask fetches a member neighbor's records, if not asked within every,
// and learns them. It reports whether it asked, and whether the answer
// brought a new record.
func (b *addrBook) ask(ctx context.Context, p peer.ID, every time.Duration) (asked, news bool) {
	if !b.exchange() || b.m.peers.standing(p) != Member {
		return false, false
	}
	now := b.m.cfg.Now()
	b.mu.Lock()
	at, ok := b.asked[p]
	if ok && now.Sub(at) < every && !now.Before(at) {
		b.mu.Unlock()
		return false, false
	}
	b.asked[p] = now
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, peersTimeout)
	defer cancel()
	// A neighbor reached by relay only is asked over the relay: its
	// records may be what gets this node a direct path.
	s, err := b.m.host.NewStream(network.WithNoDial(network.WithAllowLimitedConn(ctx, "peers"), "peers"), p, PeersProtocol)
	if err != nil {
		b.m.cfg.Logger.Debug("ask neighbor for peers", "peer", p, "err", err)
		return true, false
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(peersTimeout))
	_ = s.CloseWrite()
	raws, err := readPeerRecords(s)
	if err != nil {
		b.m.cfg.Logger.Info("neighbor's peers answer cut short", "peer", p, "err", err)
	}
	if !b.m.enter() {
		return true, false
	}
	defer b.m.leave()
	for _, raw := range raws {
		q, err := b.learn(raw)
		if err != nil {
			b.m.cfg.Logger.Info("peer record from a neighbor refused", "peer", p, "err", err)
		}
		news = news || q != ""
	}
	if news {
		b.dial(ctx)
	}
	return true, news
}

// watchIdentify takes the signed peer records identify receives. It runs
// apart from run, whose asks and dials may take seconds: the event bus
// blocks identify while a subscriber's buffer is full.
func (b *addrBook) watchIdentify(ctx context.Context) error {
	defer b.identify.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-b.identify.Out():
			if ev, ok := e.(event.EvtPeerIdentificationCompleted); ok {
				b.identified(ev)
			}
		}
	}
}

// run records member neighbors, asks them for their records, ages entries
// out and keeps a few members of the book dialled.
func (b *addrBook) run(ctx context.Context) error {
	t := time.NewTicker(addrBookEvery)
	defer t.Stop()
	b.round(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-b.kick:
			b.record(p)
			b.ask(ctx, p, peersAskEvery)
		case <-t.C:
			b.round(ctx)
		}
	}
}

func (b *addrBook) round(ctx context.Context) {
	for p, st := range b.m.peers.standings() {
		if st == Member {
			b.record(p)
		}
	}
	b.ageOut()
	b.dial(ctx)
	b.askAnchors(ctx)
}

// askAnchors is the rendezvous: while members of the book are not
// connected, every connected anchor (a member neighbor that runs the
// relay service) is asked for its records, every anchorAskEvery at first
// and half as often after each answer that brought nothing new, down to
// peersAskEvery (a home that moved away for good is missed for 30 days,
// and the anchor answers every member). An anchor sees every home that
// connects to it, so homes whose addresses all changed (a power cut, a
// new router) find each other again within a minute.
func (b *addrBook) askAnchors(ctx context.Context) {
	if !b.exchange() || !b.missing() {
		return
	}

	for p, st := range b.m.peers.standings() {
		if st != Member || !b.m.runsRelay(p) {
			continue
		}
		b.mu.Lock()
		every := b.anchorEvery[p]
		b.mu.Unlock()
		if every == 0 {
			every = anchorAskEvery
		}
		asked, news := b.ask(ctx, p, every)
		if !asked {
			continue
		}
		b.mu.Lock()
		switch {
		case news:
			b.recheck = false
			delete(b.anchorEvery, p)
		default:
			if len(b.anchorEvery) < maxPeersServed {
				b.anchorEvery[p] = min(2*every, peersAskEvery)
			}
		}
		b.mu.Unlock()
	}
}

// rosterGrew is called when a membership document was added: records
// refused before may be members' now, so the anchors are asked again at
// once.
func (b *addrBook) rosterGrew() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refused {
		b.refused, b.recheck = false, true
		clear(b.anchorEvery)
		clear(b.asked)
	}
}

// missing reports whether a member of the book is not connected, or the
// roster grew since a record was refused.
func (b *addrBook) missing() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.recheck {
		return true
	}
	for p, e := range b.meta {
		if p != b.m.self && !b.aged(e.seen) && !b.m.connected(p) {
			return true
		}
	}
	return false
}

// ageOut drops entries not seen for AddrBookMaxAge.
func (b *addrBook) ageOut() {
	if !b.m.enter() {
		return
	}
	defer b.m.leave()
	b.mu.Lock()
	defer b.mu.Unlock()
	for p, e := range b.meta {
		if !b.aged(e.seen) {
			continue
		}
		if err := b.m.cfg.Store.Delete(store.AddrBook, []byte(p)); err != nil {
			b.m.cfg.Logger.Warn("address book: age out", "peer", p, "err", err)
			continue
		}
		delete(b.meta, p)
	}
}

// dial connects to up to addrBookDials members of the book this node is
// not connected to, most recently seen first, while it has fewer than
// addrBookWant neighbors; a failed dial backs off (addrBookRedialMin
// doubling to addrBookRedialMax).
func (b *addrBook) dial(ctx context.Context) {
	if b.m.cfg.NoPeerExchange || len(b.m.peers.list()) >= addrBookWant || !b.m.enter() {
		return
	}
	type cand struct {
		id   peer.ID
		seen time.Time
	}
	var cands []cand
	b.mu.Lock()
	for p, e := range b.meta {
		if p != b.m.self && !b.aged(e.seen) && b.m.host.Network().Connectedness(p) != network.Connected &&
			b.backoff.allowed(peerKey(p)) && b.m.standing(p) == Member {
			cands = append(cands, cand{p, e.seen})
		}
	}
	b.mu.Unlock()
	sort.Slice(cands, func(i, j int) bool { return cands[i].seen.After(cands[j].seen) })
	cab, _ := peerstore.GetCertifiedAddrBook(b.m.host.Peerstore())
	var infos []peer.AddrInfo
	for _, c := range cands {
		if len(infos) == addrBookDials {
			break
		}
		raw, err := b.raw(c.id)
		if err != nil {
			continue
		}
		env, pr, err := openPeerRecord(raw)
		if err != nil {
			continue
		}
		if cab != nil {
			_, _ = cab.ConsumePeerRecord(env, addrBookTTL)
		}
		addrs := pr.Addrs
		if b.m.host.Network().Connectedness(c.id) == network.Limited {
			// Reached by relay already: only a direct address is news.
			addrs = slices.DeleteFunc(slices.Clone(addrs), isCircuit)
			if len(addrs) == 0 {
				continue
			}
		}
		infos = append(infos, peer.AddrInfo{ID: c.id, Addrs: addrs})
	}
	b.m.leave()
	var wg sync.WaitGroup
	for _, ai := range infos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, peersTimeout)
			defer cancel()
			if sw, ok := b.m.host.Network().(*swarm.Swarm); ok {
				// The book's own backoff (at most addrBookRedialMax)
				// decides when a member is dialled again, not the
				// swarm's (up to 5 minutes, grown while a partition
				// kept every dial failing).
				sw.Backoff().Clear(ai.ID)
			}
			if err := b.m.host.Connect(dctx, ai); err != nil {
				if errors.Is(err, swarm.ErrDialBackoff) {
					// Refused without a try (a dial of another part
					// of the node failed just now): not a failure of
					// the peer.
					return
				}
				b.backoff.failed(ai.ID, nil)
				b.m.cfg.Logger.Debug("address book: neighbor unreachable", "peer", ai.ID, "err", err)
				return
			}
			b.backoff.succeeded(ai.ID, nil)
		}()
	}
	wg.Wait()
}

// AddressBook returns the address book, most recently seen first.
func (m *Mesh) AddressBook() []AddrBookEntry {
	b := m.abook
	b.mu.Lock()
	out := make([]AddrBookEntry, 0, len(b.meta))
	for p, e := range b.meta {
		out = append(out, AddrBookEntry{ID: p, Seq: e.seq, Seen: e.seen})
	}
	b.mu.Unlock()
	for i := range out {
		if raw, err := b.raw(out[i].ID); err == nil {
			if _, pr, err := openPeerRecord(raw); err == nil {
				out[i].Addrs = pr.Addrs
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seen.After(out[j].Seen) })
	return out
}
