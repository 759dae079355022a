package clips

import (
	"bytes"
	"encoding/hex"
	"mime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// Envelope constants. Changing any of them makes every existing manifest,
// grant or revocation invalid.
const (
	Domain         = "porchlight-clip"
	ManifestType   = "/porchlight/clip-manifest/1"
	GrantType      = "/porchlight/clip-grant/1"
	RevocationType = "/porchlight/clip-grant-revocation/1"
)

// Limits on manifests, grants and revocations.
const (
	// MinChunkSize and MaxChunkSize bound a manifest's chunk size: small
	// enough that a receiver verifies a chunk before it holds much of an
	// unverified clip, large enough that the manifest stays small.
	MinChunkSize = 64 << 10
	MaxChunkSize = 16 << 20
	// DefaultChunkSize is the chunk size of imports unless configured.
	DefaultChunkSize = 1 << 20
	// MaxChunks bounds the chunks of one clip: 7 GiB at the default chunk
	// size, 112 GiB at the largest. 7,168 hashes of 34 bytes on the wire
	// leave room for everything else under MaxManifestSize.
	MaxChunks = 7 << 10
	// MaxManifestSize bounds a marshaled manifest envelope.
	MaxManifestSize = 256 << 10
	// MaxGrantSize bounds a marshaled grant envelope (100 clip IDs are
	// 3,400 bytes).
	MaxGrantSize = 8 << 10
	// MaxRevocationSize bounds a marshaled grant revocation envelope.
	MaxRevocationSize = 1 << 10
	// MaxCameraLen bounds a camera name, in characters.
	MaxCameraLen = 64
	// MaxMediaTypeLen bounds a media type, in characters.
	MaxMediaTypeLen = 100
	// MaxGrantClips bounds the clips named by one grant.
	MaxGrantClips = 100
	// GrantIDLen is the length of a grant ID.
	GrantIDLen = 16
)

// SignedManifest is a verified clip manifest: produced by SealManifest or
// checked by OpenManifest.
type SignedManifest struct {
	Raw   []byte    // the marshaled envelope, exactly as signed and carried
	ID    record.ID // SHA-256 of Raw (not the clip ID: see ClipID)
	Owner peer.ID   // the signer
	M     *pb.Manifest
}

// ClipID is the clip's identity: the SHA-256 of the whole file.
func (m *SignedManifest) ClipID() record.ID {
	var id record.ID
	copy(id[:], m.M.GetClipId())
	return id
}

// Size is the size of the clip in bytes.
func (m *SignedManifest) Size() int64 { return int64(m.M.GetSize()) }

// Chunks is the number of chunks.
func (m *SignedManifest) Chunks() int { return len(m.M.GetChunkSha256()) }

// ChunkLen is the length of chunk i: the chunk size, except for the last
// chunk, which holds the rest.
func (m *SignedManifest) ChunkLen(i int) int {
	cs := int64(m.M.GetChunkSize())
	if i < 0 || i >= m.Chunks() {
		return 0
	}
	if rest := m.Size() - int64(i)*cs; rest < cs {
		return int(rest)
	}
	return int(cs)
}

// Start is when the recording started.
func (m *SignedManifest) Start() time.Time { return time.UnixMilli(m.M.GetStart()) }

// End is when the recording ended, or the zero time when unknown.
func (m *SignedManifest) End() time.Time {
	if m.M.GetEnd() == 0 {
		return time.Time{}
	}
	return time.UnixMilli(m.M.GetEnd())
}

// Imported is when the owner imported the clip.
func (m *SignedManifest) Imported() time.Time { return time.UnixMilli(m.M.GetImported()) }

// GrantID identifies a grant: 16 random bytes chosen by its owner.
type GrantID [GrantIDLen]byte

func (id GrantID) String() string { return hex.EncodeToString(id[:]) }

// SignedGrant is a verified consent grant.
type SignedGrant struct {
	Raw   []byte
	ID    record.ID // SHA-256 of Raw
	Owner peer.ID   // the signer
	G     *pb.Grant
}

// GrantID is the ID the owner gave the grant (revocations name it).
func (g *SignedGrant) GrantID() GrantID {
	var id GrantID
	copy(id[:], g.G.GetGrantId())
	return id
}

// Grantee is the peer the grant is for, or "" when it is for every peer of
// the neighborhood.
func (g *SignedGrant) Grantee() peer.ID { return peer.ID(g.G.GetGrantee()) }

// Covers reports whether the grant names clip.
func (g *SignedGrant) Covers(clip record.ID) bool {
	for _, c := range g.G.GetClipIds() {
		if bytes.Equal(c, clip[:]) {
			return true
		}
	}
	return false
}

// ClipIDs are the clips the grant names.
func (g *SignedGrant) ClipIDs() []record.ID {
	ids := make([]record.ID, len(g.G.GetClipIds()))
	for i, c := range g.G.GetClipIds() {
		copy(ids[i][:], c)
	}
	return ids
}

// Issued is when the owner signed the grant.
func (g *SignedGrant) Issued() time.Time { return time.UnixMilli(g.G.GetIssued()) }

// Expires is the first instant the grant is no longer valid.
func (g *SignedGrant) Expires() time.Time { return time.UnixMilli(g.G.GetExpires()) }

// SignedRevocation is a verified grant revocation.
type SignedRevocation struct {
	Raw   []byte
	ID    record.ID // SHA-256 of Raw
	Owner peer.ID   // the signer
	R     *pb.GrantRevocation
}

// GrantID is the ID of the revoked grant.
func (r *SignedRevocation) GrantID() GrantID {
	var id GrantID
	copy(id[:], r.R.GetGrantId())
	return id
}

// Revokes reports whether r revokes g: the same grant ID, signed by the
// grant's owner (no one else can revoke a grant).
func (r *SignedRevocation) Revokes(g *SignedGrant) bool {
	return r != nil && g != nil && r.Owner == g.Owner && r.GrantID() == g.GrantID()
}

func seal(payloadType string, m proto.Message, key crypto.PrivKey) ([]byte, error) {
	return record.SealEnvelope(Domain, payloadType, m, key)
}

// open checks everything about an envelope that does not depend on its
// payload (record.OpenEnvelope), decodes the payload into m and returns the
// signer.
func open(raw []byte, limit int, payloadType string, m proto.Message) (peer.ID, error) {
	return record.OpenEnvelope(raw, limit, Domain, record.Only(payloadType, m))
}

// checkOwner checks that owner is the signer's peer ID.
func checkOwner(what string, owner []byte, signer peer.ID) error {
	id, err := peer.IDFromBytes(owner)
	if err != nil {
		return record.Invalidf(record.ReasonAuthor, "%s owner is not a peer ID", what)
	}
	if id != signer {
		return record.Invalidf(record.ReasonAuthor, "%s owner %s is not the signer %s", what, id, signer)
	}
	return nil
}

// SealManifest signs m with the owner's key. It checks m with the same
// rules as OpenManifest, so a node never hands out a manifest its
// neighbors refuse.
func SealManifest(m *pb.Manifest, key crypto.PrivKey) (*SignedManifest, error) {
	raw, err := seal(ManifestType, m, key)
	if err != nil {
		return nil, err
	}
	return OpenManifest(raw)
}

// OpenManifest decodes and verifies a marshaled manifest envelope. A
// non-nil error is always a *record.Invalid naming the rule broken.
func OpenManifest(raw []byte) (*SignedManifest, error) {
	m := new(pb.Manifest)
	signer, err := open(raw, MaxManifestSize, ManifestType, m)
	if err != nil {
		return nil, err
	}
	if err := checkOwner("manifest", m.GetOwner(), signer); err != nil {
		return nil, err
	}
	if err := checkManifest(m); err != nil {
		return nil, err
	}
	return &SignedManifest{Raw: raw, ID: record.IDOf(raw), Owner: signer, M: m}, nil
}

func checkManifest(m *pb.Manifest) error {
	if len(m.GetClipId()) != len(record.ID{}) {
		return record.Invalidf(record.ReasonMalformed, "clip ID is %d bytes, want %d", len(m.GetClipId()), len(record.ID{}))
	}
	size, cs := m.GetSize(), uint64(m.GetChunkSize())
	if size == 0 {
		return record.Invalidf(record.ReasonEmpty, "clip size is 0")
	}
	if cs < MinChunkSize || cs > MaxChunkSize {
		return record.Invalidf(record.ReasonMalformed, "chunk size %d outside %d to %d", cs, MinChunkSize, MaxChunkSize)
	}
	want := size / cs
	if size%cs != 0 {
		want++
	}
	if want > MaxChunks {
		return record.Invalidf(record.ReasonOversized, "%d chunks, limit %d", want, MaxChunks)
	}
	if got := uint64(len(m.GetChunkSha256())); got != want {
		return record.Invalidf(record.ReasonMalformed, "%d chunk hashes for %d bytes in chunks of %d, want %d", got, size, cs, want)
	}
	for i, h := range m.GetChunkSha256() {
		if len(h) != len(record.ID{}) {
			return record.Invalidf(record.ReasonMalformed, "chunk %d hash is %d bytes, want %d", i, len(h), len(record.ID{}))
		}
	}
	if m.GetStart() <= 0 {
		return record.Invalidf(record.ReasonTime, "no start time")
	}
	if e := m.GetEnd(); e != 0 && e < m.GetStart() {
		return record.Invalidf(record.ReasonTime, "end %d is before start %d", e, m.GetStart())
	}
	if m.GetImported() <= 0 {
		return record.Invalidf(record.ReasonTime, "no import time")
	}
	if err := checkText("camera", m.GetCamera(), MaxCameraLen); err != nil {
		return err
	}
	return checkMediaType(m.GetMediaType())
}

func checkText(what, s string, limit int) error {
	if !utf8.ValidString(s) {
		return record.Invalidf(record.ReasonMalformed, "%s is not UTF-8", what)
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return record.Invalidf(record.ReasonTooLong, "%s is %d characters, limit %d", what, n, limit)
	}
	return nil
}

// checkMediaType accepts what a Content-Type header may carry: it is served
// as one.
func checkMediaType(t string) error {
	if t == "" {
		return record.Invalidf(record.ReasonMissing, "no media type")
	}
	if len(t) > MaxMediaTypeLen {
		return record.Invalidf(record.ReasonTooLong, "media type is %d characters, limit %d", len(t), MaxMediaTypeLen)
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] > 0x7e {
			return record.Invalidf(record.ReasonMalformed, "media type has a byte 0x%02x that is not printable ASCII", t[i])
		}
	}
	if _, _, err := mime.ParseMediaType(t); err != nil {
		return record.Invalidf(record.ReasonMalformed, "media type %q: %v", truncate(t, 40), err)
	}
	return nil
}

// servedMediaTypes are the media types a clip may carry: those the importer
// names (see mediaTypes in importfile.go) and PNG stills. None of them is
// one a browser runs script from. application/octet-stream (what an import
// of an unknown file is named) is accepted too: it is served as a download.
var servedMediaTypes = map[string]bool{
	"video/mp4":        true,
	"video/webm":       true,
	"video/quicktime":  true,
	"video/x-matroska": true,
	"video/x-msvideo":  true,
	"video/mp2t":       true,
	"image/jpeg":       true,
	"image/png":        true,
}

// ReasonMediaType is the reason a clip with a media type off the allow-list
// is refused.
const ReasonMediaType record.Reason = "media_type"

// octetStream is the media type of a clip whose kind is unknown.
const octetStream = "application/octet-stream"

// Playable reports whether a clip of media type t may be served as t to a
// browser: t is well formed and its type (parameters aside) is on the
// allow-list. Anything else, such as a clip stored before the list
// existed, is served as a download.
func Playable(t string) bool {
	if checkMediaType(t) != nil {
		return false
	}
	base, _, err := mime.ParseMediaType(t)
	return err == nil && servedMediaTypes[base]
}

// CheckMediaType refuses a clip media type that is not on the allow-list,
// so that a clip a node imports or receives can never be served as HTML,
// SVG or script in the UI's origin. It is checked on import and on receipt,
// not by OpenManifest, so that a clip stored before the allow-list existed
// still loads (and is served as a download). A non-nil error is a
// *record.Invalid.
func CheckMediaType(t string) error {
	if err := checkMediaType(t); err != nil {
		return err
	}
	if base, _, _ := mime.ParseMediaType(t); base == octetStream || Playable(t) {
		return nil
	}
	return record.Invalidf(ReasonMediaType, "media type %q is not a video or image type a clip may have (%s, or %s)",
		truncate(t, 40), allowedList(), octetStream)
}

func allowedList() string {
	ts := make([]string, 0, len(servedMediaTypes))
	for t := range servedMediaTypes {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return strings.Join(ts, ", ")
}

// SealGrant signs g with the owner's key, checking it as OpenGrant does.
func SealGrant(g *pb.Grant, key crypto.PrivKey) (*SignedGrant, error) {
	raw, err := seal(GrantType, g, key)
	if err != nil {
		return nil, err
	}
	return OpenGrant(raw)
}

// OpenGrant decodes and verifies a marshaled grant envelope. A non-nil
// error is always a *record.Invalid. Whether the grant lets a peer fetch a
// clip now is CanFetch's question.
func OpenGrant(raw []byte) (*SignedGrant, error) {
	g := new(pb.Grant)
	signer, err := open(raw, MaxGrantSize, GrantType, g)
	if err != nil {
		return nil, err
	}
	if err := checkOwner("grant", g.GetOwner(), signer); err != nil {
		return nil, err
	}
	if len(g.GetGrantId()) != GrantIDLen {
		return nil, record.Invalidf(record.ReasonMalformed, "grant ID is %d bytes, want %d", len(g.GetGrantId()), GrantIDLen)
	}
	if ge := g.GetGrantee(); len(ge) != 0 {
		if _, err := peer.IDFromBytes(ge); err != nil {
			return nil, record.Invalidf(record.ReasonMalformed, "grantee is not a peer ID (leave it empty for the whole neighborhood)")
		}
	}
	ids := g.GetClipIds()
	switch {
	case len(ids) == 0:
		return nil, record.Invalidf(record.ReasonMissing, "grant names no clip")
	case len(ids) > MaxGrantClips:
		return nil, record.Invalidf(record.ReasonTooLong, "grant names %d clips, limit %d", len(ids), MaxGrantClips)
	}
	seen := make(map[record.ID]bool, len(ids))
	for i, c := range ids {
		if len(c) != len(record.ID{}) {
			return nil, record.Invalidf(record.ReasonMalformed, "clip ID %d is %d bytes, want %d", i, len(c), len(record.ID{}))
		}
		id := record.ID(c)
		if seen[id] {
			return nil, record.Invalidf(record.ReasonMalformed, "clip %s is named twice", id)
		}
		seen[id] = true
	}
	if r := g.GetRequestId(); len(r) != 0 && len(r) != len(record.ID{}) {
		return nil, record.Invalidf(record.ReasonMalformed, "request ID is %d bytes, want %d or none", len(r), len(record.ID{}))
	}
	if g.GetIssued() <= 0 {
		return nil, record.Invalidf(record.ReasonTime, "no issue time")
	}
	if g.GetExpires() <= g.GetIssued() {
		return nil, record.Invalidf(record.ReasonTime, "grant expires (%d) before it is issued (%d)", g.GetExpires(), g.GetIssued())
	}
	return &SignedGrant{Raw: raw, ID: record.IDOf(raw), Owner: signer, G: g}, nil
}

// SealRevocation signs r with the owner's key, checking it as
// OpenRevocation does.
func SealRevocation(r *pb.GrantRevocation, key crypto.PrivKey) (*SignedRevocation, error) {
	raw, err := seal(RevocationType, r, key)
	if err != nil {
		return nil, err
	}
	return OpenRevocation(raw)
}

// OpenRevocation decodes and verifies a marshaled grant revocation. A
// non-nil error is always a *record.Invalid.
func OpenRevocation(raw []byte) (*SignedRevocation, error) {
	r := new(pb.GrantRevocation)
	signer, err := open(raw, MaxRevocationSize, RevocationType, r)
	if err != nil {
		return nil, err
	}
	if err := checkOwner("revocation", r.GetOwner(), signer); err != nil {
		return nil, err
	}
	if len(r.GetGrantId()) != GrantIDLen {
		return nil, record.Invalidf(record.ReasonMalformed, "grant ID is %d bytes, want %d", len(r.GetGrantId()), GrantIDLen)
	}
	if r.GetRevoked() <= 0 {
		return nil, record.Invalidf(record.ReasonTime, "no revocation time")
	}
	return &SignedRevocation{Raw: raw, ID: record.IDOf(raw), Owner: signer, R: r}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
