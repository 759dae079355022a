package requests

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// Credential statuses.
const (
	StatusValid   = "valid"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// credentials returns an agency's stored credentials from trusted issuers,
// newest validity first.
func (s *Service) credentials(a peer.ID) ([]*record.Doc, error) {
	var out []*record.Doc
	prefix := agencyPrefix(a)
	err := s.db.View(func(txn *store.Txn) error {
		return txn.Scan(store.AgencyCredentials, prefix, store.ScanOptions{KeysOnly: true}, func(it store.Item) error {
			var id record.ID
			copy(id[:], it.Key()[len(prefix):])
			d, err := s.getDoc(txn, id)
			if err != nil {
				return err
			}
			if d != nil && s.isTrusted(d.Issuer) {
				out = append(out, d)
			}
			return nil
		})
	})
	sortCredentials(out)
	return out, err
}

// sortCredentials sorts one agency's credentials, read in key order,
// newest validity first.
func sortCredentials(ds []*record.Doc) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].Credential.GetNotAfter() > ds[j].Credential.GetNotAfter() })
}

// credentialStatus judges a credential at time t.
func (s *Service) credentialStatus(d *record.Doc, t time.Time) (string, error) {
	rev, err := s.revocation(d.ID)
	if err != nil {
		return "", err
	}
	if rev != nil && rev.through > 0 {
		// Past the last position the revocation covers, any new request
		// is refused, whatever the time.
		h, err := s.db.Head(peer.ID(d.Credential.GetAgency()))
		if err != nil {
			return "", err
		}
		if h.Max >= rev.through {
			return StatusRevoked, nil
		}
	}
	switch {
	case rev != nil && rev.at <= t.UnixMilli():
		return StatusRevoked, nil
	case !d.Valid(t):
		return StatusExpired, nil
	}
	return StatusValid, nil
}

// Agencies lists every agency with a credential from a trusted issuer, by
// name, then ID.
func (s *Service) Agencies(now time.Time) ([]Agency, error) {
	certs, err := s.certifiedAgencies()
	if err != nil {
		return nil, err
	}
	oms, err := s.omissionRecords() // read once, not once per agency
	if err != nil {
		return nil, err
	}
	var out []Agency
	for _, c := range certs {
		ag, err := s.agency(c, now, oms)
		if err != nil {
			return nil, err
		}
		out = append(out, ag)
	}
	return out, nil
}

// certifiedAgency is an agency that credentials from trusted issuers
// name, with those credentials, newest validity first (never none).
type certifiedAgency struct {
	id    peer.ID
	creds []*record.Doc
}

func (c certifiedAgency) name() string { return c.creds[0].Credential.GetName() }

// certifiedAgencies lists the agencies credentials from trusted issuers
// name, in Agencies' order: by the name on the credential of the newest
// validity, then by ID.
func (s *Service) certifiedAgencies() ([]certifiedAgency, error) {
	// One scan, not one per agency: what credentials does for each.
	var out []certifiedAgency
	err := s.db.View(func(txn *store.Txn) error {
		return txn.Scan(store.AgencyCredentials, nil, store.ScanOptions{KeysOnly: true}, func(it store.Item) error {
			k := it.Key()
			if len(k) <= 1 || len(k) < 1+int(k[0]) {
				return nil
			}
			a := peer.ID(k[1 : 1+int(k[0])])
			var id record.ID
			copy(id[:], k[1+int(k[0]):])
			d, err := s.getDoc(txn, id)
			if err != nil || d == nil || !s.isTrusted(d.Issuer) {
				return err
			}
			// An agency's keys are adjacent, in the order credentials
			// reads them.
			if n := len(out); n > 0 && out[n-1].id == a {
				out[n-1].creds = append(out[n-1].creds, d)
			} else {
				out = append(out, certifiedAgency{id: a, creds: []*record.Doc{d}})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, c := range out {
		sortCredentials(c.creds)
	}
	sort.Slice(out, func(i, j int) bool {
		ni, nj := out[i].name(), out[j].name()
		return ni < nj || ni == nj && out[i].id < out[j].id
	})
	return out, nil
}

// Agency is an agency's public history.
type Agency struct {
	ID               peer.ID
	Name             string
	Issuer           peer.ID
	CredentialStatus string
	ValidUntil       time.Time
	Requests         int
	Open             int
	Closed           int
	AreaHours        float64 // sum over requests of square miles x hours
	Equivocation     bool
	Proof            [][]byte // both envelopes, when Equivocation
	// Omissions: yield omissions proven against this agency (valid
	// YieldOmission records of homes, judged against its log).
	Omissions []Omission
	// Head is the last seq of the agency's log this node holds without a
	// gap: what an issuer names in RevokeThrough to pin a revocation.
	Head uint64
}

// Agency returns one agency's history; ok is false if no trusted credential
// names it.
func (s *Service) Agency(a peer.ID, now time.Time) (Agency, bool, error) {
	creds, err := s.credentials(a)
	if err != nil || len(creds) == 0 {
		return Agency{}, false, err
	}
	oms, err := s.omissionRecords()
	if err != nil {
		return Agency{}, false, err
	}
	ag, err := s.agency(certifiedAgency{id: a, creds: creds}, now, oms)
	return ag, err == nil, err
}

// agency builds c's history, its omissions judged from oms
// (omissionRecords).
func (s *Service) agency(c certifiedAgency, now time.Time, oms []*record.Signed) (Agency, error) {
	a, cred := c.id, c.creds[0]
	ag := Agency{ID: a, Name: cred.Credential.GetName(), Issuer: cred.Issuer, ValidUntil: time.UnixMilli(cred.Credential.GetNotAfter())}
	var err error
	if ag.CredentialStatus, err = s.credentialStatus(cred, now); err != nil {
		return ag, err
	}
	err = s.withLogs([]peer.ID{a}, func(logs []*agencyLog) {
		l := logs[0]
		ag.Requests, ag.Open = len(l.items), l.open
		ag.Closed = ag.Requests - ag.Open // every request is open or closed
		ag.AreaHours = round3(l.areaHours)
	})
	if err != nil {
		return ag, err
	}
	_, proof, flagged, err := s.db.Equivocation(a)
	if err != nil {
		return ag, err
	}
	ag.Equivocation, ag.Proof = flagged, proof
	if ag.Omissions, err = s.omissionsAgainst(a, oms); err != nil {
		return ag, err
	}
	h, err := s.db.Head(a)
	if err != nil {
		return ag, err
	}
	ag.Head = h.Contig
	return ag, nil
}

// withItems calls f with an agency's requests as its log stands now, in
// log order; f must not keep or modify them. An equivocating agency's
// history shows every version it signed: which one sits in a log slot
// depends on arrival order, and a request is never hidden. (The rules judge
// by the log slots alone; see agencyLog.)
func (s *Service) withItems(a peer.ID, f func([]*Item)) error {
	return s.withLogs([]peer.ID{a}, func(logs []*agencyLog) { f(logs[0].items) })
}

// withLogs calls f with the agencies' logs as they stand now (see
// withItems), all under s.mu, so that f reads them at one moment; f must
// not keep or modify them.
func (s *Service) withLogs(as []peer.ID, f func([]*agencyLog)) error {
	logs := make([]*agencyLog, len(as))
	for i, a := range as {
		h, err := s.db.Head(a)
		if err != nil {
			return err
		}
		if h.Flagged {
			logs[i], err = s.buildAll(a) // this call's own: not shared
		} else {
			logs[i], err = s.agencyLogTo(a, h)
		}
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f(logs)
	return nil
}

// copyItem copies a request so that neither the caller nor a later record
// of its log changes what the other sees.
func copyItem(it *Item) *Item {
	c := *it
	c.Notes = append([]Note(nil), it.Notes...)
	return &c
}

// mergeNewest returns copies of the newest limit requests of logs (all if
// limit <= 0), newest first, named by names (one per log). Requests of
// one time come in the order of logs, then in log order: the order of a
// stable sort by time of the logs' requests taken log by log. Each log
// keeps its requests in that order (byTime), so this merges without
// sorting and copies only what it returns. The caller holds s.mu.
func mergeNewest(logs []*agencyLog, names []string, limit int) []Listed {
	total := 0
	for _, l := range logs {
		total += len(l.byTime)
	}
	if limit <= 0 || limit > total {
		limit = total
	}
	if limit == 0 {
		return nil
	}
	out := make([]Listed, 0, limit)
	next := make([]int, len(logs)) // next[i]: how many of logs[i] are in out
	for len(out) < limit {
		best := -1
		for i, l := range logs {
			if next[i] < len(l.byTime) && (best < 0 || l.newest(next[i]).Created.After(logs[best].newest(next[best]).Created)) {
				best = i
			}
		}
		out = append(out, Listed{Item: copyItem(logs[best].newest(next[best])), AgencyName: names[best]})
		next[best]++
	}
	return out
}

// Listed is a request as listed for this home.
type Listed struct {
	*Item
	AgencyName string
	CoversHome bool
	// Revoked: the request's credential has since been revoked. A request
	// made before the revocation stays valid and visible, marked.
	Revoked bool
	// AfterRevocation: made after its credential's revocation time, or at
	// a log position after the last one the revocation names (this node
	// stored it before the revocation arrived). Shown, never deleted.
	AfterRevocation bool
}

// List returns the requests of one agency (or all, if a is ""), newest
// first, at most limit (all if limit <= 0). Requests of one time come by
// agency in Agencies' order, then in log order.
func (s *Service) List(a peer.ID, limit int) ([]Listed, error) {
	var agencies []certifiedAgency
	if a != "" {
		creds, err := s.credentials(a)
		if err != nil {
			return nil, err
		}
		if len(creds) == 0 {
			return nil, fmt.Errorf("agency %s: %w", a, ErrUnknownAgency)
		}
		agencies = []certifiedAgency{{id: a, creds: creds}}
	} else {
		var err error
		if agencies, err = s.certifiedAgencies(); err != nil {
			return nil, err
		}
	}
	ids, names := make([]peer.ID, len(agencies)), make([]string, len(agencies))
	for i, c := range agencies {
		ids[i], names[i] = c.id, c.name()
	}
	var out []Listed
	err := s.withLogs(ids, func(logs []*agencyLog) { out = mergeNewest(logs, names, limit) })
	if err != nil {
		return nil, err
	}
	if err := s.mark(out); err != nil {
		return nil, err
	}
	return out, nil
}

// mark sets what List reports of each request besides the request itself:
// whether it covers this home, and whether its credential was revoked
// (one lookup per credential).
func (s *Service) mark(out []Listed) error {
	revs := map[record.ID]*revoked{}
	for i := range out {
		l := &out[i]
		if s.cfg.Home != nil {
			l.CoversHome = l.Area.Contains(*s.cfg.Home)
		}
		rev, ok := revs[l.Credential]
		if !ok {
			var err error
			if rev, err = s.revocation(l.Credential); err != nil {
				return err
			}
			revs[l.Credential] = rev
		}
		if rev != nil {
			l.Revoked = true
			l.AfterRevocation = !rev.covers(l.Seq, l.Created.UnixMilli())
		}
	}
	return nil
}

// ErrUnknownAgency is returned for an agency with no trusted credential.
var ErrUnknownAgency = errors.New("no credential from a trusted issuer names this agency")

// ErrNoCredential is returned when this node has no valid credential of its
// own to make requests under.
var ErrNoCredential = errors.New("this node holds no valid agency credential: install one with `porchlight agency credential FILE`")

// NewRequest is what an agency fills in.
type NewRequest struct {
	Case, Incident, Description, Contact string
	Area                                 Area
	From, To                             time.Time
}

// SetAppender sets the log Create and Close write to, once, when it was
// not in Config.
//
// The Service judges every record the mesh receives (it is the mesh's
// Rules), so it must exist before the mesh does, while the mesh is the
// log it writes its own requests to. Of the two directions the write is
// the one that can wait: nothing is written before the node has started,
// whereas the first record may arrive the moment the mesh listens. So the
// Service is built first and handed the mesh here, rather than the mesh
// taking its rules late and judging its first records by none.
func (s *Service) SetAppender(a Appender) error {
	if a == nil {
		return errors.New("requests: SetAppender(nil)")
	}
	if !s.appender.CompareAndSwap(nil, &a) {
		return errors.New("requests: the appender is already set")
	}
	return nil
}

// errNoAppender is returned by writes of a Service no appender was set on:
// a bug of the code that assembled it.
var errNoAppender = errors.New("requests: this service has no log to write to (Config.Appender or SetAppender)")

func (s *Service) log() (Appender, error) {
	if a := s.appender.Load(); a != nil {
		return *a, nil
	}
	return nil, errNoAppender
}

// Create makes a request from this node (an agency), under its newest valid
// credential. The rules run before anything is written or sent; a violation
// is a *record.Invalid naming the rule.
func (s *Service) Create(in NewRequest) (*record.Signed, error) {
	m, err := s.log()
	if err != nil {
		return nil, err
	}
	creds, err := s.credentials(m.ID())
	if err != nil {
		return nil, err
	}
	var cred *record.Doc
	for _, c := range creds {
		if st, err := s.credentialStatus(c, time.Now()); err == nil && st == StatusValid {
			cred = c
			break
		}
	}
	if cred == nil {
		return nil, ErrNoCredential
	}
	r := &pb.Request{
		Credential: cred.ID[:], CaseNumber: in.Case, Incident: in.Incident, Description: in.Description,
		Contact: in.Contact, Area: in.Area.ToPB(), From: in.From.UnixMilli(), To: in.To.UnixMilli(),
	}
	if err := record.CheckRequest(r); err != nil {
		return nil, err
	}
	if err := s.flushYields(); err != nil {
		return nil, err
	}
	floor, err := s.ownLatest(m.ID())
	if err != nil {
		return nil, err
	}
	return m.Append(func(e *pb.Entry) {
		// A request may not be dated before an earlier record of the log;
		// if this clock stepped back, date it as the latest one.
		e.Created = max(e.Created, floor)
		e.Body = &pb.Entry_Request{Request: r}
	})
}

// ownLatest is the latest time claimed in a's log as this node holds it.
func (s *Service) ownLatest(a peer.ID) (int64, error) {
	l, err := s.agencyLog(a, 0)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return l.latestThrough(l.contig), nil
}

// Close closes one of this agency's requests, with an optional note.
func (s *Service) Close(id record.ID, note string) (*record.Signed, error) {
	m, err := s.log()
	if err != nil {
		return nil, err
	}
	var found *Item
	err = s.withItems(m.ID(), func(items []*Item) {
		for _, it := range items {
			if it.ID == id {
				c := *it
				found = &c
			}
		}
	})
	switch {
	case err != nil:
		return nil, err
	case found == nil:
		return nil, fmt.Errorf("request %.12s is not one of this agency's", id)
	case found.Closed:
		return nil, fmt.Errorf("request %.12s is already closed", id)
	}
	if err := s.flushYields(); err != nil {
		return nil, err
	}
	u := &pb.RequestUpdate{RequestSeq: found.Seq, RequestId: id[:], Closed: true, Note: note}
	return m.Append(func(e *pb.Entry) { e.Body = &pb.Entry_Update{Update: u} })
}

// Certify signs an agency credential with an issuer key (offline).
func Certify(key crypto.PrivKey, agency peer.ID, name string, jurisdiction Area, from, until time.Time) (*record.Doc, error) {
	if err := jurisdiction.Check(); err != nil {
		return nil, fmt.Errorf("jurisdiction: %w", err)
	}
	if !until.After(from) {
		return nil, errors.New("validity period is empty")
	}
	return record.SealCredential(&pb.Credential{
		Agency: []byte(agency), Name: name, Jurisdiction: jurisdiction.ToPB(),
		NotBefore: from.UnixMilli(), NotAfter: until.UnixMilli(),
	}, key)
}

// Revoke signs the revocation of a credential from time at (offline). The
// key must be the credential's issuer's. It names no log position, so a
// revoked agency can still date a request between its last record and at;
// prefer RevokeThrough.
func Revoke(key crypto.PrivKey, cred *record.Doc, at time.Time, reason string) (*record.Doc, error) {
	return RevokeThrough(key, cred, at, 0, reason)
}

// RevokeThrough is Revoke naming the last position of the agency's log
// (its seq, as every node lists it) that the credential still covers:
// requests at later positions are refused whatever time they claim. 0
// names none.
func RevokeThrough(key crypto.PrivKey, cred *record.Doc, at time.Time, throughSeq uint64, reason string) (*record.Doc, error) {
	if cred.Credential == nil {
		return nil, errors.New("not a credential")
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if id != cred.Issuer {
		return nil, fmt.Errorf("this key (%s) did not issue the credential (issuer %s)", id, cred.Issuer)
	}
	return record.SealRevocation(&pb.Revocation{Credential: cred.ID[:], RevokedAt: at.UnixMilli(), Reason: reason, ValidThroughSeq: throughSeq}, key)
}

// Certified reports whether a holds a credential from a trusted issuer
// that is valid at now (not expired, not revoked), and returns the
// documents of its valid credentials: what an agency that is not a member
// shows at a neighborhood's handshake (package mesh), and what a member
// checks it against. On a read error it answers false.
func (s *Service) Certified(a peer.ID, now time.Time) (docs [][]byte, ok bool) {
	creds, err := s.credentials(a)
	if err != nil {
		return nil, false
	}
	for _, c := range creds {
		if st, err := s.credentialStatus(c, now); err == nil && st == StatusValid {
			docs = append(docs, c.Raw)
		}
	}
	return docs, len(docs) > 0
}
