package clips

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// The owner's access log lives in the node's records database, in the
// table store.AccessLog (tag A):
//
//	A T R   one attempt to fetch a clip: T is the attempt's time (8 bytes,
//	        Unix nanoseconds, big-endian), R 8 random bytes so that two
//	        attempts in the same nanosecond keep both entries; the value is
//	        a pb.AuditEntry
//
// Keys sort by time, so the log reads newest first by iterating in
// reverse. Entries carry no expiry: the log is the owner's record of who
// got what, and outlives the clips it mentions.

// auditKeyLen is the length of a key after its tag.
const auditKeyLen = 8 + 8

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
	db *store.DB
	mu sync.Mutex // serializes Sync calls so each Record waits for its own
}

// NewAudit returns the access log kept in db, the node's records
// database. The Audit does not close db.
func NewAudit(db *store.DB) (*Audit, error) {
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
	binary.BigEndian.PutUint64(k[:8], uint64(max(e.Time.UnixNano(), 0)))
	if _, err := rand.Read(k[8:]); err != nil {
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
	if err := a.db.Put(store.AccessLog, k, v); err != nil {
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
	err := a.db.View(func(txn *store.Txn) error {
		return txn.Scan(store.AccessLog, nil, store.ScanOptions{Reverse: true}, func(item store.Item) error {
			if len(out) >= limit {
				return store.ErrStop
			}
			k := item.Key()
			if len(k) != auditKeyLen {
				return nil
			}
			v, err := item.Value()
			if err != nil {
				return err
			}
			var pe pb.AuditEntry
			if err := proto.Unmarshal(v, &pe); err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			e := Entry{
				Time:   time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))),
				Peer:   peer.ID(pe.GetPeer()),
				Served: pe.GetServed(),
				Reason: pe.GetReason(),
				Bytes:  pe.GetBytes(),
			}
			copy(e.Clip[:], pe.GetClipId())
			copy(e.Grant[:], pe.GetGrantId())
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list access log: %w", err)
	}
	return out, nil
}
