package frigate

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/porchlight-mesh/porchlight/store"
)

// The importer's tables in the records database (declared in
// store/keys.go):
//
//	store.FrigatePending  Q E -> JSON pending: event E, its clip still to import
//	store.FrigateDone     E E -> JSON done: event E handled; expires after doneFor
//
// E is the event ID as Frigate writes it (validID).

// doneFor is how long an event handled is remembered: longer than
// Frigate keeps events (10 days by default), so an event seen again, by a
// restart or a replay, is not imported again.
const doneFor = 90 * 24 * time.Hour

// pending is an event waiting for its clip.
type pending struct {
	Camera   string    `json:"camera"` // from the MQTT message; checked again against Frigate's answer
	Queued   time.Time `json:"queued"`
	Attempts int       `json:"attempts"`   // attempts at which Frigate answered and the import still failed
	NotAt    time.Time `json:"not_before"` // no attempt before this
}

// done says how an event was handled.
type done struct {
	Clip    string    `json:"clip,omitempty"`    // the clip imported
	Refused string    `json:"refused,omitempty"` // why it was not, for good
	At      time.Time `json:"at"`
}

// errFull: the queue holds MaxPending events.
var errFull = errors.New("the queue of Frigate events to import is full")

// enqueue queues event id, unless it is queued or handled already; added
// reports whether it was queued now.
func (im *Importer) enqueue(id, camera string) (added bool, err error) {
	p, err := json.Marshal(pending{Camera: camera, Queued: im.now(), NotAt: im.now().Add(im.cfg.Settle)})
	if err != nil {
		return false, err
	}
	err = im.cfg.DB.Update(func(tx *store.Txn) error {
		for _, t := range []store.Table{store.FrigateDone, store.FrigatePending} {
			if ok, err := tx.Has(t, []byte(id)); err != nil || ok {
				return err
			}
		}
		n := 0
		if err := tx.Scan(store.FrigatePending, nil, store.ScanOptions{KeysOnly: true}, func(store.Item) error {
			if n++; n >= im.cfg.MaxPending {
				return errFull
			}
			return nil
		}); err != nil {
			return err
		}
		added = true
		return tx.Put(store.FrigatePending, []byte(id), p)
	})
	if err != nil {
		return false, err
	}
	return added, nil
}

// queued is one entry of the queue.
type queued struct {
	id string
	pending
}

// next returns the first queued event due now, or, when none is, when
// the first will be (the zero Time: the queue is empty), and the length
// of the queue.
func (im *Importer) next() (due *queued, at time.Time, n int, err error) {
	now := im.now()
	err = im.cfg.DB.View(func(tx *store.Txn) error {
		return tx.Scan(store.FrigatePending, nil, store.ScanOptions{}, func(it store.Item) error {
			n++
			v, err := it.Value()
			if err != nil {
				return err
			}
			var p pending
			if err := json.Unmarshal(v, &p); err != nil {
				p = pending{} // an unreadable entry is tried now; Frigate says what the event is
			}
			if due == nil && !p.NotAt.After(now) {
				due = &queued{id: string(it.Key()), pending: p}
			}
			if at.IsZero() || p.NotAt.Before(at) {
				at = p.NotAt
			}
			return nil
		})
	})
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("read the Frigate queue: %w", err)
	}
	return due, at, n, nil
}

// retryLater puts q back with its next attempt at notAt.
func (im *Importer) retryLater(q *queued) error {
	p, err := json.Marshal(q.pending)
	if err != nil {
		return err
	}
	return im.cfg.DB.Update(func(tx *store.Txn) error {
		if ok, err := tx.Has(store.FrigatePending, []byte(q.id)); err != nil || !ok {
			return err
		}
		return tx.Put(store.FrigatePending, []byte(q.id), p)
	})
}

// finish takes event id off the queue and records how it was handled, in
// one transaction, synced: once it returns, the event is never imported
// again.
func (im *Importer) finish(id string, d done) error {
	d.At = im.now()
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	err = im.cfg.DB.Update(func(tx *store.Txn) error {
		if err := tx.Delete(store.FrigatePending, []byte(id)); err != nil {
			return err
		}
		return tx.PutExpiring(store.FrigateDone, []byte(id), v, d.At.Add(doneFor))
	})
	if err != nil {
		return fmt.Errorf("record Frigate event %s as handled: %w", id, err)
	}
	return im.cfg.DB.Sync()
}

// drop takes event id off the queue without recording it: Frigate does
// not know it (a forged or deleted event), so nothing is remembered of it.
func (im *Importer) drop(id string) error {
	return im.cfg.DB.Update(func(tx *store.Txn) error { return tx.Delete(store.FrigatePending, []byte(id)) })
}
