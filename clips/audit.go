package clips

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// The owner's access log lives in the node's record database (package
// store's), not in the clips' own database, under its own uppercase tag:
//
//	A T R   one attempt to fetch a clip: T is the attempt's time (8 bytes,
//	        Unix nanoseconds, big-endian), R 8 random bytes so that two
//	        attempts in the same nanosecond keep both entries; the value is
//	        a pb.AuditEntry
//
// Keys sort by time, so the log reads newest first by iterating in
// reverse. Entries carry no expiry: the log is the owner's record of who
// got what, and outlives the clips it mentions.

const tagAudit = 'A'

const auditKeyLen = 1 + 8 + 8

// MaxAuditList bounds one List call.
const MaxAuditList = 10_000

// Entry is one attempt to fetch a clip, served or refused.
type Entry struct {
	Time   time.Time
	Peer   peer.ID   // the requester, as its connection authenticated it
	Clip   record.ID // the clip asked for; zero if the request named none
	Grant  GrantID   // the grant presented; zero if it did not verify
	Served bool
	// Reason says why the attempt was refused (the text of a sentinel such
	// as ErrNotGrantee), or why a served transfer stopped early; empty when
	// it was served.
	Reason string
	Bytes  int64 // clip bytes sent
}

// Audit is the owner's access log: every attempt to fetch one of the
// owner's clips, served or refused. Its methods are safe for concurrent
// use.
type Audit struct {
	db *badger.DB
	mu sync.Mutex // serializes Sync calls so each Record waits for its own
}

// NewAudit returns the access log kept in db. The Audit does not close db.
func NewAudit(db *badger.DB) (*Audit, error) {
	if db == nil {
		return nil, errors.New("clips: audit: DB is required")
	}
	return &Audit{db: db}, nil
}

// Record appends e to the log and returns only once it is on disk: the
// server records an attempt before it sends the first byte, so no clip
// leaves the home without an entry that survives a crash. A zero e.Time is
// the wall clock.
func (a *Audit) Record(e Entry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	k := make([]byte, auditKeyLen)
	k[0] = tagAudit
	binary.BigEndian.PutUint64(k[1:9], uint64(max(e.Time.UnixNano(), 0)))
	if _, err := rand.Read(k[9:]); err != nil {
		return fmt.Errorf("record access: %w", err)
	}
	pe := &pb.AuditEntry{
		Peer:   []byte(e.Peer),
		Served: e.Served,
		Reason: e.Reason,
		Bytes:  e.Bytes,
	}
	if !e.Clip.IsZero() {
		pe.ClipId = e.Clip[:]
	}
	if e.Grant != (GrantID{}) {
		pe.GrantId = e.Grant[:]
	}
	v, err := proto.Marshal(pe)
	if err != nil {
		return fmt.Errorf("record access: %w", err)
	}
	if err := a.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
		return fmt.Errorf("record access: %w", err)
	}
	// The database is opened without synchronous writes (records are
	// re-fetched from neighbors after a crash; the access log cannot be).
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.db.Sync(); err != nil {
		return fmt.Errorf("record access: sync: %w", err)
	}
	return nil
}

// List returns up to limit entries, newest first. limit <= 0 or above
// MaxAuditList means MaxAuditList.
func (a *Audit) List(limit int) ([]Entry, error) {
	if limit <= 0 || limit > MaxAuditList {
		limit = MaxAuditList
	}
	var out []Entry
	err := a.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagAudit}
		opts.Reverse = true
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(append([]byte{tagAudit}, bytes.Repeat([]byte{0xff}, auditKeyLen)...)); it.Valid() && len(out) < limit; it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) != auditKeyLen {
				continue
			}
			var pe pb.AuditEntry
			err := item.Value(func(v []byte) error { return proto.Unmarshal(v, &pe) })
			if err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			e := Entry{
				Time:   time.Unix(0, int64(binary.BigEndian.Uint64(k[1:9]))),
				Peer:   peer.ID(pe.GetPeer()),
				Served: pe.GetServed(),
				Reason: pe.GetReason(),
				Bytes:  pe.GetBytes(),
			}
			copy(e.Clip[:], pe.GetClipId())
			copy(e.Grant[:], pe.GetGrantId())
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list access log: %w", err)
	}
	return out, nil
}
