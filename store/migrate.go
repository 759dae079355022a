package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"

	"github.com/porchlight-mesh/porchlight/record"
)

// Version is the schema version of the records database that this
// release reads and writes (see doc.go).
const Version = 2

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
