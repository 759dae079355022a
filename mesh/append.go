package mesh

import (
	"errors"
	"time"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// Append writes a record to this node's own log (durably) and gossips it on
// the topic of its kind. Domain packages (feed, requests) build the body
// and check it first; Config.Rules judges it before it is stored, so a
// violation is a *record.Invalid and nothing is written. The first write
// after an unclean start waits for the log's recovery (ErrAwaitingLog).
func (m *Mesh) Append(body func(*pb.Entry)) (*record.Signed, error) {
	if err := m.ensureProfile(); err != nil {
		return nil, err
	}
	var check func(*record.Signed) error
	if m.cfg.Rules != nil {
		check = m.cfg.Rules.CheckEntry
	}
	if err := m.awaitRecovery(); err != nil {
		return nil, err
	}
	s, err := m.cfg.Store.AppendOwnUnsynced(m.cfg.Key, body, check)
	if err != nil {
		return nil, err
	}
	// Gossip while the disk syncs; the caller hears "written" only after
	// the sync. If the machine loses power in between, neighbors may hold
	// a record this node lost: awaitRecovery gets it back before the next
	// write, so the log is continued, not forked.
	m.publish(s)
	if err := m.cfg.Store.SyncOwn(); err != nil {
		return nil, err
	}
	m.metrics.accepted.WithLabelValues("own").Inc()
	return s, nil
}

// ErrAwaitingLog is returned by writes of a node whose key was restored
// onto an empty database (Config.KeyMayHaveLog) before any neighbor has
// returned its log.
var ErrAwaitingLog = errors.New("this home's identity was restored onto an empty database, and no neighbor has returned its log yet; " +
	"writing now would fork the log and get the home flagged as an equivocator: connect to a neighbor (check the network, or add one with --peer) and try again")

// awaitRecovery holds this node's first write after an unclean shutdown
// until it has synced with a neighbor (or recoveryWait passed alone), so
// that own records that reached neighbors but not this disk come back
// first. A restored key with an empty log (mustRecover) waits for the sync
// however long it takes: the write fails with ErrAwaitingLog meanwhile.
func (m *Mesh) awaitRecovery() error {
	if m.mustRecover {
		t := time.NewTimer(recoveryWait)
		defer t.Stop()
		select {
		case <-m.firstSynced:
			return nil
		case <-t.C:
			return ErrAwaitingLog
		case <-m.ctx.Done():
			return m.ctx.Err()
		}
	}
	if m.cfg.Store.CleanStart() {
		return nil
	}
	t := time.NewTimer(recoveryWait)
	defer t.Stop()
	select {
	case <-m.firstSynced:
	case <-t.C:
	case <-m.ctx.Done():
		return m.ctx.Err()
	}
	return nil
}

// recoveryWait bounds awaitRecovery for a node with no neighbor in reach.
const recoveryWait = 10 * time.Second

// ensureProfile publishes this home's name if its log does not carry it
// yet. New calls it after the first sync round (or a few seconds alone), so
// a node that lost its disk gets its old log back from its neighbors before
// it writes, instead of forking its own log.
func (m *Mesh) ensureProfile() error {
	if err := m.awaitRecovery(); err != nil {
		return err
	}
	m.profileMu.Lock()
	defer m.profileMu.Unlock()
	name, err := m.cfg.Store.Name(m.self)
	if err != nil {
		return err
	}
	h, err := m.cfg.Store.Head(m.self)
	if err != nil {
		return err
	}
	if h.Max > 0 && name == m.cfg.Name {
		return nil
	}
	// Judged by the Rules like any own record: a name change right after
	// a burst of posts would be refused by every neighbor (per-author
	// limits), and a refused record would block the rest of the log. It
	// waits for the next write or start instead.
	var check func(*record.Signed) error
	if m.cfg.Rules != nil {
		check = m.cfg.Rules.CheckEntry
	}
	s, err := m.cfg.Store.AppendOwnUnsynced(m.cfg.Key, func(e *pb.Entry) {
		e.Body = &pb.Entry_Profile{Profile: &pb.Profile{Name: m.cfg.Name}}
	}, check)
	var inv *record.Invalid
	switch {
	case errors.As(err, &inv) && h.Max > 0:
		m.cfg.Logger.Warn("this home's new name is not published yet", "reason", inv.Detail)
		return nil
	case err != nil:
		return err
	}
	m.publish(s)
	return m.cfg.Store.SyncOwn()
}
