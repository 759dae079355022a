// Package transparencytest makes agency histories of real signed records
// with chosen times, for tests and benchmarks of transparency reports: an
// offline issuer, a certified agency and its log (requests and closes),
// checked by the real rules and stored as the mesh stores them.
package transparencytest

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// Center is the middle of every agency's jurisdiction, a circle of
// JurisdictionMeters; requests are circles around it.
var Center = geo.Point{Lat: 40.7128, Lon: -74.0060}

// JurisdictionMeters is the radius of the jurisdiction.
const JurisdictionMeters = 5000

// History is an issuer, an agency it certified, and the agency's log.
type History struct {
	IssuerKey  crypto.PrivKey
	Issuer     peer.ID
	Key        crypto.PrivKey
	Agency     peer.ID
	Name       string
	Credential *record.Doc
	// Records is the agency's log, in order.
	Records []*record.Signed

	neighborhood string
	seq          uint64
	prev         record.ID
}

// New makes an issuer and an agency called name whose credential is valid
// from notBefore to notAfter, for a neighborhood's log.
func New(name, neighborhood string, notBefore, notAfter time.Time) (*History, error) {
	h := &History{Name: name, neighborhood: neighborhood}
	var err error
	if h.IssuerKey, h.Issuer, err = newKey(); err != nil {
		return nil, err
	}
	if h.Key, h.Agency, err = newKey(); err != nil {
		return nil, err
	}
	h.Credential, err = requests.Certify(h.IssuerKey, h.Agency, name, requests.Area{Center: Center, Radius: JurisdictionMeters}, notBefore, notAfter)
	if err != nil {
		return nil, fmt.Errorf("certify %s: %w", name, err)
	}
	return h, nil
}

func newKey() (crypto.PrivKey, peer.ID, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	id, err := peer.IDFromPrivateKey(key)
	return key, id, err
}

func (h *History) sign(created time.Time, body func(*pb.Entry)) (*record.Signed, error) {
	e := &pb.Entry{Author: []byte(h.Agency), Seq: h.seq + 1, Created: created.UnixMilli(), Neighborhood: h.neighborhood}
	if h.seq > 0 {
		e.Prev = h.prev[:]
	}
	body(e)
	s, err := record.SealAt(e, h.Key, created)
	if err != nil {
		return nil, fmt.Errorf("seal seq %d: %w", e.Seq, err)
	}
	h.seq, h.prev = e.Seq, s.ID
	h.Records = append(h.Records, s)
	return s, nil
}

// Request appends a request made at created for the window ending then
// and lasting window, over a circle of radiusM meters around Center
// (300 m is 0.109 square miles).
func (h *History) Request(created time.Time, window time.Duration, radiusM float64, caseNo string) (*record.Signed, error) {
	r := &pb.Request{
		Credential: h.Credential.ID[:], CaseNumber: caseNo, Incident: "package theft", Contact: "desk 555-0100",
		Description: "Looking for porch camera video.",
		Area:        requests.Area{Center: Center, Radius: radiusM}.ToPB(),
		From:        created.Add(-window).UnixMilli(), To: created.UnixMilli(),
	}
	return h.sign(created, func(e *pb.Entry) { e.Body = &pb.Entry_Request{Request: r} })
}

// Close appends the close of a request at time at.
func (h *History) Close(req *record.Signed, at time.Time, note string) (*record.Signed, error) {
	u := &pb.RequestUpdate{RequestSeq: req.Seq(), RequestId: req.ID[:], Closed: true, Note: note}
	return h.sign(at, func(e *pb.Entry) { e.Body = &pb.Entry_Update{Update: u} })
}

// Load stores the credential and the log through the real rules:
// IngestDoc, then CheckEntry and Ingest for each record, as the mesh does.
// svc must trust h.Issuer.
func Load(svc *requests.Service, db *store.DB, h *History) error {
	if _, err := svc.IngestDoc(h.Credential.Raw); err != nil {
		return fmt.Errorf("store the credential: %w", err)
	}
	for _, s := range h.Records {
		if err := svc.CheckEntry(s); err != nil {
			return fmt.Errorf("check seq %d: %w", s.Seq(), err)
		}
		res, err := db.Ingest(s)
		if err != nil {
			return fmt.Errorf("store seq %d: %w", s.Seq(), err)
		}
		if res.Outcome != store.Added {
			return fmt.Errorf("store seq %d: %s, want added", s.Seq(), res.Outcome)
		}
	}
	return nil
}
