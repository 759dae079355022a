package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
)

// The horizon (see doc.go, "Horizon"): a node keeps feed posts for a
// horizon (a year by default) and agency logs forever. Two things follow.
//
// A newcomer's copy of a feed log may begin mid-log: its floor, the
// lowest seq it holds, is the newest record its neighbor had that was
// created before the horizon (IngestStart). Head.Contig then counts from
// the floor, not from seq 1, and the records below it are fetched newest
// first (IngestBelow), each checked against the prev of the record above
// it, until the floor's record was created before the horizon or the floor
// reaches seq 1. Nothing a peer says moves a floor up: a peer that starts a
// log too high only delays the backfill, which any other peer completes.
//
// A node purges the content of feed posts created before its horizon
// (PruneBefore), keeping their IDs in purged slots (as a retraction does)
// so every log still verifies, and keeping per log the newest post created
// before the horizon: it is where a newcomer's copy starts, and proves the
// start is old enough.

// floorKey is "b A": the floor of a log that starts mid-way. Value: the
// floor's seq (8) and the created time of the record there (8, Unix ms;
// 0 when the slot is purged and its time unknown).
func floorKey(a peer.ID) []byte { return authorKey(tagFloor, a) }

type floor struct {
	seq     uint64
	created int64
}

func getFloor(txn *badger.Txn, a peer.ID) (floor, error) {
	it, err := txn.Get(floorKey(a))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return floor{}, nil
	}
	if err != nil {
		return floor{}, err
	}
	var f floor
	err = it.Value(func(v []byte) error { return decodeFloor(&f, v) })
	return f, err
}

func decodeFloor(f *floor, v []byte) error {
	if len(v) != 16 {
		return errors.New("corrupt log floor")
	}
	f.seq, f.created = binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:]))
	return nil
}

// putFloor moves a's floor to seq, holding raw (nil: a purged slot);
// seq 1 is no floor at all.
func putFloor(txn *badger.Txn, a peer.ID, seq uint64, raw []byte) error {
	if seq <= 1 {
		return txn.Delete(floorKey(a))
	}
	var created int64
	if raw != nil {
		s, err := record.DecodeTrusted(raw)
		if err != nil {
			return err
		}
		created = s.Entry.GetCreated()
	}
	v := binary.BigEndian.AppendUint64(nil, seq)
	return txn.Set(floorKey(a), binary.BigEndian.AppendUint64(v, uint64(created)))
}

// BackfillDone reports whether a head needs no records below its floor
// for a horizon of horizonMs (Unix ms; 0: no horizon, every record): its
// log starts at seq 1, or its floor's record was created before the
// horizon.
func (h Head) BackfillDone(horizonMs int64) bool {
	return h.Floor <= 1 || horizonMs > 0 && h.FloorCreated != 0 && h.FloorCreated < horizonMs
}

// IngestStart stores s as the start of its author's log on this node (its
// floor), for a newcomer syncing from a horizon: s's log holds nothing at
// or below s.Seq here yet. Otherwise (the log is already held from below,
// or s is seq 1) it is Ingest. The floor is no claim that the records
// below are old: backfill (IngestBelow) fetches them down to the horizon.
func (d *DB) IngestStart(s *record.Signed) (Result, error) {
	return d.write(func(txn *badger.Txn) (Result, error) {
		if err := d.checkHood(s); err != nil {
			return Result{}, err
		}
		seq := s.Seq()
		h, err := getHead(txn, s.Author)
		if err != nil {
			return Result{}, err
		}
		f, err := getFloor(txn, s.Author)
		if err != nil {
			return Result{}, err
		}
		low, err := lowestSlot(txn, s.Author)
		if err != nil {
			return Result{}, err
		}
		if seq > 1 && h.Contig == 0 && f.seq == 0 && (low == 0 || low > seq) {
			if err := putFloor(txn, s.Author, seq, s.Raw); err != nil {
				return Result{}, err
			}
			// Contig counts from the floor: the record at the floor is
			// the next contiguous one.
			h.Contig, h.ID = seq-1, s.Prev()
			if err := putHead(txn, h); err != nil {
				return Result{}, err
			}
		}
		return d.ingest(txn, s)
	})
}

// IngestBelow stores s, the record just below its author's floor, and
// lowers the floor to it. s must be the record the floor's record names as
// its prev (when the floor's content is held); a record that is not at
// floor-1 or does not match is refused (ReasonPrevMismatch) and nothing is
// stored. Records below the floor are verified like any other before they
// get here (record.Open); this checks their place in the chain.
func (d *DB) IngestBelow(s *record.Signed) (Result, error) {
	return d.write(func(txn *badger.Txn) (Result, error) {
		if err := d.checkHood(s); err != nil {
			return Result{}, err
		}
		a, seq := s.Author, s.Seq()
		f, err := getFloor(txn, a)
		if err != nil {
			return Result{}, err
		}
		if f.seq < 2 || seq != f.seq-1 {
			return Result{}, record.Invalidf(record.ReasonPrevMismatch, "record %d of %s is not just below this node's floor %d", seq, a, f.seq)
		}
		above, ok, err := getSlot(txn, a, f.seq)
		if err != nil {
			return Result{}, err
		}
		if ok && above.raw != nil {
			up, err := record.DecodeTrusted(above.raw)
			if err != nil {
				return Result{}, err
			}
			if up.Prev() != s.ID {
				return Result{}, record.Invalidf(record.ReasonPrevMismatch, "record %d of %s (%.12s) is not the prev of the record above it (%.12s)", seq, a, s.ID, up.Prev())
			}
		}
		res := Result{Outcome: Duplicate}
		if _, err := txn.Get(indexKey(s.ID)); errors.Is(err, badger.ErrKeyNotFound) {
			ignored, err := d.applyBody(txn, s)
			if err != nil {
				return Result{}, err
			}
			if err := d.putSlot(txn, s); err != nil {
				return Result{}, err
			}
			res = Result{Outcome: Added, Ignored: ignored}
		} else if err != nil {
			return Result{}, err
		}
		return res, lowerFloor(txn, a, seq)
	})
}

// lowerFloor moves a's floor down to seq, then on through any slots held
// just below it.
func lowerFloor(txn *badger.Txn, a peer.ID, seq uint64) error {
	for seq > 1 {
		if _, ok, err := getSlot(txn, a, seq-1); err != nil || !ok {
			if err != nil {
				return err
			}
			break
		}
		seq--
	}
	sl, _, err := getSlot(txn, a, seq)
	if err != nil {
		return err
	}
	return putFloor(txn, a, seq, sl.raw)
}

// lowestSlot returns the lowest seq of a's log held here (0: none).
func lowestSlot(txn *badger.Txn, a peer.ID) (uint64, error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = authorKey(tagLog, a)
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Rewind()
	if !it.Valid() {
		return 0, nil
	}
	k := it.Item().Key()
	return binary.BigEndian.Uint64(k[len(opts.Prefix):]), nil
}

// write runs f in one write transaction under the writer's lock.
func (d *DB) write(f func(txn *badger.Txn) (Result, error)) (Result, error) {
	if err := d.cfg.Health.Err(); err != nil {
		return Result{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.gen.Add(1)
	var res Result
	err := d.bdb.Update(func(txn *badger.Txn) error {
		var err error
		res, err = f(txn)
		return err
	})
	if se := d.cfg.Health.Report(d.cfg.Dir, err); se != nil {
		return res, fmt.Errorf("%w (%w)", se, err)
	}
	return res, err
}

func (d *DB) checkHood(s *record.Signed) error {
	if n := s.Entry.GetNeighborhood(); n != d.cfg.Neighborhood && (d.cfg.Elsewhere == nil || !d.cfg.Elsewhere(s.Author)) {
		return record.Invalidf(record.ReasonNeighborhood, "record of neighborhood %q, this node is in %q", n, d.cfg.Neighborhood)
	}
	return nil
}

// HorizonStart returns where a newcomer's copy of a's log begins for a
// horizon of horizonMs (Unix ms): the newest held record created before
// it, found walking down from the head (purged slots, whose time is
// unknown, are passed over). 0: the log has none, serve it from seq 1.
// The walk reads at most limit slots (a requester chooses the horizon,
// and an ancient one would have the responder read every log whole):
// past them it returns the lowest record it read, and the requester
// backfills the rest.
func (d *DB) HorizonStart(a peer.ID, horizonMs int64, limit int) (uint64, error) {
	var start uint64
	err := d.bdb.View(func(txn *badger.Txn) error {
		// A log whose first record is inside the horizon is served whole,
		// without the walk: the usual case of a log younger than the
		// horizon, and the one that made the walk's iterator (built over
		// every table, prefetching) a tenth of the scale simulation's CPU.
		// A later record backdated below the horizon is served too: more
		// than the walk would send, never less.
		first, ok, err := getSlot(txn, a, 1)
		if err != nil {
			return err
		}
		if ok && first.raw != nil {
			s, err := record.DecodeTrusted(first.raw)
			if err != nil {
				return err
			}
			if s.Entry.GetCreated() >= horizonMs {
				return nil
			}
		}
		read := 0
		opts := badger.DefaultIteratorOptions
		opts.Prefix = authorKey(tagLog, a)
		opts.Reverse = true
		opts.PrefetchValues = false // the walk usually stops within a few slots
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(append(authorKey(tagLog, a), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)); it.ValidForPrefix(opts.Prefix); it.Next() {
			seq := binary.BigEndian.Uint64(it.Item().Key()[len(opts.Prefix):])
			var created int64
			err := it.Item().Value(func(v []byte) error {
				sl, _, err := decodeSlot(v)
				if err != nil || sl.raw == nil {
					return err
				}
				s, err := record.DecodeTrusted(sl.raw)
				if err != nil {
					return err
				}
				created = s.Entry.GetCreated()
				return nil
			})
			if err != nil {
				return err
			}
			if created != 0 && created < horizonMs {
				if seq > 1 {
					start = seq
				}
				return nil
			}
			if read++; read >= limit && created != 0 {
				if seq > 1 {
					start = seq
				}
				return nil
			}
		}
		return nil
	})
	return start, err
}

// SlotsBelow returns a's slots below seq, newest first, for a requester's
// backfill: it stops after the first record created before horizonMs
// (which is included: it proves the backfill is done), at seq 1, at a
// missing seq, or after maxCount slots or maxBytes of envelopes.
func (d *DB) SlotsBelow(a peer.ID, below uint64, horizonMs int64, maxCount, maxBytes int) ([]Slot, error) {
	var slots []Slot
	if below <= 1 {
		return nil, nil
	}
	err := d.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = authorKey(tagLog, a)
		opts.Reverse = true
		it := txn.NewIterator(opts)
		defer it.Close()
		size, want := 0, below-1
		for it.Seek(seqKey(tagLog, a, want)); it.ValidForPrefix(opts.Prefix); it.Next() {
			if len(slots) >= maxCount || size >= maxBytes {
				return nil
			}
			seq := binary.BigEndian.Uint64(it.Item().Key()[len(opts.Prefix):])
			if seq != want {
				return nil // a hole: the requester's chain cannot go past it
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			sl, _, err := decodeSlot(v)
			if err != nil {
				return err
			}
			slots = append(slots, Slot{Seq: seq, ID: sl.id, Raw: sl.raw})
			size += len(sl.raw) + 48
			if sl.raw != nil {
				s, err := record.DecodeTrusted(sl.raw)
				if err != nil {
					return err
				}
				if c := s.Entry.GetCreated(); horizonMs > 0 && c < horizonMs {
					return nil
				}
			}
			if seq == 1 {
				return nil
			}
			want--
		}
		return nil
	})
	return slots, err
}

// PruneBefore purges the content of up to max feed posts created before
// cutoffMs (Unix ms), oldest first, in one transaction, and reports how
// many it purged and whether more may remain. A purged post keeps its ID
// in its slot (as a retracted one does), so its log still verifies; it
// leaves the feed. Posts of authors keep reports true for (agency logs:
// the public record) are never purged, nor the newest post of each log
// created before the cutoff (see the top of this file): a post is purged
// only when the record after it in its log is held and was created before
// the cutoff too (or is purged already).
func (d *DB) PruneBefore(cutoffMs int64, keep func(peer.ID) bool, max int) (n int, more bool, err error) {
	if err := d.cfg.Health.Err(); err != nil {
		return 0, false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.gen.Add(1)
	err = d.bdb.Update(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagFeed}
		it := txn.NewIterator(opts)
		defer it.Close()
		type post struct {
			key []byte
			a   peer.ID
			seq uint64
			id  record.ID
		}
		var purge []post
		for it.Rewind(); it.ValidForPrefix(opts.Prefix); it.Next() {
			k := it.Item().Key()
			if int64(binary.BigEndian.Uint64(k[1:9])) >= cutoffMs {
				break
			}
			if len(purge) >= max {
				more = true
				break
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) == 0 {
				var id record.ID
				copy(id[:], k[9:])
				pos, err := txn.Get(indexKey(id))
				if err != nil {
					return err
				}
				if v, err = pos.ValueCopy(nil); err != nil {
					return err
				}
			}
			a, seq, err := parseAuthorSeq(v)
			if err != nil {
				return err
			}
			if keep != nil && keep(a) {
				continue
			}
			next, ok, err := getSlot(txn, a, seq+1)
			if err != nil {
				return err
			}
			if !ok {
				continue // the newest record held, or a hole above: keep it
			}
			if next.raw != nil {
				ns, err := record.DecodeTrusted(next.raw)
				if err != nil {
					return err
				}
				if ns.Entry.GetCreated() >= cutoffMs {
					continue // the log's newest post before the cutoff
				}
			}
			var id record.ID
			copy(id[:], k[9:])
			purge = append(purge, post{key: it.Item().KeyCopy(nil), a: a, seq: seq, id: id})
		}
		for _, p := range purge {
			sl, ok, err := getSlot(txn, p.a, p.seq)
			if err != nil {
				return err
			}
			if ok && sl.id == p.id {
				if err := txn.Set(seqKey(tagLog, p.a, p.seq), append([]byte{slotPurged}, p.id[:]...)); err != nil {
					return err
				}
			}
			if err := txn.Delete(p.key); err != nil {
				return err
			}
		}
		n = len(purge)
		return nil
	})
	if se := d.cfg.Health.Report(d.cfg.Dir, err); se != nil {
		return 0, false, fmt.Errorf("%w (%w)", se, err)
	}
	return n, more, err
}
