package member

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/member/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// ErrUnknown is wrapped by IngestDoc's and CheckAuthor's errors when the
// author is not known to be a member yet (or a charter is not this
// neighborhood's): the document may become acceptable once more documents
// arrive, so it is held, not stored, and its sender is not to blame.
var ErrUnknown = errors.New("author not known to be a member")

// ErrFull is wrapped by IngestDoc's error when MaxDocs documents are
// stored.
var ErrFull = errors.New("membership documents at their limit")

// ErrNotAllowed is wrapped by the error of an action this node may not
// take (only stewards may remove members, ...); the error's text says
// which rule.
var ErrNotAllowed = errors.New("not allowed")

type notAllowed string

func (e notAllowed) Error() string        { return string(e) }
func (e notAllowed) Is(target error) bool { return target == ErrNotAllowed }

// Defaults.
const (
	// DefaultMaxDocs bounds the membership documents a node stores.
	DefaultMaxDocs = 20_000
	// MaxMemberDocs and MaxStewardDocs bound the documents of one author a
	// node stores (a steward's is judged when each arrives; the founder's
	// only by MaxDocs), so that no member can fill DefaultMaxDocs alone.
	MaxMemberDocs  = 100
	MaxStewardDocs = 1_000
	// MaxMemberRevocations bounds the invite revocations of an author that
	// is no steward (within MaxMemberDocs).
	MaxMemberRevocations = 20
	// DefaultInviteLife is an invite's life when CreateInvite is given 0.
	DefaultInviteLife = 72 * time.Hour
	// MaxProof bounds Proof's documents.
	MaxProof = 16
)

// Config configures New. Zero values mean the default.
type Config struct {
	// Store is the node's records database. Required.
	Store *store.DB
	// Charter is the ID of the neighborhood's charter. Required.
	Charter record.ID
	// Key is this node's key: it signs the documents this node makes.
	// Required.
	Key crypto.PrivKey
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// OnChange, if set, is called after the roster changes (not under any
	// lock of the Service's).
	OnChange func()
	// MaxDocs bounds the documents stored. Default DefaultMaxDocs.
	MaxDocs int
}

// Service keeps the membership documents of one neighborhood and the
// roster they make. It is safe for concurrent use.
type Service struct {
	cfg  Config
	db   *store.DB
	self peer.ID
	join joinLimits

	mu      sync.RWMutex
	charter *Doc
	known   map[record.ID]bool // every stored document, the charter too
	pending map[record.ID]bool // documents being written
	entries []entry            // every stored document but the charter, in order
	// byAuthor and revocations count the stored (and pending) documents
	// and invite revocations of each author.
	byAuthor    map[peer.ID]int
	revocations map[peer.ID]int
	r           *roster
	version     uint64 // counts the roster's changes
	proof       *proofCache
}

// New checks cfg, loads the stored documents and builds the roster.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("member: Store is required")
	case cfg.Charter.IsZero():
		return nil, errors.New("member: Charter is required")
	case cfg.Key == nil:
		return nil, errors.New("member: Key is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxDocs <= 0 {
		cfg.MaxDocs = DefaultMaxDocs
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("member: key: %w", err)
	}
	s := &Service{cfg: cfg, db: cfg.Store, self: self, known: map[record.ID]bool{}, pending: map[record.ID]bool{}, join: newJoinLimits(),
		byAuthor: map[peer.ID]int{}, revocations: map[peer.ID]int{}}
	raws, err := store.ScanAll(s.db, store.MemberDocs, nil, func(_, v []byte) ([]byte, error) { return v, nil })
	if err != nil {
		return nil, fmt.Errorf("member: load documents: %w", err)
	}
	for _, raw := range raws {
		d, err := decodeTrusted(raw)
		if err != nil {
			cfg.Logger.Warn("skip an undecodable stored membership document", "err", err)
			continue
		}
		s.known[d.ID] = true
		s.count(d, 1)
		if d.Payload.GetCharter() != nil {
			if d.ID == cfg.Charter {
				s.charter = d
			}
			continue
		}
		s.entries = append(s.entries, entryOf(d))
	}
	sort.Slice(s.entries, func(i, j int) bool { return s.entries[i].before(&s.entries[j]) })
	s.rebuild()
	return s, nil
}

// decodeTrusted decodes a document this node verified before storing it,
// without checking signatures again: a roster of thousands builds at start
// in a fraction of the time.
func decodeTrusted(raw []byte) (*Doc, error) {
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		return nil, err
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, err
	}
	m := new(pb.Doc)
	if err := proto.Unmarshal(env.RawPayload, m); err != nil {
		return nil, err
	}
	d := &Doc{Raw: raw, ID: record.IDOf(raw), Author: signer, Payload: m}
	if a := m.GetAdmission(); a != nil {
		if d.Invite, err = decodeTrusted(a.GetInvite()); err != nil {
			return nil, fmt.Errorf("admission's invite: %w", err)
		}
	}
	return d, nil
}

// rebuild computes the roster from the charter and every entry, in order.
// Callers hold mu (or own s alone).
func (s *Service) rebuild() {
	s.r, _ = build(s.charter, s.entries) // a skipped document stays stored
	s.version++
}

// Neighborhood is the neighborhood's ID ("" until the charter arrives).
func (s *Service) Neighborhood() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.r.nb
}

// Owns reports whether raw is a membership document, by its payload type.
func (s *Service) Owns(raw []byte) bool { return IsDoc(raw) }

// IngestDoc verifies and stores a membership document and applies it to
// the roster. added is false for a document already stored. A document is
// stored only if its author is (or, for a document dated before its
// author's removal, was) a member, and a charter only if it is the
// configured one; otherwise the error wraps ErrUnknown and nothing is
// stored. A document that breaks a rule is an *record.Invalid; one
// dated after its author's removal too (ReasonRemoved). Past MaxDocs the
// error wraps ErrFull.
func (s *Service) IngestDoc(raw []byte) (added bool, err error) {
	d, err := OpenDoc(raw, s.cfg.Now())
	if err != nil {
		return false, err
	}
	added, changed, err := s.add(d)
	if changed && s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
	return added, err
}

// add stores a verified document and applies it. changed reports whether
// the roster may have changed. The write to the database is made outside
// the lock, so that IsMember never waits for the disk.
func (s *Service) add(d *Doc) (added, changed bool, err error) {
	s.mu.Lock()
	if s.known[d.ID] || s.pending[d.ID] {
		s.mu.Unlock()
		return false, false, nil
	}
	if err := s.admissible(d); err != nil {
		s.mu.Unlock()
		return false, false, err
	}
	if n := len(s.known) + len(s.pending); n >= s.cfg.MaxDocs {
		s.mu.Unlock()
		return false, false, fmt.Errorf("store membership document %.12s: %d stored: %w", d.ID, n, ErrFull)
	}
	s.pending[d.ID] = true
	s.count(d, 1)
	s.mu.Unlock()

	err = s.db.Put(store.MemberDocs, d.ID[:], d.Raw)

	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, d.ID)
	if err != nil {
		s.count(d, -1)
		return false, false, fmt.Errorf("store membership document %.12s: %w", d.ID, err)
	}
	s.known[d.ID] = true
	if d.Payload.GetCharter() != nil {
		s.charter = d
		s.rebuild()
		return true, true, nil
	}
	e := entryOf(d)
	if (!s.r.hasLast || s.r.last.before(&e)) && !e.reduces() {
		s.entries = append(s.entries, e)
		if s.r.apply(&s.entries[len(s.entries)-1]) != nil {
			return true, false, nil
		}
		s.version++
		return true, true, nil
	}
	// Dated before documents already applied, it may change what they
	// did (a racing claim); a reduction may void some, and changes how
	// the others are decided: the roster is computed again.
	i := sort.Search(len(s.entries), func(i int) bool { return e.before(&s.entries[i]) })
	s.entries = append(s.entries, entry{})
	copy(s.entries[i+1:], s.entries[i:])
	s.entries[i] = e
	s.rebuild()
	return true, true, nil
}

// admissible applies the ingest policy. Callers hold mu.
func (s *Service) admissible(d *Doc) error {
	if d.Payload.GetCharter() != nil {
		if d.ID != s.cfg.Charter {
			return fmt.Errorf("charter %.12s is not this neighborhood's (%.12s): %w", d.ID, s.cfg.Charter, ErrUnknown)
		}
		return nil
	}
	if s.charter == nil {
		return fmt.Errorf("membership document %.12s before the charter: %w", d.ID, ErrUnknown)
	}
	if nb := d.Payload.GetNeighborhood(); nb != s.r.nb {
		return record.Invalidf(record.ReasonNeighborhood, "membership document for neighborhood %q, not %q", trunc(nb, 40), s.r.nb)
	}
	if d.Payload.GetInvite() != nil {
		return record.Invalidf(record.ReasonMalformed, "an invite travels only inside an admission")
	}
	m := s.r.members[d.Author]
	switch {
	case m == nil:
		return fmt.Errorf("membership document %.12s by %s: %w", d.ID, d.Author, ErrUnknown)
	case m.Removed && !d.Created().Before(m.RemovedAt) && !reduces(d):
		// A removal or unnaming is stored even so: it may void the removal
		// of its author (see build), and a node that refused it would
		// never learn so. The per-author cap bounds them.
		return record.Invalidf(ReasonRemoved, "%s was removed at %s", d.Author, m.RemovedAt.UTC().Format(time.RFC3339))
	}
	if d.Author == s.r.founder {
		return nil // the founder's node may admit a whole neighborhood
	}
	steward := s.r.isSteward(d.Author)
	who, limit := "member", MaxMemberDocs
	if steward {
		who, limit = "steward", MaxStewardDocs
	}
	if n := s.byAuthor[d.Author]; n >= limit {
		return record.Invalidf(ReasonAuthorCap, "%s has %d membership documents stored, the most a %s may have", d.Author, n, who)
	}
	if n := s.revocations[d.Author]; !steward && n >= MaxMemberRevocations && d.Payload.GetInviteRevocation() != nil {
		return record.Invalidf(ReasonAuthorCap, "%s has revoked %d invites, the most a member that is no steward may", d.Author, n)
	}
	return nil
}

// reduces reports whether d is a removal or an unnaming.
func reduces(d *Doc) bool {
	return d.Payload.GetRemoval() != nil || (d.Payload.GetSteward() != nil && !d.Payload.GetSteward().GetSteward())
}

// count adds d to the per-author counts. Callers hold mu.
func (s *Service) count(d *Doc, n int) {
	if d.Payload.GetCharter() != nil {
		return
	}
	s.byAuthor[d.Author] += n
	if d.Payload.GetInviteRevocation() != nil {
		s.revocations[d.Author] += n
	}
}

// DocIDs lists the stored documents.
func (s *Service) DocIDs() ([]record.ID, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]record.ID, 0, len(s.known))
	for id := range s.known {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	return ids, nil
}

// DocsNotIn returns the stored documents not in have, the charter first and
// the others in roster order, so that a receiver can ingest them one by one.
func (s *Service) DocsNotIn(have map[record.ID]bool) ([][]byte, error) {
	s.mu.RLock()
	var ids []record.ID
	if s.charter != nil && !have[s.charter.ID] {
		ids = append(ids, s.charter.ID)
	}
	for i := range s.entries {
		if !have[s.entries[i].id] {
			ids = append(ids, s.entries[i].id)
		}
	}
	s.mu.RUnlock()
	return s.raws(ids)
}

func (s *Service) raws(ids []record.ID) ([][]byte, error) {
	out := make([][]byte, 0, len(ids))
	err := s.db.View(func(tx *store.Txn) error {
		for _, id := range ids {
			raw, err := tx.Get(store.MemberDocs, id[:])
			if err != nil {
				return fmt.Errorf("membership document %.12s: %w", id, err)
			}
			out = append(out, raw)
		}
		return nil
	})
	return out, err
}

// Proof is what shows a neighbor this node belongs: the charter, then the
// documents that made this node a member and those that made its admitter
// and its inviter members (and, under a "stewards" charter, its inviter a
// steward), and so on up to the founders — at most MaxProof documents, in
// roster order, so that a node that has none of them ingests them one by
// one. Nil before the charter arrives; just the charter if this node is
// not a member.
func (s *Service) Proof() [][]byte {
	s.mu.RLock()
	cached, v := s.proof, s.version
	s.mu.RUnlock()
	if cached != nil && cached.version == v {
		return cached.docs
	}
	docs := s.proofOf(s.self, false)
	s.mu.Lock()
	if v == s.version && docs != nil {
		s.proof = &proofCache{version: v, docs: docs}
	}
	s.mu.Unlock()
	return docs
}

// proofCache is the last Proof, valid while the roster's version stays.
type proofCache struct {
	version uint64
	docs    [][]byte
}

// proofOf is the Proof of member self; without self's own admission if
// withoutOwn (what a joiner gets besides its admission).
func (s *Service) proofOf(self peer.ID, withoutOwn bool) [][]byte {
	s.mu.RLock()
	if s.charter == nil {
		s.mu.RUnlock()
		return nil
	}
	r := s.r
	ids := []record.ID{s.charter.ID}
	// Walk from self through the documents that made each home a member
	// (its admission: the admitter and the inviter) and, where a rule
	// needs it a steward (an inviter under a "stewards" charter, the author
	// of a Steward document), the one that named it steward.
	type link struct {
		p       peer.ID
		steward bool
	}
	var chain []entry
	seen := map[record.ID]bool{}
	var queue []link
	add := func(e entry) {
		if seen[e.id] || len(chain) >= MaxProof-1 {
			return
		}
		seen[e.id] = true
		chain = append(chain, e)
		queue = append(queue, link{e.author, e.kind == kindSteward})
		if e.inv != nil {
			queue = append(queue, link{e.inv.inviter, r.inviteBy == InviteByStewards})
		}
	}
	visited := map[link]bool{}
	for queue = []link{{self, false}}; len(queue) > 0 && len(chain) < MaxProof-1; {
		l := queue[0]
		queue = queue[1:]
		if visited[l] {
			continue
		}
		visited[l] = true
		if e, ok := r.admission[l.p]; ok { // the founder and the charter's stewards have none
			add(e)
		}
		if e, ok := r.stewardDoc[l.p]; ok && l.steward {
			add(e)
		}
	}
	own := r.admission[self].id
	s.mu.RUnlock()
	sort.Slice(chain, func(i, j int) bool { return chain[i].before(&chain[j]) })
	for _, e := range chain {
		if !withoutOwn || e.id != own {
			ids = append(ids, e.id)
		}
	}
	raws, err := s.raws(ids)
	if err != nil {
		s.cfg.Logger.Warn("membership proof", "err", err)
		return nil
	}
	return raws
}

// IsMember reports whether p is a current member.
func (s *Service) IsMember(p peer.ID) bool {
	s.mu.RLock()
	m := s.r.members[p]
	s.mu.RUnlock()
	return m != nil && !m.Removed
}

// CheckAuthor judges a record by p made at created: nil for a current
// member, and for a removed member's record made before its removal (it
// stays, marked by the caller); a *record.Invalid (ReasonRemoved) for one
// made at or after the removal; an error wrapping ErrUnknown if p is not
// known to be a member.
func (s *Service) CheckAuthor(p peer.ID, created time.Time) error {
	s.mu.RLock()
	m := s.r.members[p]
	var at time.Time
	if m != nil {
		at = m.RemovedAt
	}
	removed := m != nil && m.Removed
	s.mu.RUnlock()
	switch {
	case m == nil:
		return fmt.Errorf("author %s: %w", p, ErrUnknown)
	case removed && !created.Before(at):
		return record.Invalidf(ReasonRemoved, "author %s was removed from the neighborhood at %s", p, at.UTC().Format(time.RFC3339))
	}
	return nil
}

// Roster lists the members, current and removed, by joined time, then peer.
func (s *Service) Roster() []Member {
	s.mu.RLock()
	out := make([]Member, 0, len(s.r.members))
	for _, m := range s.r.members {
		out = append(out, *m)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Joined.Equal(out[j].Joined) {
			return out[i].Joined.Before(out[j].Joined)
		}
		return out[i].Peer < out[j].Peer
	})
	return out
}

// Self is this node's entry in the roster, if it has one.
func (s *Service) Self() (Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if m := s.r.members[s.self]; m != nil {
		return *m, true
	}
	return Member{}, false
}

// Charter is the neighborhood's charter, or nil until it arrives.
func (s *Service) Charter() *Doc {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.charter
}

// InviteInfo describes an invite this node made.
type InviteInfo struct {
	ID               string // hex
	Created, Expires time.Time
	Uses, Used       int
	Revoked          bool
}

// mayAct returns the roster with mu read-locked if this node is a current
// member (and a steward, if steward), else an error. The caller unlocks.
func (s *Service) mayAct(steward bool, denied string) (*roster, error) {
	s.mu.RLock()
	if s.charter == nil {
		s.mu.RUnlock()
		return nil, errors.New("the neighborhood's charter has not arrived yet: wait until this home reaches a member")
	}
	m := s.r.current(s.self)
	switch {
	case m == nil:
		s.mu.RUnlock()
		return nil, notAllowed("this home is not a member of the neighborhood (yet)")
	case steward && !m.Steward:
		s.mu.RUnlock()
		return nil, notAllowed(denied)
	}
	return s.r, nil
}

// CreateInvite makes an invite that admits up to uses homes (0: 1) until
// expires from now (0: DefaultInviteLife), naming addrs as members to
// reach. The invite is kept in table N, without its secret, which only the
// returned Invite holds.
func (s *Service) CreateInvite(expires time.Duration, uses int, addrs []ma.Multiaddr) (*Invite, error) {
	if expires == 0 {
		expires = DefaultInviteLife
	}
	if uses == 0 {
		uses = 1
	}
	if expires < time.Minute || expires > MaxInviteLife {
		return nil, fmt.Errorf("an invite must expire between 1 minute and %d days from now, not %s", MaxInviteLife/(24*time.Hour), expires)
	}
	if uses < 1 || uses > MaxUses {
		return nil, fmt.Errorf("an invite may be used 1 to %d times, not %d", MaxUses, uses)
	}
	r, err := s.mayAct(false, "")
	if err != nil {
		return nil, err
	}
	nb, charter, stewardsOnly, steward := r.nb, r.charterID, r.inviteBy == InviteByStewards, r.isSteward(s.self)
	s.mu.RUnlock()
	if stewardsOnly && !steward {
		return nil, notAllowed("only stewards may invite in this neighborhood")
	}
	pub, secret, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	d, err := seal(s.cfg.Key, nb, now, func(m *pb.Doc) {
		m.Body = &pb.Doc_Invite{Invite: &pb.Invite{Charter: charter[:], Key: pub, Expires: now.Add(expires).UnixMilli(), Uses: uint32(uses)}}
	})
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	info, err := proto.Marshal(&pb.InviteInfo{Invite: d.Raw})
	if err != nil {
		return nil, err
	}
	if err := s.db.Put(store.OwnInvites, d.ID[:], info); err != nil {
		return nil, fmt.Errorf("keep invite: %w", err)
	}
	return &Invite{Doc: d.Raw, ID: d.ID, Neighborhood: nb, Charter: charter, Inviter: s.self,
		Expires: time.UnixMilli(d.Payload.GetInvite().GetExpires()), Uses: uses, Secret: secret, Addrs: addrs}, nil
}

// ownInvites decodes table N.
func (s *Service) ownInvites() ([]*Doc, error) {
	return store.ScanAll(s.db, store.OwnInvites, nil, func(_, v []byte) (*Doc, error) {
		info := new(pb.InviteInfo)
		if err := proto.Unmarshal(v, info); err != nil {
			return nil, err
		}
		return decodeTrusted(info.GetInvite())
	})
}

// Invites lists the invites this node made, oldest first, with their uses
// so far.
func (s *Service) Invites() ([]InviteInfo, error) {
	docs, err := s.ownInvites()
	if err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	out := make([]InviteInfo, 0, len(docs))
	s.mu.RLock()
	for _, d := range docs {
		i := d.Payload.GetInvite()
		out = append(out, InviteInfo{ID: d.ID.String(), Created: d.Created(), Expires: time.UnixMilli(i.GetExpires()),
			Uses: int(i.GetUses()), Used: s.r.used[d.ID], Revoked: s.r.isRevoked(d.ID, d.Author)})
	}
	s.mu.RUnlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// RevokeInvite ends the remaining uses of an invite, named by its hex ID
// or a unique prefix of at least 8 hex digits: one this node made, or, for
// a steward, any invite (one not seen yet by its full ID). The returned
// document is stored; the caller publishes it.
func (s *Service) RevokeInvite(id string) (*Doc, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) < 8 || len(id) > 64 {
		return nil, fmt.Errorf("invite ID %q: give at least 8 of its 64 hex digits", trunc(id, 64))
	}
	if _, err := hex.DecodeString(id[:len(id)&^1]); err != nil {
		return nil, fmt.Errorf("invite ID %q is not hex", trunc(id, 64))
	}
	own, err := s.ownInvites()
	if err != nil {
		return nil, fmt.Errorf("revoke invite: %w", err)
	}
	r, err := s.mayAct(false, "")
	if err != nil {
		return nil, err
	}
	nb, steward := r.nb, r.isSteward(s.self)
	matches := map[record.ID]bool{}
	mine := map[record.ID]bool{}
	for _, d := range own {
		if strings.HasPrefix(d.ID.String(), id) {
			matches[d.ID], mine[d.ID] = true, true
		}
	}
	for i := range s.entries {
		if e := &s.entries[i]; e.kind == kindAdmission && strings.HasPrefix(e.invite.String(), id) {
			matches[e.invite] = true
		}
	}
	s.mu.RUnlock()
	var target record.ID
	switch len(matches) {
	case 0:
		full, err := record.ParseID(id)
		if err != nil {
			return nil, fmt.Errorf("no invite known with ID %s: give its full 64 hex digits", id)
		}
		target = full
	case 1:
		for m := range matches {
			target = m
		}
	default:
		return nil, fmt.Errorf("%d invites start with %s: give more of the ID", len(matches), id)
	}
	if !mine[target] && !steward {
		return nil, notAllowed("only the inviter or a steward may revoke an invite")
	}
	d, err := seal(s.cfg.Key, nb, s.cfg.Now(), func(m *pb.Doc) {
		m.Body = &pb.Doc_InviteRevocation{InviteRevocation: &pb.InviteRevocation{Invite: target[:]}}
	})
	if err != nil {
		return nil, fmt.Errorf("revoke invite: %w", err)
	}
	return s.addOwn(d)
}

// addOwn stores and applies a document this node made, and reports why the
// roster skipped it, if it did.
func (s *Service) addOwn(d *Doc) (*Doc, error) {
	_, changed, err := s.add(d)
	if changed && s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Admit admits joiner, named name, with invite (a signed Invite document)
// and claim (Invite.Claim of joiner): it signs, stores and applies an
// Admission, which the caller publishes. It refuses, with an
// *record.Invalid saying why, an invite that is tampered with, for another
// neighborhood, expired, revoked, used up or made by a home that may not
// invite, a claim that does not verify, and a joiner already a member or
// removed.
func (s *Service) Admit(invite []byte, claim []byte, joiner peer.ID, name string) (*Doc, error) {
	now := s.cfg.Now()
	inv, err := OpenDoc(invite, now)
	if err != nil {
		if record.ReasonOf(err) == record.ReasonSignature {
			return nil, record.Invalidf(record.ReasonSignature, "invite is tampered with: signature does not verify")
		}
		return nil, err
	}
	if inv.Payload.GetInvite() == nil {
		return nil, record.Invalidf(record.ReasonMalformed, "that is a %s, not an invite", inv.Kind())
	}
	r, err := s.mayAct(false, "")
	if err != nil {
		return nil, err
	}
	nb := r.nb
	s.mu.RUnlock()
	if inv.Payload.GetNeighborhood() != nb {
		return nil, record.Invalidf(record.ReasonNeighborhood, "invite is for another neighborhood")
	}
	if len(claim) != ed25519.SignatureSize || !ed25519.Verify(inv.Payload.GetInvite().GetKey(), claimMessage(inv.ID, joiner), claim) {
		return nil, record.Invalidf(ReasonClaim, "claim does not verify with the invite's key (tampered with, or made for another home)")
	}
	d, err := seal(s.cfg.Key, nb, now, func(m *pb.Doc) {
		m.Body = &pb.Doc_Admission{Admission: &pb.Admission{Invite: invite, Member: []byte(joiner), Name: name, Claim: claim}}
	})
	if err != nil {
		return nil, fmt.Errorf("admit: %w", err)
	}
	e := entryOf(d)
	s.mu.RLock()
	err = s.r.check(&e)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if _, err := s.addOwn(d); err != nil {
		return nil, err
	}
	if !s.IsMember(joiner) {
		return nil, record.Invalidf(ReasonInviteUsedUp, "another admission took the invite's last use first")
	}
	return d, nil
}

// Remove removes member p, for reason; only a steward may. The removal
// keeps the documents p signed that this node holds (the newest MaxKeep,
// fewer if the reason leaves no room): every other document p signed is
// void on every node (see build). The returned document is stored; the
// caller publishes it.
func (s *Service) Remove(p peer.ID, reason string) (*Doc, error) {
	if err := checkText("reason", reason, MaxReason, false); err != nil {
		return nil, fmt.Errorf("removal reason: at most %d characters of text", MaxReason)
	}
	r, err := s.mayAct(true, "only stewards may remove members")
	if err != nil {
		return nil, err
	}
	nb := r.nb
	e := entry{author: s.self, nb: nb, kind: kindRemoval, target: p}
	err = r.check(&e)
	s.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("cannot remove %s: %s", p, err.(*record.Invalid).Detail)
	}
	keep := s.keepOf(p, len(reason))
	d, err := seal(s.cfg.Key, nb, s.cfg.Now(), func(m *pb.Doc) {
		m.Body = &pb.Doc_Removal{Removal: &pb.Removal{Member: []byte(p), Reason: reason, Keep: keep}}
	})
	if err != nil {
		return nil, fmt.Errorf("remove: %w", err)
	}
	return s.addOwn(d)
}

// SetSteward names (on) or unnames member p a steward; only a steward may,
// and the founder stays one. An unnaming keeps p's documents this node
// holds, as Remove does. The returned document is stored; the caller
// publishes it.
func (s *Service) SetSteward(p peer.ID, on bool) (*Doc, error) {
	r, err := s.mayAct(true, "only stewards may name or unname stewards")
	if err != nil {
		return nil, err
	}
	nb := r.nb
	e := entry{author: s.self, nb: nb, kind: kindSteward, target: p, on: on}
	err = r.check(&e)
	s.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("cannot change %s's steward role: %s", p, err.(*record.Invalid).Detail)
	}
	var keep [][]byte
	if !on {
		keep = s.keepOf(p, 0)
	}
	d, err := seal(s.cfg.Key, nb, s.cfg.Now(), func(m *pb.Doc) {
		m.Body = &pb.Doc_Steward{Steward: &pb.Steward{Member: []byte(p), Steward: on, Keep: keep}}
	})
	if err != nil {
		return nil, fmt.Errorf("set steward: %w", err)
	}
	return s.addOwn(d)
}

// keepOf lists the IDs of the documents p signed that this node holds,
// newest first: at most MaxKeep, and no more than fit in a document whose
// reason is reasonBytes long.
func (s *Service) keepOf(p peer.ID, reasonBytes int) [][]byte {
	// An envelope holds, besides keep: the public key, payload type and
	// signature (about 130 bytes), and the Doc's author, created,
	// neighborhood, member and reason; 34 bytes per kept ID.
	const overhead = 512
	room := (MaxDocSize - overhead - record.MaxNeighborhoodLen - reasonBytes) / (len(record.ID{}) + 2)
	limit := min(MaxKeep, room)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keep [][]byte
	for i := len(s.entries) - 1; i >= 0 && len(keep) < limit; i-- {
		if e := &s.entries[i]; e.author == p {
			keep = append(keep, append([]byte(nil), e.id[:]...))
		}
	}
	return keep
}
