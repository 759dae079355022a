package record

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record/pb"
)

// Envelope constants. Changing either makes every existing record invalid.
const (
	Domain      = "porchlight-record"
	PayloadType = "/porchlight/entry/1"
)

// Limits on what a record may carry.
const (
	// MaxSize bounds a marshaled envelope. A post of MaxPostText runes of
	// 4-byte UTF-8 is 8,000 bytes; the rest is headroom for later kinds.
	MaxSize = 16 << 10
	// MaxPostText is the longest post text, in characters.
	MaxPostText = 2000
	// MaxClipGrant bounds the clip grant a post may carry (package clips
	// verifies it when a neighbor uses it).
	MaxClipGrant = 8 << 10
	// MaxNameLen bounds a profile name, in characters.
	MaxNameLen = 64
	// MaxNeighborhoodLen bounds a neighborhood ID, in bytes.
	MaxNeighborhoodLen = 64
	// MaxSeq bounds seq so that a log position always fits comfortably in
	// every integer type that handles it (and a "negative" varint is refused).
	MaxSeq = 1 << 40
	// MaxClockSkew is how far in the future created may be.
	MaxClockSkew = 5 * time.Minute
)

// Post kinds.
var PostKinds = []string{"general", "safety", "lost-found", "event"}

// ID identifies a record: the SHA-256 of its marshaled envelope.
type ID [32]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the hex form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("record ID %q: want 64 hex characters", s)
	}
	copy(id[:], b)
	return id, nil
}

// IDOf returns the ID of marshaled envelope bytes.
func IDOf(raw []byte) ID { return sha256.Sum256(raw) }

// Signed is a verified record: an envelope whose signature, author and body
// limits have been checked by Open or produced by Seal.
type Signed struct {
	Raw    []byte // the marshaled envelope, exactly as signed and carried
	ID     ID
	Author peer.ID
	Entry  *pb.Entry
}

// Seq is the record's position in its author's log.
func (s *Signed) Seq() uint64 { return s.Entry.GetSeq() }

// Created is when the author wrote the record.
func (s *Signed) Created() time.Time { return time.UnixMilli(s.Entry.GetCreated()) }

// Prev is the ID of the author's previous record (zero at seq 1).
func (s *Signed) Prev() ID {
	var id ID
	copy(id[:], s.Entry.GetPrev())
	return id
}

// Seal signs e with key and returns the verified record. It checks e with the
// same rules as Open, so a node never publishes what its neighbors refuse.
func Seal(e *pb.Entry, key crypto.PrivKey) (*Signed, error) { return SealAt(e, key, time.Now()) }

// SealAt is Seal with the signer's clock given, for callers with an injected
// clock.
func SealAt(e *pb.Entry, key crypto.PrivKey, now time.Time) (*Signed, error) {
	raw, err := SealEnvelope(Domain, PayloadType, e, key)
	if err != nil {
		return nil, err
	}
	return Open(raw, now)
}

// Open decodes and verifies a marshaled envelope. now is the verifier's
// clock, for the future-timestamp check. A non-nil error is always an
// *Invalid naming the rule broken.
func Open(raw []byte, now time.Time) (*Signed, error) {
	e := new(pb.Entry)
	signer, err := OpenEnvelope(raw, MaxSize, Domain, Only(PayloadType, e))
	if err != nil {
		return nil, err
	}
	s := &Signed{Raw: raw, ID: IDOf(raw), Author: signer, Entry: e}
	if err := checkEntry(s, now); err != nil {
		return nil, err
	}
	return s, nil
}

func checkEntry(s *Signed, now time.Time) error {
	e := s.Entry
	author, err := peer.IDFromBytes(e.GetAuthor())
	if err != nil {
		return invalid(ReasonAuthor, "author is not a peer ID")
	}
	if author != s.Author {
		return invalid(ReasonAuthor, "author %s is not the signer %s", author, s.Author)
	}
	switch seq := e.GetSeq(); {
	case seq == 0:
		return invalid(ReasonSeq, "seq 0 (logs start at 1)")
	case seq > MaxSeq:
		return invalid(ReasonSeq, "seq %d beyond limit %d", seq, uint64(MaxSeq))
	}
	switch {
	case e.GetSeq() == 1 && len(e.GetPrev()) != 0:
		return invalid(ReasonPrev, "seq 1 has a prev hash")
	case e.GetSeq() > 1 && len(e.GetPrev()) != len(ID{}):
		return invalid(ReasonPrev, "prev hash is %d bytes, want %d", len(e.GetPrev()), len(ID{}))
	}
	if e.GetCreated() <= 0 {
		return invalid(ReasonTime, "no creation time")
	}
	if c := time.UnixMilli(e.GetCreated()); c.After(now.Add(MaxClockSkew)) {
		return invalid(ReasonFuture, "created %s is more than %s ahead of this node's clock", c.UTC().Format(time.RFC3339), MaxClockSkew)
	}
	if n := e.GetNeighborhood(); n == "" || len(n) > MaxNeighborhoodLen {
		return invalid(ReasonMalformed, "neighborhood must be 1 to %d bytes", MaxNeighborhoodLen)
	}
	switch b := e.GetBody().(type) {
	case *pb.Entry_Profile:
		return checkProfile(b.Profile)
	case *pb.Entry_Post:
		return CheckPost(b.Post)
	case *pb.Entry_Retraction:
		return checkRetraction(b.Retraction, e.GetSeq())
	case *pb.Entry_Request:
		return CheckRequest(b.Request)
	case *pb.Entry_Update:
		return checkUpdate(b.Update, e.GetSeq())
	case *pb.Entry_Yield:
		return checkYield(b.Yield, e.GetSeq())
	case *pb.Entry_Omission:
		return checkOmission(b.Omission)
	case nil:
		return invalid(ReasonMalformed, "no body")
	default:
		return invalid(ReasonMalformed, "unknown body %T", b)
	}
}

func checkProfile(p *pb.Profile) error {
	if p == nil {
		return invalid(ReasonMalformed, "empty profile")
	}
	if !utf8.ValidString(p.GetName()) || utf8.RuneCountInString(p.GetName()) > MaxNameLen {
		return invalid(ReasonTooLong, "name must be valid UTF-8 of at most %d characters", MaxNameLen)
	}
	return nil
}

// CheckPost applies the post rules: a known kind, 1 to MaxPostText
// characters of UTF-8 text, a plausible location, a well-formed reply-to.
func CheckPost(p *pb.Post) error {
	if p == nil {
		return invalid(ReasonMalformed, "empty post")
	}
	if !knownKind(p.GetKind()) {
		return invalid(ReasonKind, "unknown post kind %q (want one of %v)", truncate(p.GetKind(), 20), PostKinds)
	}
	t := p.GetText()
	if !utf8.ValidString(t) {
		return invalid(ReasonMalformed, "text is not UTF-8")
	}
	if t == "" {
		return invalid(ReasonEmpty, "empty post text")
	}
	if n := utf8.RuneCountInString(t); n > MaxPostText {
		return invalid(ReasonTooLong, "text is %d characters, limit %d", n, MaxPostText)
	}
	if l := p.GetLocation(); l != nil {
		if l.GetLatE6() < -90e6 || l.GetLatE6() > 90e6 || l.GetLonE6() < -180e6 || l.GetLonE6() > 180e6 {
			return invalid(ReasonMalformed, "location out of range")
		}
	}
	if r := p.GetReplyTo(); len(r) != 0 && len(r) != len(ID{}) {
		return invalid(ReasonMalformed, "reply-to is %d bytes, want %d", len(r), len(ID{}))
	}
	if len(p.GetClipGrant()) > MaxClipGrant {
		return invalid(ReasonOversized, "attached clip grant is %d bytes, limit %d", len(p.GetClipGrant()), MaxClipGrant)
	}
	return nil
}

func checkRetraction(r *pb.Retraction, seq uint64) error {
	if r == nil || len(r.GetTargetHash()) != len(ID{}) {
		return invalid(ReasonMalformed, "retraction needs a 32-byte target hash")
	}
	if r.GetTargetSeq() == 0 || r.GetTargetSeq() >= seq {
		return invalid(ReasonRetraction, "retraction at seq %d targets seq %d: only earlier records of the same log can be retracted", seq, r.GetTargetSeq())
	}
	return nil
}

func knownKind(k string) bool {
	for _, want := range PostKinds {
		if k == want {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
