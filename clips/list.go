package clips

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
)

// A home keeps about 30 days of clips from each camera, dozens a day: a
// listing reads the time index (tagTime, a few dozen bytes per clip) and
// opens, verifies and returns only the manifests of one page.

// Page sizes of Store.Page.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// ErrBadCursor: a Query's cursor is not one Page returned.
var ErrBadCursor = errors.New("not a clip listing cursor (take it from the previous page's next)")

// Query selects a page of stored clips, newest recording first. The zero
// Query is the first DefaultPageSize clips.
type Query struct {
	// Limit is the page size, 1 to MaxPageSize. Default DefaultPageSize.
	Limit int
	// Cursor continues a listing: the Next of the previous page, of the
	// same filters. Empty: from the newest.
	Cursor string
	// Camera keeps only the clips of this camera. Empty: every camera.
	Camera string
	// Since and Until keep only the clips that started in [Since, Until).
	// Zero: unbounded.
	Since, Until time.Time
	// Owner keeps only the clips of this owner (this home: Store.Owner).
	// Empty: clips of any owner (received ones too).
	Owner peer.ID
}

// Listed is one clip of a Page.
type Listed struct {
	*SignedManifest
	// Expires is when the clip is deleted; zero while it is Held.
	Expires time.Time
	Held    bool
}

// Page is one page of a listing.
type Page struct {
	Clips []Listed
	// Next is the cursor of the next page; empty when this page is the last.
	Next string
}

// timeKey indexes clip id by its start time: T S I, where S is the start
// (Unix ms) turned so that a forward scan meets the newest first.
func timeKey(start int64, id record.ID) []byte {
	k := binary.BigEndian.AppendUint64([]byte{tagTime}, ^uint64(start)^(1<<63))
	return append(k, id[:]...)
}

const timeKeyLen = 1 + 8 + len(record.ID{})

// timeValue is a time index entry's value: what filters need without
// opening the manifest. End (8 bytes, Unix ms, 0 when unknown), the
// owner's peer ID (a length byte, then its bytes), then the camera name.
func timeValue(m *SignedManifest) []byte {
	owner := []byte(m.Owner)
	v := binary.BigEndian.AppendUint64(nil, uint64(m.M.GetEnd()))
	v = append(v, byte(len(owner)))
	v = append(v, owner...)
	return append(v, m.M.GetCamera()...)
}

func parseTimeValue(v []byte) (owner peer.ID, camera string, ok bool) {
	if len(v) < 9 || len(v) < 9+int(v[8]) {
		return "", "", false
	}
	n := int(v[8])
	return peer.ID(v[9 : 9+n]), string(v[9+n:]), true
}

// setClip writes clip m's manifest entry and its time index entry, with
// the same expiry, in txn.
func setClip(txn *badger.Txn, m *SignedManifest, blob blobID, stored time.Time, expires uint64) error {
	id := m.ClipID()
	if err := txn.SetEntry(entry(manifestKey(id), encodeLocal(blob, stored, m.Raw), expires)); err != nil {
		return err
	}
	return txn.SetEntry(entry(timeKey(m.M.GetStart(), id), timeValue(m), expires))
}

// deleteClip deletes clip m's manifest and time index entries in txn.
func deleteClip(txn *badger.Txn, m *SignedManifest) error {
	id := m.ClipID()
	if err := txn.Delete(manifestKey(id)); err != nil {
		return err
	}
	return txn.Delete(timeKey(m.M.GetStart(), id))
}

// Page returns one page of the stored clips that q selects, newest
// recording first (ties by clip ID). Its cost is one scan of the time
// index over q's time range plus one manifest read per clip returned. A
// cursor that is not one Page returned is ErrBadCursor.
func (s *Store) Page(q Query) (Page, error) {
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return Page{}, fmt.Errorf("page size %d outside 1 to %d", q.Limit, MaxPageSize)
	}
	// Newest first: Until is where the scan begins, Since where it ends.
	seek := []byte{tagTime}
	if !q.Until.IsZero() {
		seek = timeKey(q.Until.UnixMilli()-1, record.ID{})
	}
	after := []byte(nil) // the cursor's key, skipped
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(raw) != timeKeyLen-1 {
			return Page{}, ErrBadCursor
		}
		after = append([]byte{tagTime}, raw...)
		if string(after) > string(seek) {
			seek = after
		}
	}
	var stop []byte // keys from here on started before Since
	if !q.Since.IsZero() {
		stop = timeKey(q.Since.UnixMilli()-1, record.ID{})
	}
	var p Page
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagTime}
		opts.PrefetchSize = 16
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(seek); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) != timeKeyLen || (after != nil && string(k) == string(after)) {
				continue
			}
			if stop != nil && string(k) >= string(stop) {
				break
			}
			if q.Camera != "" || q.Owner != "" {
				var keep bool
				if err := item.Value(func(v []byte) error {
					owner, camera, ok := parseTimeValue(v)
					keep = ok && (q.Camera == "" || camera == q.Camera) && (q.Owner == "" || owner == q.Owner)
					return nil
				}); err != nil {
					return err
				}
				if !keep {
					continue
				}
			}
			if len(p.Clips) == q.Limit {
				last := timeKey(p.Clips[len(p.Clips)-1].M.GetStart(), p.Clips[len(p.Clips)-1].ClipID())
				p.Next = base64.RawURLEncoding.EncodeToString(last[1:])
				return nil
			}
			l, err := s.getLocal(txn, record.ID(k[1+8:]))
			if errors.Is(err, ErrNotFound) {
				continue // the manifest expired a moment before its index entry
			}
			if err != nil {
				return err
			}
			c := Listed{SignedManifest: l.m, Held: l.expires == 0}
			if !c.Held {
				c.Expires = time.Unix(int64(l.expires), 0)
			}
			p.Clips = append(p.Clips, c)
		}
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("list clips: %w", err)
	}
	return p, nil
}

// CameraCount is a camera and how many stored clips it has.
type CameraCount struct {
	Camera string
	Clips  int
}

// Cameras returns the cameras of the stored clips of owner (empty: of
// every owner), by name, with their clip counts. It reads the time index
// only.
func (s *Store) Cameras(owner peer.ID) ([]CameraCount, error) {
	counts := map[string]int{}
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagTime}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				o, camera, ok := parseTimeValue(v)
				if ok && (owner == "" || o == owner) {
					counts[camera]++
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list cameras: %w", err)
	}
	out := make([]CameraCount, 0, len(counts))
	for c, n := range counts {
		out = append(out, CameraCount{Camera: c, Clips: n})
	}
	slices.SortFunc(out, func(a, b CameraCount) int {
		switch {
		case a.Camera < b.Camera:
			return -1
		case a.Camera > b.Camera:
			return 1
		}
		return 0
	})
	return out, nil
}

// buildTimeIndex is the clip database's migration to version 2: it writes
// the time index entry of every stored manifest, with the manifest's
// expiry. Running it again rewrites the same entries.
func buildTimeIndex(db *badger.DB) error {
	type todo struct {
		k, v    []byte
		expires uint64
	}
	var all []todo
	err := db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagManifest}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if len(item.Key()) != 1+len(record.ID{}) {
				continue
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) <= localHeader || v[0] != localVersion {
				return fmt.Errorf("clip %x: corrupt manifest entry (%d bytes)", item.Key()[1:], len(v))
			}
			m, err := OpenManifest(v[localHeader:])
			if err != nil {
				return fmt.Errorf("clip %x: stored manifest: %w", item.Key()[1:], err)
			}
			all = append(all, todo{timeKey(m.M.GetStart(), m.ClipID()), timeValue(m), item.ExpiresAt()})
		}
		return nil
	})
	if err != nil {
		return err
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range all {
		if err := wb.SetEntry(entry(e.k, e.v, e.expires)); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	return db.Sync()
}

// CountOverlapping counts the stored clips of owner (empty: of any owner)
// recorded during [from, to]: started at or before to, and ended (or, with
// no end known, started) at or after from. It reads the time index only,
// from to back to the oldest clip, so it costs no manifest read.
func (s *Store) CountOverlapping(owner peer.ID, from, to time.Time) (int, error) {
	n := 0
	fromMS, toMS := from.UnixMilli(), to.UnixMilli()
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagTime}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(timeKey(toMS, record.ID{})); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != timeKeyLen {
				continue
			}
			start := int64(^binary.BigEndian.Uint64(k[1:9]) ^ (1 << 63))
			err := it.Item().Value(func(v []byte) error {
				o, _, ok := parseTimeValue(v)
				if !ok || (owner != "" && o != owner) {
					return nil
				}
				end := int64(binary.BigEndian.Uint64(v[:8]))
				if end == 0 || end < start {
					end = start
				}
				if end >= fromMS {
					n++
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count clips: %w", err)
	}
	return n, nil
}
