package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record"
)

// Version is the schema version of the records database that this
// release reads and writes (see doc.go).
const Version = 3

// recordsSchema is the records database's schema. Its steps are history:
// each one reads the layout of the version before it, so it never changes
// once released, whatever its package does since.
func recordsSchema(cfg Config) Schema {
	return Schema{
		Name:    "records database",
		Key:     []byte{tagVersion},
		Version: Version,
		Steps: []Step{
			{To: 2, Name: "grants keyed by owner and ID; untrusted issuers' documents removed", Run: func(db *badger.DB) error { return migrateTo2(db, cfg.TrustedIssuers) }},
			{To: 3, Name: "feed index entries carry their post", Run: func(db *badger.DB) error { return migrateTo3(db, cfg.Neighborhood) }},
		},
		Unversioned: unversionedRecords,
	}
}

// unversionedRecords tells the two layouts written before the version
// key: version 2 (releases of December 2026) is the one whose requests
// service marked, with "K 1", that it removed the untrusted documents.
// A version-2 database without the mark (no request service ever opened
// it) is taken for version 1, which is harmless: step 2 finds nothing to
// change in it.
func unversionedRecords(db *badger.DB) (int, error) {
	v := 1
	err := db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte{tagRequestsMeta, 1})
		switch {
		case err == nil:
			v = 2
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		return nil
	})
	return v, err
}

// Version 1 → 2. These were one-off fixes at open in the releases of
// December 2026 (clips.OpenGrants, requests.New); they are this step now.
const (
	// v1GrantIDLen is the length of a grant ID: version 1 keyed a grant
	// "R G" by its ID alone.
	v1GrantIDLen = 16
	// v1GrantDomain and v1GrantType are the signature domain and payload
	// type of a grant envelope (clips.Domain, clips.GrantType).
	v1GrantDomain = "porchlight-clip"
	v1GrantType   = "/porchlight/clip-grant/1"
)

// migrateTo2 moves each grant keyed "R G" to "R L O G" (O its owner, the
// envelope's signer), never over a grant already there, and drops one
// whose envelope does not verify (nothing could have used it); and removes
// the documents of issuers not in trusted (with a credential, its agency
// and revocation entries): version 1 stored them all, and a stranger
// could fill the disk with them. Both find nothing to do the second time.
func migrateTo2(db *badger.DB, trusted []peer.ID) error {
	isTrusted := make(map[peer.ID]bool, len(trusted))
	for _, id := range trusted {
		isTrusted[id] = true
	}
	type kv struct{ k, v []byte }
	var grants []kv
	var drop [][]byte
	err := db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagGrant}
		it := txn.NewIterator(opts)
		for it.Rewind(); it.Valid(); it.Next() {
			if len(it.Item().Key()) != 1+v1GrantIDLen {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				it.Close()
				return err
			}
			grants = append(grants, kv{it.Item().KeyCopy(nil), v})
		}
		it.Close()
		opts.Prefix = []byte{tagIssuerDoc}
		it = txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			raw, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			d, err := record.OpenDoc(raw)
			if err == nil && isTrusted[d.Issuer] {
				continue
			}
			drop = append(drop, it.Item().KeyCopy(nil))
			if d != nil && d.Credential != nil {
				a := peer.ID(d.Credential.GetAgency())
				drop = append(drop,
					append(append([]byte{tagAgencyCred, byte(len(a))}, a...), d.ID[:]...),
					append([]byte{tagCredRevoked}, d.ID[:]...),
					append([]byte{tagCredRevokeSeq}, d.ID[:]...))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(grants) == 0 && len(drop) == 0 {
		return nil
	}
	err = db.Update(func(txn *badger.Txn) error {
		for _, g := range grants {
			if owner, ok := v1GrantOwner(g.v); ok {
				nk := append(append([]byte{tagGrant, byte(len(owner))}, owner...), g.k[1:]...)
				if _, err := txn.Get(nk); errors.Is(err, badger.ErrKeyNotFound) {
					if err := txn.Set(nk, g.v); err != nil {
						return err
					}
				} else if err != nil {
					return err
				}
			}
			if err := txn.Delete(g.k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("move grants to owner-and-ID keys: %w", err)
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range drop {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("remove untrusted issuers' documents: %w", err)
	}
	return db.Sync()
}

// v1GrantOwner returns the signer of a grant envelope, if it verifies.
func v1GrantOwner(raw []byte) (peer.ID, bool) {
	env, err := lprecord.ConsumeTypedEnvelope(raw, v1Grant{})
	if err != nil || string(env.PayloadType) != v1GrantType {
		return "", false
	}
	owner, err := peer.IDFromPublicKey(env.PublicKey)
	return owner, err == nil
}

// v1Grant is a grant's payload left undecoded: the step needs only the
// envelope's signature checked and its signer.
type v1Grant struct{}

func (v1Grant) Domain() string                 { return v1GrantDomain }
func (v1Grant) Codec() []byte                  { return []byte(v1GrantType) }
func (v1Grant) MarshalRecord() ([]byte, error) { return nil, errors.New("not for sealing") }
func (v1Grant) UnmarshalRecord([]byte) error   { return nil }

// Version 2 → 3: the feed index entry of a live post, f C I, held A S
// (or nothing, before 2026-11-28); from version 3 it holds A S P, P the
// post (see feedread.go), so that a page of the feed reads no log slot.

// migrateTo3 rewrites the feed index from the log slots, in one scan of
// them (a point lookup of each post's slot would take minutes at a year
// of a street): every live slot holding a post of neighborhood gets its
// entry, as Ingest writes it. An entry that the scan did not rewrite (its
// post is no longer live in its slot: the feed never showed it) is
// removed. The second run rewrites the same entries and finds none to
// remove.
func migrateTo3(db *badger.DB, neighborhood string) error {
	t0 := time.Now()
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	posts := 0
	err := db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagLog}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			a, seq, err := parseAuthorSeq(k[1:])
			if err != nil {
				return err
			}
			err = it.Item().Value(func(v []byte) error {
				if len(v) < 2 || v[0] != slotLive {
					return nil // purged
				}
				s, err := record.DecodeTrusted(v[1:])
				if err != nil {
					return fmt.Errorf("slot %d of %s: %w", seq, a, err)
				}
				p := s.Entry.GetPost()
				if p == nil || s.Entry.GetNeighborhood() != neighborhood {
					return nil
				}
				val, err := proto.MarshalOptions{}.MarshalAppend(seqKey(0, a, seq)[1:], p)
				if err != nil {
					return err
				}
				posts++
				return wb.Set(feedKey(s.Entry.GetCreated(), s.ID), val)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("rewrite the feed index: %w", err)
	}
	var stale [][]byte
	err = db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagFeed}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var rewritten bool
			if err := it.Item().Value(func(v []byte) error {
				a, _, err := parseAuthorSeq(v)
				rewritten = err == nil && len(v) > 1+len(a)+8
				return nil
			}); err != nil {
				return err
			}
			if rewritten {
				continue
			}
			// Not rewritten: either its post is not live (drop it) or the
			// post is all defaults, marshalled to nothing (keep it).
			k := it.Item().KeyCopy(nil)
			fp := FeedPost{}
			copy(fp.ID[:], k[9:])
			ok, err := legacyFeedPost(txn, &fp)
			if err != nil {
				return err
			}
			if !ok {
				stale = append(stale, k)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	dw := db.NewWriteBatch()
	defer dw.Cancel()
	for _, k := range stale {
		if err := dw.Delete(k); err != nil {
			return err
		}
	}
	if err := dw.Flush(); err != nil {
		return fmt.Errorf("remove stale feed index entries: %w", err)
	}
	db.Opts().Logger.Infof("feed index: %d entries rewritten, %d stale removed, in %s", posts, len(stale), time.Since(t0).Round(time.Millisecond))
	return db.Sync()
}
