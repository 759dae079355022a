package requests

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// Config configures New. Zero values mean the default.
type Config struct {
	// Store is the node's database. Required.
	Store *store.DB
	// Trusted are the issuers whose credentials this node accepts.
	Trusted []peer.ID
	// Limits tighten the rules; zero fields are the defaults.
	Limits Limits
	// Home is this home's location, for covers_home; nil if unknown.
	Home *geo.Point
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// UntrustedDocs and UntrustedBytes cap the credentials of untrusted
	// issuers held (in memory); UntrustedTTL forgets one that no request
	// has named for that long. Defaults DefaultUntrustedDocs,
	// DefaultUntrustedBytes, DefaultUntrustedTTL.
	UntrustedDocs  int
	UntrustedBytes int
	UntrustedTTL   time.Duration
	// Now is the clock for the untrusted-document TTL. Default time.Now.
	Now func() time.Time
	// Appender writes this node's requests and updates (Create, Close):
	// the node's mesh. It may be left nil here and set once with
	// SetAppender (see there); until then Create and Close fail.
	Appender Appender
	// YieldGrace overrides YieldGrace, the time an agency has to count a
	// received clip in its yield (omission.go). Tests only: every node of
	// a neighborhood must judge omissions with the same. Default
	// YieldGrace.
	YieldGrace time.Duration
	// OnDocument, if set, is called after a trusted issuer's document (a
	// credential or a revocation) is stored for the first time, from
	// whichever path brought it: gossip, sync or this node's own publish.
	OnDocument func(*record.Doc)
}

// Appender appends to this node's own signed log; *mesh.Mesh is one.
type Appender interface {
	// ID is the author of the log: this node.
	ID() peer.ID
	// Append signs, stores and sends one record whose body the function
	// fills in. The mesh's rules (this Service's CheckEntry) run first;
	// a violation is a *record.Invalid.
	Append(body func(*pb.Entry)) (*record.Signed, error)
}

// Service judges, stores and lists requests. It implements mesh.Rules.
type Service struct {
	cfg    Config
	db     *store.DB
	limits Limits

	mu      sync.Mutex
	trusted map[peer.ID]bool
	logs    map[peer.ID]*agencyLog // per agency, built from its log

	docMu sync.Mutex
	docs  map[record.ID]*record.Doc // opened documents: immutable by ID

	untrusted *untrustedDocs

	omMu     sync.Mutex                   // guards omYields and omProofs (omission.go)
	omYields map[peer.ID]*yieldIndex      // per agency, for omission verdicts
	omProofs map[record.ID]*OmissionProof // opened YieldOmission records

	appender atomic.Pointer[Appender] // Config.Appender, or SetAppender's

	// yieldSource lists the clips this agency received (SetYieldSource);
	// yieldMu serializes the writes of Yields (WriteYields).
	yieldSource atomic.Pointer[func() ([]ReceivedClip, error)]
	yieldMu     sync.Mutex
}

// maxCachedDocs bounds the opened-document cache; neighborhoods have a few
// agencies, each with a few credentials.
const maxCachedDocs = 4096

var _ mesh.Rules = (*Service)(nil)

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("requests: Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	limits, looser, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(looser) > 0 {
		cfg.Logger.Warn("request limits LOOSER than the defaults, by explicit override", "looser", looser)
	}
	if cfg.UntrustedDocs <= 0 {
		cfg.UntrustedDocs = DefaultUntrustedDocs
	}
	if cfg.UntrustedBytes <= 0 {
		cfg.UntrustedBytes = DefaultUntrustedBytes
	}
	if cfg.UntrustedTTL <= 0 {
		cfg.UntrustedTTL = DefaultUntrustedTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, db: cfg.Store, limits: limits, trusted: map[peer.ID]bool{}, logs: map[peer.ID]*agencyLog{},
		untrusted: newUntrustedDocs(cfg.UntrustedDocs, cfg.UntrustedBytes, cfg.UntrustedTTL, cfg.Now)}
	for _, id := range cfg.Trusted {
		s.trusted[id] = true
	}
	if cfg.Appender != nil {
		s.appender.Store(&cfg.Appender)
	}
	return s, nil
}

// Trust adds an issuer to the trusted set (the caller persists it). Its
// credentials already held in memory are stored as trusted ones.
func (s *Service) Trust(id peer.ID) {
	s.mu.Lock()
	s.trusted[id] = true
	s.mu.Unlock()
	for _, d := range s.untrusted.take(func(d *record.Doc) bool { return d.Issuer == id }) {
		if _, err := s.IngestDoc(d.Raw); err != nil {
			s.cfg.Logger.Warn("store a credential of a newly trusted issuer", "id", d.ID, "err", err)
		}
	}
}

func (s *Service) isTrusted(id peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trusted[id]
}

// Limits are the rules in force.
func (s *Service) Limits() Limits { return s.limits }

// keys: the service keeps its documents in tables of the records database
// (tags declared in store/keys.go):
//
//	store.IssuerDocs             D I      a trusted issuer's document (credential
//	                                      or revocation), verified when stored
//	store.AgencyCredentials      G L A I  (empty) credential I certifies agency A
//	                                      (a peer ID of L bytes, L one byte)
//	store.CredentialRevocations  V I      ID of credential I's earliest revocation
//	store.CredentialRevokedSeqs  W I      least valid_through_seq named by any
//	                                      revocation of I (8 bytes, big-endian)
//
// Databases written before December 2026 also stored untrusted issuers'
// documents; store's migration to schema version 2 removed them.

func agencyPrefix(a peer.ID) []byte {
	return append([]byte{byte(len(a))}, a...)
}

func (s *Service) getDoc(txn *store.Txn, id record.ID) (*record.Doc, error) {
	s.docMu.Lock()
	d, ok := s.docs[id]
	s.docMu.Unlock()
	if ok {
		return d, nil
	}
	raw, err := txn.Get(store.IssuerDocs, id[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Verified when stored; opened again only to decode, so the signature
	// is checked once per process, not once per request that names it.
	if d, err = record.OpenDoc(raw); err != nil {
		return nil, err
	}
	s.docMu.Lock()
	if s.docs == nil || len(s.docs) >= maxCachedDocs {
		s.docs = map[record.ID]*record.Doc{}
	}
	s.docs[id] = d
	s.docMu.Unlock()
	return d, nil
}

// doc returns a stored document, or nil.
func (s *Service) doc(id record.ID) (d *record.Doc, err error) {
	err = s.db.View(func(txn *store.Txn) error {
		d, err = s.getDoc(txn, id)
		return err
	})
	return d, err
}

// Document returns a stored issuer document (credential or revocation), or
// nil if this node has none with that ID.
func (s *Service) Document(id record.ID) (*record.Doc, error) { return s.doc(id) }

// revoked is what the revocations of one credential say, together: the
// earliest revocation time, and the least log position named as the last
// one the credential covers (0 if none names one). Both are minima over
// the revocations, so every node that holds the same revocations judges
// alike, whatever order they came in.
type revoked struct {
	doc     *record.Doc // the earliest revocation
	at      int64       // its revoked_at, Unix ms
	through uint64      // least valid_through_seq, or 0
}

// covers reports whether the revocation leaves a record at seq, made at
// created (Unix ms), under the credential.
func (r *revoked) covers(seq uint64, created int64) bool {
	return r == nil || created < r.at && (r.through == 0 || seq <= r.through)
}

// revocation returns what the revocations of a credential say, or nil.
func (s *Service) revocation(cred record.ID) (r *revoked, err error) {
	err = s.db.View(func(txn *store.Txn) error {
		v, err := txn.Get(store.CredentialRevocations, cred[:])
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var id record.ID
		copy(id[:], v)
		d, err := s.getDoc(txn, id)
		if err != nil || d == nil {
			return err
		}
		r = &revoked{doc: d, at: d.Revocation.GetRevokedAt()}
		r.through, err = getRevokedSeq(txn, cred)
		return err
	})
	return r, err
}

func getRevokedSeq(txn *store.Txn, cred record.ID) (uint64, error) {
	v, err := txn.Get(store.CredentialRevokedSeqs, cred[:])
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil || len(v) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

// IngestDoc verifies and stores a credential or revocation of a trusted
// issuer. A document with protobuf fields this version does not know is
// refused. A credential of an untrusted issuer is held in memory only (so
// requests under it are refused with the right reason, see untrusted.go)
// and not relayed, and its revocations are dropped: added is false.
func (s *Service) IngestDoc(raw []byte) (bool, error) {
	added, err := s.ingestDoc(raw)
	if added && err == nil && s.cfg.OnDocument != nil {
		// Opened again only when new: documents are few, and ingestDoc's
		// many returns stay as they are.
		if d, err := record.OpenDoc(raw); err == nil {
			s.cfg.OnDocument(d)
		}
	}
	return added, err
}

func (s *Service) ingestDoc(raw []byte) (bool, error) {
	d, err := record.OpenDoc(raw)
	if err != nil {
		return false, err
	}
	if err := checkStrict(d); err != nil {
		return false, err
	}
	if c := d.Credential; c != nil {
		if err := AreaFromPB(c.GetJurisdiction()).Check(); err != nil {
			return false, record.Invalidf(record.ReasonArea, "credential jurisdiction: %v", err)
		}
	}
	if !s.isTrusted(d.Issuer) {
		return false, s.ingestUntrusted(d)
	}
	added := false
	err = s.db.Update(func(txn *store.Txn) error {
		if ok, err := txn.Has(store.IssuerDocs, d.ID[:]); err != nil || ok {
			return err
		}
		if r := d.Revocation; r != nil {
			var cid record.ID
			copy(cid[:], r.GetCredential())
			cred, err := s.getDoc(txn, cid)
			if err != nil {
				return err
			}
			if cred == nil {
				return fmt.Errorf("revocation of credential %.12s: %w", cid, mesh.ErrHeld)
			}
			if cred.Issuer != d.Issuer {
				return record.Invalidf(record.ReasonUntrusted, "revocation is not signed by the credential's issuer")
			}
			// Keep the earliest revocation time and the least position:
			// each only ever tightens, and a revocation that tightens
			// neither is stored but not relayed.
			tightens := false
			if v := r.GetValidThroughSeq(); v > 0 {
				cur, err := getRevokedSeq(txn, cid)
				if err != nil {
					return err
				}
				if cur == 0 || v < cur {
					if err := txn.Put(store.CredentialRevokedSeqs, cid[:], binary.BigEndian.AppendUint64(nil, v)); err != nil {
						return err
					}
					tightens = true
				}
			}
			earlier := true
			if v, err := txn.Get(store.CredentialRevocations, cid[:]); err == nil {
				var prev record.ID
				copy(prev[:], v)
				if p, err := s.getDoc(txn, prev); err == nil && p != nil && p.Revocation.GetRevokedAt() <= r.GetRevokedAt() {
					earlier = false
				}
			}
			if earlier {
				if err := txn.Put(store.CredentialRevocations, cid[:], d.ID[:]); err != nil {
					return err
				}
				tightens = true
			}
			if !tightens {
				return txn.Put(store.IssuerDocs, d.ID[:], raw)
			}
		}
		if c := d.Credential; c != nil {
			if err := txn.Put(store.AgencyCredentials, append(agencyPrefix(peer.ID(c.GetAgency())), d.ID[:]...), nil); err != nil {
				return err
			}
		}
		added = true
		return txn.Put(store.IssuerDocs, d.ID[:], raw)
	})
	if err != nil || !added {
		return false, err
	}
	return true, nil
}

// ingestUntrusted keeps a credential of an untrusted issuer in memory, and
// drops its revocations: it is never stored, relayed or offered in sync.
func (s *Service) ingestUntrusted(d *record.Doc) error {
	if r := d.Revocation; r != nil {
		var cid record.ID
		copy(cid[:], r.GetCredential())
		cred, err := s.doc(cid)
		if err != nil {
			return err
		}
		if cred != nil {
			// The credential's issuer is trusted, so it is not this one.
			return record.Invalidf(record.ReasonUntrusted, "revocation is not signed by the credential's issuer")
		}
		s.untrusted.ignored()
		return nil
	}
	if s.untrusted.add(d) {
		s.cfg.Logger.Debug("kept a credential of an untrusted issuer in memory; not relaying it", "issuer", d.Issuer)
	}
	return nil
}

// DocIDs lists the stored documents of trusted issuers: only those are
// offered in sync.
func (s *Service) DocIDs() ([]record.ID, error) {
	var ids []record.ID
	err := s.eachTrustedDoc(func(d *record.Doc) error {
		ids = append(ids, d.ID)
		return nil
	})
	return ids, err
}

// DocsNotIn returns the documents of trusted issuers not in have.
func (s *Service) DocsNotIn(have map[record.ID]bool) ([][]byte, error) {
	var out [][]byte
	err := s.eachTrustedDoc(func(d *record.Doc) error {
		if !have[d.ID] {
			out = append(out, d.Raw)
		}
		return nil
	})
	// Credentials before revocations: a revocation needs its credential.
	sort.SliceStable(out, func(i, j int) bool { return !record.IsRevocation(out[i]) && record.IsRevocation(out[j]) })
	return out, err
}

// eachTrustedDoc calls f with each stored document of an issuer trusted
// now, opened once per process (getDoc's cache).
func (s *Service) eachTrustedDoc(f func(*record.Doc) error) error {
	return s.db.View(func(txn *store.Txn) error {
		return txn.Scan(store.IssuerDocs, nil, store.ScanOptions{KeysOnly: true}, func(it store.Item) error {
			var id record.ID
			copy(id[:], it.Key())
			d, err := s.getDoc(txn, id)
			if err != nil || d == nil || !s.isTrusted(d.Issuer) {
				return err
			}
			return f(d)
		})
	})
}

// CheckEntry applies the request rules to a log record (see the package
// doc). Records of other kinds pass.
func (s *Service) CheckEntry(sr *record.Signed) error {
	switch b := sr.Entry.GetBody().(type) {
	case *pb.Entry_Omission:
		return s.checkOmission(sr)
	case *pb.Entry_Request:
		return s.checkRequest(sr, b.Request)
	case *pb.Entry_Update:
		return s.checkUpdate(sr, b.Update)
	case *pb.Entry_Yield:
		return s.checkYield(sr, b.Yield)
	case *pb.Entry_Retraction:
		if s.IsAgency(sr.Author) {
			return record.Invalidf(record.ReasonRetraction, "an agency's log is public and append-only: it cannot retract anything")
		}
	}
	return nil
}

// Purgeable reports whether a's log may hold purged (retracted) slots. An
// agency's may not, so a peer cannot blank a request with a stub.
func (s *Service) Purgeable(a peer.ID) bool { return !s.IsAgency(a) }

// IsAgency reports whether a trusted issuer has certified a as an agency
// (a credential from a trusted issuer names it, valid or not: an agency's
// log stays an agency's). On a read error it answers true, the safe side
// for the log rules; a caller that acts only for agencies checks again
// with List, which returns the error.
func (s *Service) IsAgency(a peer.ID) bool {
	creds, err := s.credentials(a)
	return err != nil || len(creds) > 0 // on a read error, err on the safe side
}

// credentialFor finds and judges the credential a request names.
func (s *Service) credentialFor(sr *record.Signed, credID []byte) (*record.Doc, error) {
	var id record.ID
	copy(id[:], credID)
	cred, err := s.doc(id)
	if err != nil {
		return nil, err
	}
	if cred == nil {
		// An untrusted issuer's, if held, so that the refusal says so.
		cred = s.untrusted.get(id)
	}
	if cred == nil {
		return nil, fmt.Errorf("credential %.12s not seen yet: %w", id, mesh.ErrHeld)
	}
	c := cred.Credential
	if c == nil {
		return nil, record.Invalidf(record.ReasonUncertified, "the request names a revocation, not a credential")
	}
	if peer.ID(c.GetAgency()) != sr.Author {
		return nil, record.Invalidf(record.ReasonUncertified, "credential %.12s certifies another key, not the request's signer %s", id, sr.Author)
	}
	if !s.isTrusted(cred.Issuer) {
		return nil, record.Invalidf(record.ReasonUntrusted, "credential issuer %s is not trusted by this node", cred.Issuer)
	}
	if !cred.Valid(sr.Created()) {
		return nil, record.Invalidf(record.ReasonExpired, "credential valid %s to %s, request made %s",
			time.UnixMilli(c.GetNotBefore()).UTC().Format(time.RFC3339), time.UnixMilli(c.GetNotAfter()).UTC().Format(time.RFC3339), sr.Created().UTC().Format(time.RFC3339))
	}
	rev, err := s.revocation(id)
	if err != nil {
		return nil, err
	}
	switch {
	case rev == nil:
	case rev.at <= sr.Entry.GetCreated():
		return nil, record.Invalidf(record.ReasonRevoked, "credential revoked %s", time.UnixMilli(rev.at).UTC().Format(time.RFC3339))
	case rev.through > 0 && sr.Seq() > rev.through:
		// Whatever time the record claims: the agency signs its own
		// times, so only the position is beyond its reach.
		return nil, record.Invalidf(record.ReasonRevoked, "credential revoked after seq %d of the agency's log; this request is seq %d", rev.through, sr.Seq())
	}
	return cred, nil
}

// checkTimeOrder refuses a request dated before any earlier record of its
// log. The agency signs its own times; a credential judged at a claimed
// time is only as good as the bound on that claim, and the log's past is
// one. (Updates are not held to it: one may follow a gap, and closing or
// annotating needs no credential.)
func checkTimeOrder(sr *record.Signed, l *agencyLog) error {
	if latest := l.latestThrough(sr.Seq() - 1); sr.Entry.GetCreated() < latest {
		return record.Invalidf(record.ReasonTime, "record is dated %s, before %s, the time of an earlier record of the same log: times in an agency's log may not go backwards",
			time.UnixMilli(sr.Entry.GetCreated()).UTC().Format(time.RFC3339Nano), time.UnixMilli(latest).UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func (s *Service) checkRequest(sr *record.Signed, r *pb.Request) error {
	cred, err := s.credentialFor(sr, r.GetCredential())
	if err != nil {
		return err
	}
	if err := CheckShape(r.GetArea(), cred.Credential.GetJurisdiction(), s.limits); err != nil {
		return err
	}
	if err := CheckWindow(r.GetFrom(), r.GetTo(), sr.Entry.GetCreated(), s.limits); err != nil {
		return err
	}
	l, err := s.agencyLog(sr.Author, sr.Seq()-1)
	if err != nil {
		return err
	}
	if err := checkTimeOrder(sr, l); err != nil {
		return err
	}
	if open := l.openAfter(sr.Seq() - 1); open >= s.limits.MaxOpen {
		return record.Invalidf(record.ReasonTooManyOpen, "the agency already has %d open requests (limit %d): close one first", open, s.limits.MaxOpen)
	}
	return nil
}

// CheckShape applies the area rules: a valid shape, within the size bounds,
// inside the jurisdiction.
func CheckShape(area, jurisdiction *pb.Area, l Limits) error {
	a := AreaFromPB(area)
	if err := a.Check(); err != nil {
		return record.Invalidf(record.ReasonArea, "%v", err)
	}
	if sq := a.SquareMiles(); sq < l.MinArea || sq > l.MaxArea {
		return record.Invalidf(record.ReasonAreaSize, "area is %.3f square miles; it must be %.3f to %.3f", sq, l.MinArea, l.MaxArea)
	}
	if err := checkExtent(a, l); err != nil {
		return err
	}
	if !a.Within(AreaFromPB(jurisdiction)) {
		return record.Invalidf(record.ReasonJurisdiction, "area is not entirely inside the agency's jurisdiction")
	}
	return nil
}

// ExtentFactor bounds how far a request's shape may reach: its diameter and
// its perimeter may be at most this many times those of a circle of the
// maximum area (at 0.5 sq mi: 2,568 m and 8,068 m). The area alone does
// not bound reach: a comb or a sliver of legal area can span a town and
// run along tens of kilometers of street. Twice leaves room for ordinary
// blocks, an L or a 4:1 rectangle at the maximum area.
const ExtentFactor = 2

// checkExtent applies the reach rules (see ExtentFactor).
func checkExtent(a Area, l Limits) error {
	r := math.Sqrt(l.MaxArea * SquareMeterPerSquareMile / math.Pi)
	maxDiameter, maxPerimeter := ExtentFactor*2*r, ExtentFactor*2*math.Pi*r
	if d := a.Diameter(); d > maxDiameter+tolerance {
		return record.Invalidf(record.ReasonAreaSize, "area spans %.0f m; at most %.0f m (twice the width of a circle of %.3f square miles): draw a more compact shape or make two requests", d, maxDiameter, l.MaxArea)
	}
	if p := a.Perimeter(); p > maxPerimeter+tolerance {
		return record.Invalidf(record.ReasonAreaSize, "area's boundary is %.0f m long; at most %.0f m (twice that of a circle of %.3f square miles): draw a more compact shape or make two requests", p, maxPerimeter, l.MaxArea)
	}
	return nil
}

// CheckWindow applies the time-window rules, relative to when the request
// was made (created), so every node judges it the same at any time.
func CheckWindow(from, to, created int64, l Limits) error {
	// In milliseconds: a Duration of a hostile span would overflow.
	if w := to - from; w < l.MinWindow.Milliseconds() || w > l.MaxWindow.Milliseconds() {
		return record.Invalidf(record.ReasonWindow, "time window is %s; it must be %s to %s", msString(w), l.MinWindow, l.MaxWindow)
	}
	if ahead := to - created; ahead > l.MaxFuture.Milliseconds() {
		return record.Invalidf(record.ReasonWindow, "time window ends %s after the request is made; at most %s", msString(ahead), l.MaxFuture)
	}
	return nil
}

func msString(ms int64) string {
	if ms > int64(1e6*time.Hour/time.Millisecond) || ms < -int64(1e6*time.Hour/time.Millisecond) {
		return fmt.Sprintf("%d hours", ms/int64(time.Hour/time.Millisecond))
	}
	return (time.Duration(ms) * time.Millisecond).Round(time.Second).String()
}

func (s *Service) checkUpdate(sr *record.Signed, u *pb.RequestUpdate) error {
	l, err := s.agencyLog(sr.Author, u.GetRequestSeq())
	if err != nil {
		return err
	}
	var id record.ID
	copy(id[:], u.GetRequestId())
	if it := l.bySeq[u.GetRequestSeq()]; it == nil || it.ID != id {
		return record.Invalidf(record.ReasonUpdateOther, "an update may only close or annotate a request of the same agency; seq %d of %s is not request %.12s", u.GetRequestSeq(), sr.Author, id)
	}
	return nil
}
