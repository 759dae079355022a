package clips

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// Grants keeps the grants this node issued or received, the revocations of
// the ones it issued, and its transfer records, in the node's record
// database (package store's; not the clips' own):
//
//	R L O G   grant G (16 bytes) of owner O (a peer ID of L bytes, L one
//	          byte): the signed grant envelope, verified before it was
//	          written
//	Y G       revocation of this node's own grant G: the signed revocation
//	Z I       transfer record of clip I, signed by this node when it
//	          received the clip; written once, never replaced
//	O G       (empty): this node's grant G still to be delivered
//	T L O G   the "to fetch" inbox: grant G of owner O, delivered to this
//	          node, whose clips the Intake still has to fetch; the value is
//	          the delivery (a pb.ShareRequest: the grant and the manifests
//	          that came with it); it expires with the grant
//
// A grant is keyed by its owner and its ID, so a grant someone else signs
// under the same ID can never take the place of another owner's: the grant
// ID is chosen by its owner, and a grantee (or, for a post's grant, every
// neighbor) knows it. An entry is never overwritten: a second delivery of
// the same envelope is accepted and changes nothing, a different envelope
// under the same key is refused (ErrGrantExists).
//
// This node's own grants and revocations never expire: they are the
// owner's consent record. A received grant expires from the database when
// the grant itself expires, unless a clip was received under it (Keep):
// evidence keeps its grant for good. Received grants are capped per owner
// and in total (GrantsConfig).
//
// The tags are declared in store/keys.go (store.Grants, ...); until
// December 2026 grants were keyed "R G" by ID alone, which let a colliding
// grant overwrite another's, and store's migration to schema version 2
// moved every such entry to its "R L O G" key.
type Grants struct {
	db   *store.DB
	self peer.ID
	cfg  GrantsConfig
	mu   sync.Mutex // serializes the check-then-write of Put* and PutTransfer
}

// Defaults of GrantsConfig.
const (
	// DefaultMaxReceivedPerOwner is how many unexpired grants this node
	// keeps from one owner: far more than a home shares with one peer.
	DefaultMaxReceivedPerOwner = 256
	// DefaultMaxReceived is how many unexpired received grants it keeps in
	// all (at most 8 KiB each: 32 MiB).
	DefaultMaxReceived = 4096
)

// Errors of the grant book.
var (
	// ErrGrantNotFound is returned for an unknown grant.
	ErrGrantNotFound = errors.New("no such grant")
	// ErrGrantExists: a different grant is stored under the same owner and
	// ID; grants are never replaced.
	ErrGrantExists = errors.New("a different grant with this owner and ID is already stored")
	// ErrTooManyGrants: a received grant is over the per-owner or total cap.
	ErrTooManyGrants = errors.New("too many grants received")
	// ErrTransferExists: a transfer record of the clip is already stored;
	// transfer records are written once per received clip.
	ErrTransferExists = errors.New("a transfer record of this clip is already stored")
	// ErrInboxFull: too many delivered grants wait for their clips to be
	// fetched; the owner delivers the grant again later.
	ErrInboxFull = errors.New("too many grants waiting for their clips to be fetched; deliver it again later")
)

// GrantsConfig configures OpenGrants. Zero values mean "use the default".
type GrantsConfig struct {
	// DB holds the grants: the node's records database. Required.
	DB *store.DB
	// Self is this node: grants it owns are its own consent record, the
	// rest were received. Default: every grant counts as received for the
	// caps except those stored with Issue.
	Self peer.ID
	// MaxReceivedPerOwner caps the unexpired grants kept from one owner.
	// Default DefaultMaxReceivedPerOwner.
	MaxReceivedPerOwner int
	// MaxReceived caps the unexpired received grants in all. Default
	// DefaultMaxReceived.
	MaxReceived int
}

// NewGrants returns the grant book kept in db, with the default caps.
func NewGrants(db *store.DB) (*Grants, error) { return OpenGrants(GrantsConfig{DB: db}) }

// OpenGrants returns the grant book kept in cfg.DB.
func OpenGrants(cfg GrantsConfig) (*Grants, error) {
	if cfg.DB == nil {
		return nil, errors.New("clips: grants: DB is required")
	}
	if cfg.MaxReceivedPerOwner <= 0 {
		cfg.MaxReceivedPerOwner = DefaultMaxReceivedPerOwner
	}
	if cfg.MaxReceived <= 0 {
		cfg.MaxReceived = DefaultMaxReceived
	}
	return &Grants{db: cfg.DB, self: cfg.Self, cfg: cfg}, nil
}

func ownerPrefix(owner peer.ID) []byte {
	return append([]byte{byte(len(owner))}, owner...)
}

func grantKey(owner peer.ID, id GrantID) []byte {
	return append(ownerPrefix(owner), id[:]...)
}

// Issue builds, signs and stores a grant of key's owner.
func (b *Grants) Issue(key crypto.PrivKey, grantee peer.ID, clipIDs []record.ID, request record.ID, expires time.Time) (*SignedGrant, error) {
	owner, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	gid := make([]byte, GrantIDLen)
	if _, err := rand.Read(gid); err != nil {
		return nil, err
	}
	g := &pb.Grant{GrantId: gid, Owner: []byte(owner), Issued: time.Now().UnixMilli(), Expires: expires.UnixMilli()}
	if grantee != "" {
		g.Grantee = []byte(grantee)
	}
	for _, id := range clipIDs {
		g.ClipIds = append(g.ClipIds, append([]byte(nil), id[:]...))
	}
	if !request.IsZero() {
		g.RequestId = request[:]
	}
	sg, err := SealGrant(g, key)
	if err != nil {
		return nil, err
	}
	return sg, b.put(sg, false)
}

// Put stores a grant this node issued (or one it keeps for good), as
// returned by SealGrant or OpenGrant. It never replaces a stored grant:
// storing the same envelope again is a no-op, a different one under the
// same owner and ID is ErrGrantExists.
func (b *Grants) Put(g *SignedGrant) error { return b.put(g, false) }

// PutReceived stores a grant delivered to this node, as returned by
// OpenGrant: like Put, and within the caps on received grants
// (ErrTooManyGrants); it expires from the database with the grant.
func (b *Grants) PutReceived(g *SignedGrant) error { return b.put(g, true) }

func (b *Grants) put(g *SignedGrant, received bool) error {
	if g == nil || g.G == nil || g.Owner == "" {
		return errors.New("store grant: not a verified grant")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := grantKey(g.Owner, g.GrantID())
	return b.db.Update(func(txn *store.Txn) error {
		switch v, err := txn.Get(store.Grants, k); {
		case err == nil:
			if bytes.Equal(v, g.Raw) {
				return nil
			}
			return fmt.Errorf("grant %s of %s: %w", g.GrantID(), g.Owner, ErrGrantExists)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if !received {
			return txn.Put(store.Grants, k, g.Raw)
		}
		if n, err := countExpiring(txn, store.Grants, ownerPrefix(g.Owner), b.cfg.MaxReceivedPerOwner); err != nil {
			return err
		} else if n >= b.cfg.MaxReceivedPerOwner {
			return fmt.Errorf("%w: %d unexpired grants from %s already, the most kept from one owner", ErrTooManyGrants, n, g.Owner)
		}
		if n, err := countExpiring(txn, store.Grants, nil, b.cfg.MaxReceived); err != nil {
			return err
		} else if n >= b.cfg.MaxReceived {
			return fmt.Errorf("%w: %d unexpired received grants already, the most kept", ErrTooManyGrants, n)
		}
		return txn.PutExpiring(store.Grants, k, g.Raw, g.Expires().Add(time.Second))
	})
}

// countExpiring counts the entries under prefix that expire (received
// grants not kept as evidence), stopping at limit.
func countExpiring(txn *store.Txn, t store.Table, prefix []byte, limit int) (int, error) {
	n := 0
	err := txn.Scan(t, prefix, store.ScanOptions{KeysOnly: true}, func(it store.Item) error {
		if n >= limit {
			return store.ErrStop
		}
		if !it.Expires().IsZero() {
			n++
		}
		return nil
	})
	return n, err
}

// Keep makes a received grant permanent: a clip was received under it, so
// it is part of the evidence.
func (b *Grants) Keep(owner peer.ID, id GrantID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := grantKey(owner, id)
	err := b.db.Update(func(txn *store.Txn) error {
		exp, err := txn.Expires(store.Grants, k)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("grant %s of %s: %w", id, owner, ErrGrantNotFound)
		}
		if err != nil || exp.IsZero() {
			return err
		}
		v, err := txn.Get(store.Grants, k)
		if err != nil {
			return err
		}
		return txn.Put(store.Grants, k, v)
	})
	if err != nil {
		return err
	}
	return b.db.Sync()
}

// Get returns a stored grant of owner.
func (b *Grants) Get(owner peer.ID, id GrantID) (*SignedGrant, error) {
	raw, err := b.db.Get(store.Grants, grantKey(owner, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("grant %s of %s: %w", id, owner, ErrGrantNotFound)
	}
	if err != nil {
		return nil, err
	}
	return storedGrant(raw)
}

// storedGrant decodes a grant read back from the database. Its signature
// was verified before it was written (Put takes only a SignedGrant), so it
// is not verified again: listing thousands of grants costs a protobuf
// decode each, not a signature check.
func storedGrant(raw []byte) (*SignedGrant, error) {
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("stored grant: %w", err)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("stored grant: %w", err)
	}
	g := new(pb.Grant)
	if err := proto.Unmarshal(env.RawPayload, g); err != nil {
		return nil, fmt.Errorf("stored grant: %w", err)
	}
	return &SignedGrant{Raw: raw, ID: record.IDOf(raw), Owner: signer, G: g}, nil
}

// Revoke signs and stores the revocation of one of key's own grants.
func (b *Grants) Revoke(key crypto.PrivKey, id GrantID) error {
	owner, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return err
	}
	if _, err := b.Get(owner, id); err != nil {
		return err
	}
	r, err := SealRevocation(&pb.GrantRevocation{GrantId: id[:], Owner: []byte(owner), Revoked: time.Now().UnixMilli()}, key)
	if err != nil {
		return err
	}
	if err := b.db.Put(store.GrantRevocations, id[:], r.Raw); err != nil {
		return err
	}
	return b.db.Sync() // revocation is immediate, and must survive a crash
}

// Revoked reports whether this node revoked its own grant id. (Only an
// owner revokes, so a grant of another owner is never revoked here.)
func (b *Grants) Revoked(id GrantID) bool {
	ok, err := b.db.Has(store.GrantRevocations, id[:])
	return ok && err == nil
}

// RevokedGrant reports whether g is this node's own grant and revoked.
func (b *Grants) RevokedGrant(g *SignedGrant) bool {
	return b.self != "" && g.Owner == b.self && b.Revoked(g.GrantID())
}

// List returns every stored grant, newest first.
func (b *Grants) List() ([]*SignedGrant, error) {
	out, err := b.list(nil)
	sort.Slice(out, func(i, j int) bool { return out[i].Issued().After(out[j].Issued()) })
	return out, err
}

func (b *Grants) list(prefix []byte) ([]*SignedGrant, error) {
	return store.ScanAll(b.db, store.Grants, prefix, func(_, raw []byte) (*SignedGrant, error) { return storedGrant(raw) })
}

// For returns a stored grant from owner that lets self fetch clip now.
func (b *Grants) For(owner, self peer.ID, clip record.ID, now time.Time) (*SignedGrant, error) {
	gs, err := b.list(ownerPrefix(owner))
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.Owner == owner && CanFetch(g, false, self, owner, clip, now) == nil {
			return g, nil
		}
	}
	return nil, fmt.Errorf("no grant from %s for clip %.12s: %w", owner, clip, ErrNoGrant)
}

// PutTransfer stores a transfer record this node signed on receipt, once
// per clip: a record of the clip already stored is ErrTransferExists, and
// the stored one stays.
func (b *Grants) PutTransfer(t *SignedTransfer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := t.ClipID()
	err := b.db.Update(func(txn *store.Txn) error {
		if ok, err := txn.Has(store.Transfers, id[:]); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("clip %s: %w", id, ErrTransferExists)
		}
		return txn.Put(store.Transfers, id[:], t.Raw)
	})
	if err != nil {
		return err
	}
	return b.db.Sync()
}

// Transfer returns the transfer record of clip (ErrNotFound if there is
// none).
func (b *Grants) Transfer(clip record.ID) (*SignedTransfer, error) {
	raw, err := b.db.Get(store.Transfers, clip[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("transfer record of clip %s: %w", clip, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return OpenTransfer(raw)
}

// HasTransfer reports whether a transfer record of clip is stored.
func (b *Grants) HasTransfer(clip record.ID) bool {
	ok, err := b.db.Has(store.Transfers, clip[:])
	return ok && err == nil
}

// Transfers lists the stored transfer records.
func (b *Grants) Transfers() ([]*SignedTransfer, error) {
	return store.ScanAll(b.db, store.Transfers, nil, func(_, raw []byte) (*SignedTransfer, error) { return OpenTransfer(raw) })
}

// SetUndelivered records whether this node's grant id still has to be
// delivered over /porchlight/share/1.
func (b *Grants) SetUndelivered(id GrantID, pending bool) error {
	if pending {
		return b.db.Put(store.GrantOutbox, id[:], nil)
	}
	return b.db.Delete(store.GrantOutbox, id[:])
}

// Undelivered lists the grants still to be delivered.
func (b *Grants) Undelivered() ([]GrantID, error) {
	return store.ScanAll(b.db, store.GrantOutbox, nil, func(k, _ []byte) (id GrantID, err error) {
		copy(id[:], k)
		return id, nil
	})
}

// Waiting is a grant delivered to this node whose clips are still to be
// fetched, with the manifests delivered with it.
type Waiting struct {
	Grant     *SignedGrant
	Manifests []*SignedManifest
}

func inboxKey(owner peer.ID, id GrantID) []byte {
	k := append([]byte{byte(len(owner))}, owner...)
	return append(k, id[:]...)
}

// AddToFetch puts a grant delivered to this node in the "to fetch" inbox,
// with the manifests that came with it, and syncs: the owner does not
// deliver an accepted grant again, so the inbox must survive a crash. The
// entry expires with the grant. With limit grants waiting already it is
// ErrInboxFull; adding a grant that waits already changes nothing.
func (b *Grants) AddToFetch(g *SignedGrant, ms []*SignedManifest, limit int) error {
	if g == nil || g.G == nil || g.Owner == "" {
		return errors.New("add to the inbox: not a verified grant")
	}
	req := &pb.ShareRequest{Grant: g.Raw}
	for _, m := range ms {
		req.Manifests = append(req.Manifests, m.Raw)
	}
	v, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := inboxKey(g.Owner, g.GrantID())
	err = b.db.Update(func(txn *store.Txn) error {
		if ok, err := txn.Has(store.FetchInbox, k); err != nil || ok {
			return err
		}
		n, err := countExpiring(txn, store.FetchInbox, nil, limit)
		if err != nil {
			return err
		}
		if n >= limit {
			return fmt.Errorf("%w (%d waiting)", ErrInboxFull, n)
		}
		return txn.PutExpiring(store.FetchInbox, k, v, g.Expires().Add(time.Second))
	})
	if err != nil {
		return err
	}
	return b.db.Sync()
}

// Fetched removes a grant from the inbox: its clips are fetched, refused
// for good, or no longer wanted. Removing one that is not there does
// nothing.
func (b *Grants) Fetched(owner peer.ID, id GrantID) error {
	return b.db.Delete(store.FetchInbox, inboxKey(owner, id))
}

// ToFetch lists the inbox, by owner and grant ID. An entry that no longer
// decodes is dropped from the inbox and skipped.
func (b *Grants) ToFetch() ([]Waiting, error) {
	var out []Waiting
	var bad [][]byte
	err := b.db.View(func(txn *store.Txn) error {
		return txn.Scan(store.FetchInbox, nil, store.ScanOptions{}, func(it store.Item) error {
			v, err := it.Value()
			if err != nil {
				return err
			}
			req := new(pb.ShareRequest)
			if err := proto.Unmarshal(v, req); err != nil {
				return err
			}
			w, err := openWaiting(req)
			if err != nil {
				bad = append(bad, bytes.Clone(it.Key()))
				return nil
			}
			out = append(out, w)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, k := range bad {
		if err := b.db.Delete(store.FetchInbox, k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// openWaiting decodes an inbox entry. Its grant and manifests were
// verified before they were written; the manifests are verified again
// (they are few, and the intake trusts their sizes).
func openWaiting(req *pb.ShareRequest) (Waiting, error) {
	g, err := storedGrant(req.GetGrant())
	if err != nil {
		return Waiting{}, err
	}
	w := Waiting{Grant: g}
	for _, raw := range req.GetManifests() {
		m, err := OpenManifest(raw)
		if err != nil {
			return Waiting{}, fmt.Errorf("inbox manifest: %w", err)
		}
		w.Manifests = append(w.Manifests, m)
	}
	return w, nil
}
