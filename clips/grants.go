package clips

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// Grants keeps the grants this node issued or received, and the
// revocations of the ones it issued, in the node's Badger database:
//
//	R G   grant G (16 bytes): the signed grant envelope
//	Y G   revocation of grant G: the signed revocation envelope
//
// Entries never expire: a grant is part of the owner's consent record.
type Grants struct {
	db *badger.DB
}

const (
	tagGrant      = 'R'
	tagRevocation = 'Y'
)

// ErrGrantNotFound is returned for an unknown grant ID.
var ErrGrantNotFound = errors.New("no such grant")

// NewGrants returns the grant book kept in db.
func NewGrants(db *badger.DB) (*Grants, error) {
	if db == nil {
		return nil, errors.New("clips: grants: DB is required")
	}
	return &Grants{db: db}, nil
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
	return sg, b.Put(sg)
}

// Put stores a verified grant (issued here or received).
func (b *Grants) Put(g *SignedGrant) error {
	id := g.GrantID()
	return b.db.Update(func(txn *badger.Txn) error {
		return txn.Set(append([]byte{tagGrant}, id[:]...), g.Raw)
	})
}

// Get returns a stored grant.
func (b *Grants) Get(id GrantID) (*SignedGrant, error) {
	var raw []byte
	err := b.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(append([]byte{tagGrant}, id[:]...))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("grant %s: %w", id, ErrGrantNotFound)
		}
		if err != nil {
			return err
		}
		raw, err = it.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return OpenGrant(raw)
}

// Revoke signs and stores the revocation of one of key's grants.
func (b *Grants) Revoke(key crypto.PrivKey, id GrantID) error {
	g, err := b.Get(id)
	if err != nil {
		return err
	}
	owner, _ := peer.IDFromPrivateKey(key)
	if g.Owner != owner {
		return fmt.Errorf("grant %s was issued by %s: only its owner can revoke it", id, g.Owner)
	}
	r, err := SealRevocation(&pb.GrantRevocation{GrantId: id[:], Owner: []byte(owner), Revoked: time.Now().UnixMilli()}, key)
	if err != nil {
		return err
	}
	err = b.db.Update(func(txn *badger.Txn) error {
		return txn.Set(append([]byte{tagRevocation}, id[:]...), r.Raw)
	})
	if err != nil {
		return err
	}
	return b.db.Sync() // revocation is immediate, and must survive a crash
}

// Revoked reports whether a grant was revoked here.
func (b *Grants) Revoked(id GrantID) bool {
	err := b.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(append([]byte{tagRevocation}, id[:]...))
		return err
	})
	return err == nil
}

// List returns every stored grant, newest first.
func (b *Grants) List() ([]*SignedGrant, error) {
	var out []*SignedGrant
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagGrant}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			raw, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			g, err := OpenGrant(raw)
			if err != nil {
				return err
			}
			out = append(out, g)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Issued().After(out[j].Issued()) })
	return out, err
}

// For returns a stored grant from owner that lets self fetch clip now.
func (b *Grants) For(owner, self peer.ID, clip record.ID, now time.Time) (*SignedGrant, error) {
	gs, err := b.List()
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

// tagTransfer keys the receiver's signed transfer records:
//
//	Z I   transfer record of clip I, signed by this node when it received it
const tagTransfer = 'Z'

// PutTransfer stores a transfer record this node signed on receipt.
func (b *Grants) PutTransfer(t *SignedTransfer) error {
	id := t.ClipID()
	err := b.db.Update(func(txn *badger.Txn) error {
		return txn.Set(append([]byte{tagTransfer}, id[:]...), t.Raw)
	})
	if err != nil {
		return err
	}
	return b.db.Sync()
}

// Transfers lists the stored transfer records.
func (b *Grants) Transfers() ([]*SignedTransfer, error) {
	var out []*SignedTransfer
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagTransfer}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			raw, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			t, err := OpenTransfer(raw)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// tagOutbox marks grants not yet delivered to their grantee:
//
//	O G   (empty): grant G still to be delivered over /porchlight/share/1
const tagOutbox = 'O'

// SetUndelivered records whether grant id still has to be delivered.
func (b *Grants) SetUndelivered(id GrantID, pending bool) error {
	k := append([]byte{tagOutbox}, id[:]...)
	return b.db.Update(func(txn *badger.Txn) error {
		if pending {
			return txn.Set(k, nil)
		}
		return txn.Delete(k)
	})
}

// Undelivered lists the grants still to be delivered.
func (b *Grants) Undelivered() ([]GrantID, error) {
	var out []GrantID
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix, opts.PrefetchValues = []byte{tagOutbox}, false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var id GrantID
			copy(id[:], it.Item().Key()[1:])
			out = append(out, id)
		}
		return nil
	})
	return out, err
}
