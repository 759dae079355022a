package store

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
)

// Heads returns the head of every author this node has records of.
func (d *DB) Heads() ([]Head, error) {
	var heads []Head
	err := d.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagHead}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) < 2 || len(k) != 2+int(k[1]) {
				return errors.New("corrupt head key")
			}
			h, err := getHead(txn, peer.ID(k[2:]))
			if err != nil {
				return err
			}
			if err := withFloor(txn, &h); err != nil {
				return err
			}
			heads = append(heads, h)
		}
		return nil
	})
	return heads, err
}

// HeadsAfter returns up to limit heads of the authors after the given one,
// in author order: by the length of the ID's bytes, then bytewise (every
// author is an Ed25519 ID of the same length, so in practice bytewise).
// after "" starts at the first author. Sync pages through the heads with it.
func (d *DB) HeadsAfter(after peer.ID, limit int) ([]Head, error) {
	var heads []Head
	if limit <= 0 || len(after) > 255 { // no stored ID is that long: none sorts after it
		return nil, nil
	}
	err := d.bdb.View(func(txn *badger.Txn) error {
		// Two iterators in step, heads and equivocation flags (both keyed
		// by author in the same order), rather than two point lookups per
		// head: a lookup that misses (most authors have no flag) searches
		// every level of the LSM tree, and sync walks every head on every
		// pull.
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagHead}
		it := txn.NewIterator(opts)
		defer it.Close()
		fopts := badger.DefaultIteratorOptions
		fopts.Prefix = []byte{tagFlag}
		fopts.PrefetchValues = false
		flags := txn.NewIterator(fopts)
		defer flags.Close()
		start, fstart := opts.Prefix, fopts.Prefix
		if after != "" {
			start, fstart = authorKey(tagHead, after), authorKey(tagFlag, after)
		}
		flags.Seek(fstart)
		fl := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{tagFloor}})
		defer fl.Close()
		if after != "" {
			fl.Seek(authorKey(tagFloor, after))
		} else {
			fl.Rewind()
		}
		for it.Seek(start); it.Valid() && len(heads) < limit; it.Next() {
			k := it.Item().Key()
			if len(k) < 2 || len(k) != 2+int(k[1]) {
				return errors.New("corrupt head key")
			}
			a := peer.ID(k[2:])
			if a == after {
				continue
			}
			h := Head{Author: a}
			err := it.Item().Value(func(v []byte) error { return decodeHead(&h, v) })
			if err != nil {
				return err
			}
			for ; flags.Valid(); flags.Next() {
				fk := flags.Item().Key()
				if len(fk) < 2 || len(fk) != 2+int(fk[1]) {
					return errors.New("corrupt equivocation flag key")
				}
				if fa := peer.ID(fk[2:]); !AuthorLess(fa, a) {
					h.Flagged = fa == a
					break
				}
			}
			for ; fl.Valid(); fl.Next() {
				fk := fl.Item().Key()
				if len(fk) < 2 || len(fk) != 2+int(fk[1]) {
					return errors.New("corrupt log floor key")
				}
				if fa := peer.ID(fk[2:]); !AuthorLess(fa, a) {
					if fa == a {
						var f floor
						if err := fl.Item().Value(func(v []byte) error { return decodeFloor(&f, v) }); err != nil {
							return err
						}
						h.Floor, h.FloorCreated = f.seq, f.created
					}
					break
				}
			}
			heads = append(heads, h)
		}
		return nil
	})
	return heads, err
}

// AuthorLess reports whether author a sorts before b in the order of
// HeadsAfter.
func AuthorLess(a, b peer.ID) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// Head returns the head of one author's log (all zero if none is stored).
func (d *DB) Head(a peer.ID) (Head, error) {
	var h Head
	err := d.bdb.View(func(txn *badger.Txn) (err error) {
		if h, err = getHead(txn, a); err != nil {
			return err
		}
		return withFloor(txn, &h)
	})
	return h, err
}

func withFloor(txn *badger.Txn, h *Head) error {
	f, err := getFloor(txn, h.Author)
	h.Floor, h.FloorCreated = f.seq, f.created
	return err
}

// Slot is one position of an author's log as served to peers.
type Slot struct {
	Seq uint64
	ID  record.ID
	Raw []byte // nil when the record was retracted and purged
}

// Slots returns the stored slots of a's log with seq >= from, in order,
// including equivocating second versions (after the first), stopping after
// maxCount slots or once maxBytes of envelopes have been collected.
// more reports whether slots remain past the last one returned.
func (d *DB) Slots(a peer.ID, from uint64, maxCount, maxBytes int) (slots []Slot, more bool, err error) {
	err = d.bdb.View(func(txn *badger.Txn) error {
		size := 0
		for _, tag := range []byte{tagLog, tagExtra} {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = authorKey(tag, a)
			it := txn.NewIterator(opts)
			for it.Seek(seqKey(tag, a, from)); it.ValidForPrefix(opts.Prefix); it.Next() {
				if len(slots) >= maxCount || size >= maxBytes {
					more = true
					break
				}
				k := it.Item().Key()
				seq := binary.BigEndian.Uint64(k[len(opts.Prefix):])
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return err
				}
				s := Slot{Seq: seq}
				if tag == tagExtra {
					s.Raw, s.ID = v, record.IDOf(v)
				} else {
					sl, _, err := decodeSlot(v)
					if err != nil {
						it.Close()
						return err
					}
					s.Raw, s.ID = sl.raw, sl.id
				}
				size += len(s.Raw) + 48
				slots = append(slots, s)
			}
			it.Close()
			if more {
				break
			}
		}
		return nil
	})
	return slots, more, err
}

// Record returns the stored record with the given ID. It returns ErrNotFound
// if the node never had it, and a Slot-less ErrNotFound too if its content
// was purged by a retraction (see Retracted).
func (d *DB) Record(id record.ID) (*record.Signed, error) {
	var raw []byte
	err := d.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(indexKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		pos, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		a, seq, err := parseAuthorSeq(pos)
		if err != nil {
			return err
		}
		if x, err := txn.Get(append(seqKey(tagExtra, a, seq), id[:]...)); err == nil {
			raw, err = x.ValueCopy(nil)
			return err
		}
		sl, ok, err := getSlot(txn, a, seq)
		if err != nil {
			return err
		}
		if !ok || sl.raw == nil || sl.id != id {
			return ErrNotFound
		}
		raw = sl.raw
		return nil
	})
	if err != nil {
		return nil, err
	}
	return record.DecodeTrusted(raw)
}

// Name returns an author's latest profile name, or "" if none is known.
func (d *DB) Name(a peer.ID) (string, error) {
	var name string
	err := d.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(authorKey(tagProfile, a))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) >= 8 {
				name = string(v[8:])
			}
			return nil
		})
	})
	return name, err
}

// Equivocation returns the proof that a flagged author signed two records at
// one seq: both envelopes. ok is false if the author is not flagged.
func (d *DB) Equivocation(a peer.ID) (seq uint64, proof [][]byte, ok bool, err error) {
	err = d.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(authorKey(tagFlag, a))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil || len(v) != 8 {
			return errors.Join(err, errors.New("corrupt equivocation flag"))
		}
		seq, ok = binary.BigEndian.Uint64(v), true
		sl, found, err := getSlot(txn, a, seq)
		if err != nil {
			return err
		}
		if found && sl.raw != nil {
			proof = append(proof, sl.raw)
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = seqKey(tagExtra, a, seq)
		x := txn.NewIterator(opts)
		defer x.Close()
		for x.Rewind(); x.Valid(); x.Next() {
			raw, err := x.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			proof = append(proof, raw)
		}
		return nil
	})
	return seq, proof, ok, err
}

// Cursor is a position in the feed: posts sort by the authors' created time,
// then by ID. The zero Cursor is "newest".
type Cursor struct {
	Created int64 // Unix ms
	ID      record.ID
}

// CursorAt is the position of a post, to ask for the page after it.
func CursorAt(s *record.Signed) Cursor { return Cursor{Created: s.Entry.GetCreated(), ID: s.ID} }

// Feed returns up to limit live posts, newest first, strictly before the
// cursor (the zero Cursor: from the newest). Cursor{Created: t} lists posts
// created before t.
func (d *DB) Feed(limit int, before Cursor) ([]*record.Signed, error) {
	var out []*record.Signed
	err := d.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		start := []byte{tagFeed + 1}
		if before != (Cursor{}) {
			start = feedKey(before.Created, before.ID)
		}
		var pv []byte
		for it.Seek(start); it.ValidForPrefix([]byte{tagFeed}) && len(out) < limit; it.Next() {
			k := it.Item().Key()
			if bytes.Compare(k, start) >= 0 {
				continue
			}
			var id record.ID
			copy(id[:], k[9:])
			var err error
			if pv, err = it.Item().ValueCopy(pv[:0]); err != nil {
				return err
			}
			if len(pv) == 0 { // written before feed entries held A S
				pos, err := txn.Get(indexKey(id))
				if err != nil {
					return err
				}
				if pv, err = pos.ValueCopy(pv[:0]); err != nil {
					return err
				}
			}
			a, seq, err := parseAuthorSeq(pv)
			if err != nil {
				return err
			}
			sl, ok, err := getSlot(txn, a, seq)
			if err != nil {
				return err
			}
			if !ok || sl.raw == nil || sl.id != id {
				continue
			}
			s, err := record.DecodeTrusted(sl.raw)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// IngestStub fills a's log slot seq with the ID of a record whose content
// was purged by a retraction, as a peer serves it in catch-up. It is accepted
// only if this node holds the author's signed retraction of exactly that
// record; otherwise ok is false and nothing is stored. A log held from a
// floor (horizon.go) takes a stub below it only just below it (backfill),
// and its floor moves down to it.
func (d *DB) IngestStub(a peer.ID, seq uint64, id record.ID) (ok bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.wrote(a)
	err = d.bdb.Update(func(txn *badger.Txn) error {
		tomb, err := txn.Get(seqKey(tagTomb, a, seq))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		t, err := tomb.ValueCopy(nil)
		if err != nil || !bytes.Equal(t, id[:]) {
			return err
		}
		if _, found, err := getSlot(txn, a, seq); err != nil || found {
			return err
		}
		f, err := getFloor(txn, a)
		if err != nil {
			return err
		}
		if f.seq > 0 && seq < f.seq-1 {
			return nil
		}
		if err := txn.Set(seqKey(tagLog, a, seq), append([]byte{slotPurged}, id[:]...)); err != nil {
			return err
		}
		if err := txn.Set(indexKey(id), seqKey(0, a, seq)[1:]); err != nil {
			return err
		}
		h, err := getHead(txn, a)
		if err != nil {
			return err
		}
		if _, err := d.advanceHead(txn, h, seq, id); err != nil {
			return err
		}
		if f.seq > 0 && seq == f.seq-1 {
			if err := lowerFloor(txn, a, seq); err != nil {
				return err
			}
		}
		ok = true
		return nil
	})
	return ok, err
}

// LogSlots calls f with each slot of a's log held with from <= seq <= to,
// in order; seqs this node lacks are skipped, and equivocating second
// versions are not included. A slot's Raw is nil when the record was
// retracted and purged, and is valid only during the call. An error from
// f ends the walk and is returned (ErrStop ends it with nil).
func (d *DB) LogSlots(a peer.ID, from, to uint64, f func(Slot) error) error {
	if from > to {
		return nil
	}
	err := d.bdb.View(func(txn *badger.Txn) error {
		if to-from < 8 {
			// A few slots (the usual walk reads one or two): point reads
			// are cheaper than an iterator.
			for seq := from; seq <= to; seq++ {
				it, err := txn.Get(seqKey(tagLog, a, seq))
				if errors.Is(err, badger.ErrKeyNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if err := it.Value(func(v []byte) error { return callSlot(seq, v, f) }); err != nil {
					return err
				}
			}
			return nil
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = authorKey(tagLog, a)
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(seqKey(tagLog, a, from)); it.ValidForPrefix(opts.Prefix); it.Next() {
			k := it.Item().Key()
			seq := binary.BigEndian.Uint64(k[len(opts.Prefix):])
			if seq > to {
				return nil
			}
			if err := it.Item().Value(func(v []byte) error { return callSlot(seq, v, f) }); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

func callSlot(seq uint64, v []byte, f func(Slot) error) error {
	sl, _, err := decodeSlot(v)
	if err != nil {
		return err
	}
	return f(Slot{Seq: seq, ID: sl.id, Raw: sl.raw})
}

// Omissions returns every YieldOmission record held in a log slot (the o
// index), in no particular order. An index entry whose slot now holds
// another record is skipped.
func (d *DB) Omissions() ([]*record.Signed, error) {
	var out []*record.Signed
	err := d.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagOmission}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(opts.Prefix); it.Next() {
			var id record.ID
			copy(id[:], it.Item().Key()[1:])
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			a, seq, err := parseAuthorSeq(v)
			if err != nil {
				return err
			}
			sl, ok, err := getSlot(txn, a, seq)
			if err != nil {
				return err
			}
			if !ok || sl.raw == nil || sl.id != id {
				continue
			}
			s, err := record.DecodeTrusted(sl.raw)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}
