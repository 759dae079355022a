package clips

// Evidence bundles: what an agency exports to show, offline and to anyone,
// that a clip is exactly what its owner recorded and consented to share
// with it.
//
// A bundle is a plain, uncompressed POSIX (ustar) tar archive whose
// members, all regular files under BundleDir, come in this order:
//
//	porchlight-evidence/1/README.txt      how to check the bundle by hand
//	porchlight-evidence/1/manifest.env    the owner's signed clip manifest
//	porchlight-evidence/1/grant.env       the owner's signed consent grant
//	porchlight-evidence/1/request.env     the agency's signed request record
//	                                      (only when the grant answers one)
//	porchlight-evidence/1/credential.env  the issuer's credential of the
//	                                      agency (optional)
//	porchlight-evidence/1/transfer.env    the receiver's signed transfer record
//	porchlight-evidence/1/clip.EXT        the clip's bytes; EXT from the
//	                                      manifest's media type (ClipMemberName)
//
// Every member has mode 0644, mtime 0 (1970-01-01), uid and gid 0 and no
// owner names, so one set of documents always makes the same bundle. The
// README is generated from the signed documents alone, and VerifyBundle
// regenerates it and compares: its text is frozen for format version 1.
//
// A Transfer record (payload type TransferType, pb.Transfer, under Domain
// like manifests and grants) is signed by the receiver when the last byte
// of a clip arrives: clip_id, grant_id, owner (the clip's owner), receiver
// (the signer), received (Unix ms), sha256 and size of the bytes received,
// and, since December 2026, grant: the ID of the grant envelope (checked
// against grant.env when present).

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"path"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// TransferType is the payload type of transfer records.
const TransferType = "/porchlight/clip-transfer/1"

// MaxTransferSize bounds a marshaled transfer envelope (about 350 bytes).
const MaxTransferSize = 1 << 10

// SignedTransfer is a verified transfer record: produced by SealTransfer
// or checked by OpenTransfer.
type SignedTransfer struct {
	Raw      []byte
	ID       record.ID // SHA-256 of Raw
	Receiver peer.ID   // the signer
	T        *pb.Transfer
}

// ClipID is the clip received.
func (t *SignedTransfer) ClipID() record.ID {
	var id record.ID
	copy(id[:], t.T.GetClipId())
	return id
}

// GrantID is the grant the clip was received under.
func (t *SignedTransfer) GrantID() GrantID {
	var id GrantID
	copy(id[:], t.T.GetGrantId())
	return id
}

// Owner is the clip's owner, who served it.
func (t *SignedTransfer) Owner() peer.ID { return peer.ID(t.T.GetOwner()) }

// Received is when the last byte arrived.
func (t *SignedTransfer) Received() time.Time { return time.UnixMilli(t.T.GetReceived()) }

// Grant is the ID of the grant envelope the clip was received under, or
// the zero ID in a record made before transfer records named it.
func (t *SignedTransfer) Grant() record.ID {
	var id record.ID
	copy(id[:], t.T.GetGrant())
	return id
}

// Sum is the SHA-256 of the bytes received.
func (t *SignedTransfer) Sum() record.ID {
	var id record.ID
	copy(id[:], t.T.GetSha256())
	return id
}

// SealTransfer signs t with the receiver's key, checking it as
// OpenTransfer does.
func SealTransfer(t *pb.Transfer, key crypto.PrivKey) (*SignedTransfer, error) {
	raw, err := seal(TransferType, t, key)
	if err != nil {
		return nil, err
	}
	return OpenTransfer(raw)
}

// OpenTransfer decodes and verifies a marshaled transfer envelope. A
// non-nil error is always a *record.Invalid.
func OpenTransfer(raw []byte) (*SignedTransfer, error) {
	t := new(pb.Transfer)
	signer, err := open(raw, MaxTransferSize, TransferType, t)
	if err != nil {
		return nil, err
	}
	rcv, err := peer.IDFromBytes(t.GetReceiver())
	if err != nil {
		return nil, record.Invalidf(record.ReasonAuthor, "transfer receiver is not a peer ID")
	}
	if rcv != signer {
		return nil, record.Invalidf(record.ReasonAuthor, "transfer receiver %s is not the signer %s", rcv, signer)
	}
	if _, err := peer.IDFromBytes(t.GetOwner()); err != nil {
		return nil, record.Invalidf(record.ReasonMalformed, "transfer owner is not a peer ID")
	}
	if len(t.GetClipId()) != len(record.ID{}) {
		return nil, record.Invalidf(record.ReasonMalformed, "clip ID is %d bytes, want %d", len(t.GetClipId()), len(record.ID{}))
	}
	if len(t.GetGrantId()) != GrantIDLen {
		return nil, record.Invalidf(record.ReasonMalformed, "grant ID is %d bytes, want %d", len(t.GetGrantId()), GrantIDLen)
	}
	if len(t.GetSha256()) != sha256.Size {
		return nil, record.Invalidf(record.ReasonMalformed, "SHA-256 is %d bytes, want %d", len(t.GetSha256()), sha256.Size)
	}
	if n := len(t.GetGrant()); n != 0 && n != len(record.ID{}) {
		return nil, record.Invalidf(record.ReasonMalformed, "grant envelope ID is %d bytes, want %d", n, len(record.ID{}))
	}
	if t.GetSize() == 0 {
		return nil, record.Invalidf(record.ReasonEmpty, "transfer of 0 bytes")
	}
	if t.GetReceived() <= 0 {
		return nil, record.Invalidf(record.ReasonTime, "no receive time")
	}
	return &SignedTransfer{Raw: raw, ID: record.IDOf(raw), Receiver: signer, T: t}, nil
}

// BundleDir is the directory every member of a version 1 bundle is in.
const BundleDir = "porchlight-evidence/1/"

// Names of the bundle's members, relative to BundleDir. The clip's name
// depends on its media type: see ClipMemberName.
const (
	MemberReadme     = "README.txt"
	MemberManifest   = "manifest.env"
	MemberGrant      = "grant.env"
	MemberRequest    = "request.env"
	MemberCredential = "credential.env"
	MemberTransfer   = "transfer.env"
)

// MaxReadmeSize bounds the README member.
const MaxReadmeSize = 64 << 10

// maxTrailer bounds what may follow the end of the archive: zero padding,
// which tar programs add up to a 10 KiB record.
const maxTrailer = 1 << 20

// clipExts are the clip file extensions by media type. It is fixed here,
// not read from the system's MIME tables, so that a bundle's member names
// do not depend on the machine that wrote or checks it.
var clipExts = map[string]string{
	"video/mp4":        ".mp4",
	"video/quicktime":  ".mov",
	"video/webm":       ".webm",
	"video/x-matroska": ".mkv",
	"video/mp2t":       ".ts",
	"video/x-msvideo":  ".avi",
	"image/jpeg":       ".jpg",
}

// ClipMemberName is the name, relative to BundleDir, of the clip member of
// a clip of the given media type: "clip.mp4" for video/mp4, "clip.bin"
// for types without a known extension.
func ClipMemberName(mediaType string) string {
	t, _, err := mime.ParseMediaType(mediaType)
	if ext, ok := clipExts[t]; err == nil && ok {
		return "clip" + ext
	}
	return "clip.bin"
}

// Bundle is what an evidence bundle holds.
type Bundle struct {
	// Clip reads the clip's bytes: exactly Manifest.Size() of them.
	Clip io.Reader
	// Manifest, Grant and Transfer are required.
	Manifest *SignedManifest
	Grant    *SignedGrant
	// Request is the signed request record (record.Open) the grant answers.
	// Required when the grant names a request, refused when it does not.
	Request []byte
	// Credential is the issuer's credential document (record.OpenDoc) of
	// the agency that made Request. Optional.
	Credential []byte
	Transfer   *SignedTransfer
}

// VerifyError says which member of a bundle failed which check.
type VerifyError struct {
	// Member is the member's name relative to BundleDir (its full name when
	// it is not in BundleDir), or "" for the archive as a whole.
	Member string
	// Problem says what is wrong, in words for the person checking.
	Problem string
	// Err is the underlying error, if any (a *record.Invalid for a
	// document that does not open).
	Err error
}

func (e *VerifyError) Error() string {
	if e.Member == "" {
		return "evidence bundle: " + e.Problem
	}
	return "evidence bundle: " + e.Member + ": " + e.Problem
}

func (e *VerifyError) Unwrap() error { return e.Err }

func verr(member string, err error, format string, args ...any) *VerifyError {
	return &VerifyError{Member: member, Problem: fmt.Sprintf(format, args...), Err: err}
}

// Summary is what a bundle shows. After a failed check it holds what was
// learned before the failure.
type Summary struct {
	Owner     peer.ID // the clip's owner, who signed manifest and grant
	Receiver  peer.ID // who received the clip and signed the transfer
	Clip      record.ID
	Camera    string
	Start     time.Time
	End       time.Time // zero when unknown
	Size      int64
	MediaType string

	Grant        GrantID
	GrantIssued  time.Time
	GrantExpires time.Time
	Received     time.Time

	// Request, Agency (who signed the request) and CaseNumber are zero
	// when the grant answers no request.
	Request    record.ID
	Agency     peer.ID
	CaseNumber string
	// AgencyName and Issuer come from credential.env, when there is one.
	AgencyName string
	Issuer     peer.ID

	// Verified is true when every check passed; Verdict says so in words,
	// or names the failure.
	Verified bool
	Verdict  string
}

// slots are the members in bundle order.
const (
	slotReadme = iota
	slotManifest
	slotGrant
	slotRequest
	slotCredential
	slotTransfer
	slotClip
	numSlots
)

var slotNames = [numSlots]string{MemberReadme, MemberManifest, MemberGrant, MemberRequest, MemberCredential, MemberTransfer, "clip"}

var slotLimits = [numSlots]int64{MaxReadmeSize, MaxManifestSize, MaxGrantSize, record.MaxSize, record.MaxSize, MaxTransferSize, 0}

// docs holds a bundle's documents as they are checked, in bundle order.
type docs struct {
	now  time.Time
	sum  *Summary
	m    *SignedManifest
	g    *SignedGrant
	req  *record.Signed
	cred *record.Doc
	tr   *SignedTransfer
}

func (d *docs) clipName() string {
	if d.m == nil {
		return "clip"
	}
	return ClipMemberName(d.m.M.GetMediaType())
}

func (d *docs) manifest(raw []byte) error {
	m, err := OpenManifest(raw)
	if err != nil {
		return verr(MemberManifest, err, "not a valid signed clip manifest: %v", err)
	}
	d.m = m
	s := d.sum
	s.Owner, s.Clip, s.Camera, s.Start, s.End = m.Owner, m.ClipID(), m.M.GetCamera(), m.Start(), m.End()
	s.Size, s.MediaType = m.Size(), m.M.GetMediaType()
	return nil
}

func (d *docs) grant(raw []byte) error {
	g, err := OpenGrant(raw)
	if err != nil {
		return verr(MemberGrant, err, "not a valid signed consent grant: %v", err)
	}
	d.g = g
	s := d.sum
	s.Grant, s.GrantIssued, s.GrantExpires = g.GrantID(), g.Issued(), g.Expires()
	if g.Owner != d.m.Owner {
		return verr(MemberGrant, nil, "grant %s is signed by %s, not by the clip's owner %s who signed %s", g.GrantID(), g.Owner, d.m.Owner, MemberManifest)
	}
	if !g.Covers(d.m.ClipID()) {
		return verr(MemberGrant, nil, "grant %s does not name clip %s (the clip of %s)", g.GrantID(), d.m.ClipID(), MemberManifest)
	}
	return nil
}

// grantRequest is the request the grant answers, or the zero ID.
func (d *docs) grantRequest() record.ID {
	var id record.ID
	copy(id[:], d.g.G.GetRequestId())
	return id
}

func (d *docs) missingRequest() error {
	return verr(MemberRequest, nil, "missing: %s answers request %s, so the bundle must carry that request", MemberGrant, d.grantRequest())
}

func (d *docs) request(raw []byte) error {
	want := d.grantRequest()
	if want.IsZero() {
		return verr(MemberRequest, nil, "unexpected: %s answers no request", MemberGrant)
	}
	r, err := record.Open(raw, d.now)
	if err != nil {
		return verr(MemberRequest, err, "not a valid signed request record: %v", err)
	}
	body := r.Entry.GetRequest()
	if body == nil {
		return verr(MemberRequest, nil, "record %s is not a request for assistance", r.ID)
	}
	if r.ID != want {
		return verr(MemberRequest, nil, "request %s is not the request %s that %s answers", r.ID, want, MemberGrant)
	}
	d.req = r
	d.sum.Request, d.sum.Agency, d.sum.CaseNumber = r.ID, r.Author, body.GetCaseNumber()
	return nil
}

func (d *docs) credential(raw []byte) error {
	if d.req == nil {
		return verr(MemberCredential, nil, "unexpected: the bundle has no %s for it to certify", MemberRequest)
	}
	c, err := record.OpenDoc(raw)
	if err != nil {
		return verr(MemberCredential, err, "not a valid issuer document: %v", err)
	}
	if c.Credential == nil {
		return verr(MemberCredential, nil, "document %s is a revocation, not an agency credential", c.ID)
	}
	if want := record.ID(d.req.Entry.GetRequest().GetCredential()); c.ID != want {
		return verr(MemberCredential, nil, "credential %s is not the credential %s that %s is made under", c.ID, want, MemberRequest)
	}
	if agency := peer.ID(c.Credential.GetAgency()); agency != d.req.Author {
		return verr(MemberCredential, nil, "credential certifies agency %s, but %s is signed by %s", agency, MemberRequest, d.req.Author)
	}
	if !c.Valid(d.req.Created()) {
		return verr(MemberCredential, nil, "credential is valid from %s to %s, not when the request was made (%s)",
			stamp(time.UnixMilli(c.Credential.GetNotBefore())), stamp(time.UnixMilli(c.Credential.GetNotAfter())), stamp(d.req.Created()))
	}
	d.cred = c
	d.sum.AgencyName, d.sum.Issuer = c.Credential.GetName(), c.Issuer
	return nil
}

func (d *docs) transfer(raw []byte) error {
	t, err := OpenTransfer(raw)
	if err != nil {
		return verr(MemberTransfer, err, "not a valid signed transfer record: %v", err)
	}
	d.tr = t
	d.sum.Receiver, d.sum.Received = t.Receiver, t.Received()
	switch m, g := d.m, d.g; {
	case t.ClipID() != m.ClipID():
		return verr(MemberTransfer, nil, "transfer names clip %s, not the clip %s of %s", t.ClipID(), m.ClipID(), MemberManifest)
	case t.GrantID() != g.GrantID():
		return verr(MemberTransfer, nil, "transfer names grant %s, not the grant %s of %s", t.GrantID(), g.GrantID(), MemberGrant)
	case !t.Grant().IsZero() && t.Grant() != g.ID:
		return verr(MemberTransfer, nil, "transfer names grant envelope %s, not %s (%s)", t.Grant(), g.ID, MemberGrant)
	case t.Owner() != m.Owner:
		return verr(MemberTransfer, nil, "transfer names owner %s, not the clip's owner %s", t.Owner(), m.Owner)
	case t.T.GetSize() != m.M.GetSize():
		return verr(MemberTransfer, nil, "transfer records %d bytes received, but the clip is %d bytes", t.T.GetSize(), m.M.GetSize())
	case t.Sum() != m.ClipID():
		return verr(MemberTransfer, nil, "transfer records SHA-256 %s of the bytes received, not the clip's %s", t.Sum(), m.ClipID())
	case g.Grantee() != "" && g.Grantee() != t.Receiver:
		return verr(MemberGrant, nil, "grant %s is for %s, not for %s who signed %s", g.GrantID(), g.Grantee(), t.Receiver, MemberTransfer)
	case d.req != nil && d.req.Author != t.Receiver:
		return verr(MemberTransfer, nil, "the clip was received by %s, not by the agency %s that signed %s", t.Receiver, d.req.Author, MemberRequest)
	case t.Received().Before(g.Issued().Add(-MaxGrantSkew)) || !t.Received().Before(g.Expires()):
		return verr(MemberTransfer, nil, "clip received %s, outside the grant's validity (%s to %s)", stamp(t.Received()), stamp(g.Issued()), stamp(g.Expires()))
	}
	return nil
}

// clipHasher checks clip bytes written to it against a manifest, chunk by
// chunk, holding no more than the hash states.
type clipHasher struct {
	m      *SignedManifest
	member string
	whole  hash.Hash
	chunk  hash.Hash
	i      int   // current chunk
	inI    int   // bytes of chunk i seen
	n      int64 // bytes seen
}

func newClipHasher(m *SignedManifest) *clipHasher {
	return &clipHasher{m: m, member: ClipMemberName(m.M.GetMediaType()), whole: sha256.New(), chunk: sha256.New()}
}

func (h *clipHasher) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if h.i >= h.m.Chunks() {
			return written, verr(h.member, nil, "longer than the %d bytes %s gives", h.m.Size(), MemberManifest)
		}
		take := min(len(p), h.m.ChunkLen(h.i)-h.inI)
		h.whole.Write(p[:take])
		h.chunk.Write(p[:take])
		h.inI += take
		h.n += int64(take)
		written += take
		p = p[take:]
		if h.inI == h.m.ChunkLen(h.i) {
			if !bytes.Equal(h.chunk.Sum(nil), h.m.M.GetChunkSha256()[h.i]) {
				start := int64(h.i) * int64(h.m.M.GetChunkSize())
				return written, verr(h.member, nil, "chunk %d (bytes %d to %d) does not match its SHA-256 in %s: the clip was changed",
					h.i, start, start+int64(h.inI)-1, MemberManifest)
			}
			h.chunk.Reset()
			h.i++
			h.inI = 0
		}
	}
	return written, nil
}

// finish checks the whole clip once every byte was written.
func (h *clipHasher) finish() error {
	if h.n != h.m.Size() {
		return verr(h.member, nil, "%d bytes, but %s gives %d", h.n, MemberManifest, h.m.Size())
	}
	if sum := record.ID(h.whole.Sum(nil)); sum != h.m.ClipID() {
		return verr(h.member, nil, "SHA-256 %s is not the clip ID %s signed in %s", sum, h.m.ClipID(), MemberManifest)
	}
	return nil
}

// VerifyBundle checks an evidence bundle offline: that every member is
// there, once, in order; that every document opens and verifies; that they
// agree with each other (the grant is the clip owner's and names the clip
// and the receiver, the transfer is the receiver's and names the clip,
// grant and owner, the request is the one the grant answers and, when the
// credential is there, made by the agency it certifies); and that the clip
// bytes match the owner's manifest, chunk by chunk. It reads r once and
// holds at most one small document at a time, never the clip.
//
// A failure is a *VerifyError naming the member and the problem. Nothing
// here says whether the issuer is one to trust or whether the owner later
// revoked the grant: Summary names the issuer for the reader to judge.
func VerifyBundle(r io.Reader) (Summary, error) {
	var sum Summary
	err := verifyBundle(r, &sum, time.Now())
	if err != nil {
		sum.Verified, sum.Verdict = false, "FAILED: "+err.Error()
		return sum, err
	}
	sum.Verified, sum.Verdict = true, "verified: every signature and hash checks out"
	return sum, nil
}

// countingReader counts the bytes read through it: the archive's physical
// bytes, which a sparse member's logical size exceeds.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sparse says whether a member is a sparse file: GNU sparse, or a PAX
// header with GNU.sparse records. Its data is mostly holes the archive
// does not hold, so a small bundle could claim gigabytes.
func sparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func verifyBundle(r io.Reader, sum *Summary, now time.Time) error {
	d := &docs{now: now, sum: sum}
	cr := &countingReader{r: r}
	r = cr
	tr := tar.NewReader(r)
	var (
		seen   [numSlots]bool
		next   int // the first slot not yet passed
		readme []byte
		last   string // the last member read
	)
	// skipTo checks the slots between next and i, which the bundle lacks
	// (at is the member found in their place, "" at the end).
	skipTo := func(i int, at string) error {
		missing := "missing"
		if at != "" {
			missing = "missing (or out of order: it must come before " + at + ")"
		}
		for j := next; j < i; j++ {
			switch j {
			case slotRequest:
				if d.g != nil && !d.grantRequest().IsZero() {
					return d.missingRequest()
				}
			case slotCredential:
			case slotClip:
				return verr(d.clipName(), nil, "%s", missing)
			default:
				return verr(slotNames[j], nil, "%s", missing)
			}
		}
		return nil
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if last == "" {
				return verr("", err, "not a readable tar archive: %v", err)
			}
			return verr("", err, "archive is damaged after member %s: %v", last, err)
		}
		name := hdr.Name
		if bad := unsafePath(name); bad != "" {
			return verr(name, nil, "unsafe member name: %s", bad)
		}
		base, ok := strings.CutPrefix(name, BundleDir)
		if !ok {
			return verr(name, nil, "unexpected member outside %s", BundleDir)
		}
		slot := -1
		for i, n := range slotNames {
			if base == n || (i == slotClip && strings.HasPrefix(base, "clip.")) {
				slot = i
			}
		}
		if slot < 0 {
			return verr(base, nil, "unexpected member: a version 1 bundle holds only %s", strings.Join(append(slotNames[:slotClip:slotClip], "clip.EXT"), ", "))
		}
		if sparse(hdr) {
			return verr(base, nil, "a sparse file (its %d bytes are mostly holes the archive does not hold); a bundle's members are plain files", hdr.Size)
		}
		if hdr.Typeflag != tar.TypeReg {
			return verr(base, nil, "not a regular file (tar type %q)", hdr.Typeflag)
		}
		if seen[slot] {
			return verr(base, nil, "duplicate member: it appears twice")
		}
		if slot < next {
			return verr(base, nil, "out of order: it comes after %s; members must be in the order %s, clip", last, strings.Join(slotNames[:slotClip], ", "))
		}
		if err := skipTo(slot, base); err != nil {
			return err
		}
		seen[slot], next, last = true, slot+1, base
		if slot == slotClip {
			if want := d.clipName(); base != want {
				return verr(base, nil, "clip member must be named %s for media type %q", want, d.m.M.GetMediaType())
			}
			if hdr.Size != d.m.Size() {
				return verr(base, nil, "%d bytes, but %s gives %d", hdr.Size, MemberManifest, d.m.Size())
			}
			h := newClipHasher(d.m)
			at := cr.n
			if _, err := io.Copy(h, tr); err != nil {
				var ve *VerifyError
				if errors.As(err, &ve) {
					return ve
				}
				return verr(base, err, "cannot read it (is the bundle truncated?): %v", err)
			}
			if cr.n-at < hdr.Size {
				return verr(base, nil, "%d bytes, of which the archive holds only %d: a sparse file; a bundle's members are plain files", hdr.Size, cr.n-at)
			}
			if err := h.finish(); err != nil {
				return err
			}
			continue
		}
		if hdr.Size < 0 || hdr.Size > slotLimits[slot] {
			return verr(base, nil, "%d bytes, limit %d", hdr.Size, slotLimits[slot])
		}
		raw := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, raw); err != nil {
			return verr(base, err, "cannot read it (is the bundle truncated?): %v", err)
		}
		switch slot {
		case slotReadme:
			readme = raw
		case slotManifest:
			err = d.manifest(raw)
		case slotGrant:
			err = d.grant(raw)
		case slotRequest:
			err = d.request(raw)
		case slotCredential:
			err = d.credential(raw)
		case slotTransfer:
			err = d.transfer(raw)
		}
		if err != nil {
			return err
		}
	}
	if err := skipTo(numSlots, ""); err != nil {
		return err
	}
	if !bytes.Equal(readme, d.readme()) {
		return verr(MemberReadme, nil, "does not match the bundle's signed documents: it was edited (the documents themselves verify)")
	}
	// Past the end-of-archive blocks only zero padding may follow.
	n, err := io.Copy(zeroWriter{}, io.LimitReader(r, maxTrailer+1))
	switch {
	case errors.Is(err, errNonZero):
		return verr("", nil, "data after the end of the archive")
	case err != nil:
		return verr("", err, "cannot read the end of the archive: %v", err)
	case n > maxTrailer:
		return verr("", nil, "more than %d bytes after the end of the archive", maxTrailer)
	}
	return nil
}

var errNonZero = errors.New("non-zero byte")

// zeroWriter accepts only zero bytes.
type zeroWriter struct{}

func (zeroWriter) Write(p []byte) (int, error) {
	for i, b := range p {
		if b != 0 {
			return i, errNonZero
		}
	}
	return len(p), nil
}

// unsafePath says why a member name could write outside the directory a
// bundle is extracted into, or "".
func unsafePath(name string) string {
	switch {
	case name == "":
		return "empty name"
	case strings.ContainsAny(name, "\\\x00"):
		return "backslash or NUL in name"
	case path.IsAbs(name):
		return "absolute path"
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "path leaves the bundle directory (..)"
		}
	}
	if path.Clean(name) != name {
		return "path is not in clean form"
	}
	return ""
}

// WriteBundle writes b to w as an evidence bundle. It checks the documents
// as VerifyBundle does before writing anything, and the clip bytes as they
// are written: if they do not match the manifest it returns an error, and
// what it wrote to w is not a valid bundle.
func WriteBundle(w io.Writer, b Bundle) error {
	if b.Manifest == nil || b.Grant == nil || b.Transfer == nil || b.Clip == nil {
		return errors.New("write evidence bundle: clip, manifest, grant and transfer are all required")
	}
	d := &docs{now: time.Now(), sum: new(Summary)}
	check := []struct {
		raw  []byte
		open func([]byte) error
	}{
		{b.Manifest.Raw, d.manifest},
		{b.Grant.Raw, d.grant},
		{b.Request, d.request},
		{b.Credential, d.credential},
		{b.Transfer.Raw, d.transfer},
	}
	for i, c := range check {
		if c.raw == nil {
			if i == 2 && !d.grantRequest().IsZero() {
				return writeErr(d.missingRequest())
			}
			continue
		}
		if err := c.open(c.raw); err != nil {
			return writeErr(err)
		}
	}

	tw := tar.NewWriter(w)
	add := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg,
			Name:     BundleDir + name,
			Mode:     0o644,
			Size:     size,
			ModTime:  time.Unix(0, 0),
			Format:   tar.FormatUSTAR,
		})
	}
	members := []struct {
		name string
		data []byte
	}{
		{MemberReadme, d.readme()},
		{MemberManifest, b.Manifest.Raw},
		{MemberGrant, b.Grant.Raw},
		{MemberRequest, b.Request},
		{MemberCredential, b.Credential},
		{MemberTransfer, b.Transfer.Raw},
	}
	for _, m := range members {
		if m.data == nil {
			continue
		}
		if err := add(m.name, int64(len(m.data))); err != nil {
			return fmt.Errorf("write evidence bundle: %s: %w", m.name, err)
		}
		if _, err := tw.Write(m.data); err != nil {
			return fmt.Errorf("write evidence bundle: %s: %w", m.name, err)
		}
	}
	name := d.clipName()
	if err := add(name, d.m.Size()); err != nil {
		return fmt.Errorf("write evidence bundle: %s: %w", name, err)
	}
	h := newClipHasher(d.m)
	n, err := io.Copy(io.MultiWriter(h, tw), io.LimitReader(b.Clip, d.m.Size()))
	if err != nil {
		return writeErr(err)
	}
	if n == d.m.Size() {
		// The clip must end exactly where the manifest says.
		var one [1]byte
		if k, _ := io.ReadFull(b.Clip, one[:]); k != 0 {
			return writeErr(verr(name, nil, "the clip reader has more than the %d bytes %s gives", d.m.Size(), MemberManifest))
		}
	}
	if err := h.finish(); err != nil {
		return writeErr(err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write evidence bundle: %w", err)
	}
	return nil
}

// writeErr adds WriteBundle's context to an error, without repeating the
// "evidence bundle" of a *VerifyError.
func writeErr(err error) error {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return &writeError{ve}
	}
	return fmt.Errorf("write evidence bundle: %w", err)
}

type writeError struct{ ve *VerifyError }

func (e *writeError) Error() string {
	return "write evidence bundle: " + strings.TrimPrefix(e.ve.Error(), "evidence bundle: ")
}

func (e *writeError) Unwrap() error { return e.ve }

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// readme is the README member: generated from the documents alone, so
// VerifyBundle can regenerate it. Its wording is part of format version 1:
// changing it makes existing bundles fail to verify.
func (d *docs) readme() []byte {
	if d.m == nil || d.g == nil || d.tr == nil {
		return nil
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m, g, t := d.m, d.g, d.tr
	clip := ClipMemberName(m.M.GetMediaType())
	p("Porchlight evidence bundle, format porchlight-evidence/1\n\n")
	p("This archive holds one video clip, shared by its owner's own node with\n")
	p("the receiver below, and the signed documents that prove where it came\n")
	p("from. To check it automatically, without any network:\n\n")
	p("    porchlight verify BUNDLE.tar\n\n")
	p("Contents\n\n")
	p("  %-15s the clip: %d bytes, %s\n", clip, m.Size(), m.M.GetMediaType())
	p("  %-15s the owner's signed description of the clip\n", MemberManifest)
	p("  %-15s the owner's signed consent for the receiver to have it\n", MemberGrant)
	if d.req != nil {
		p("  %-15s the agency's signed request the consent answers\n", MemberRequest)
	}
	if d.cred != nil {
		p("  %-15s the issuer's signed certification of the agency\n", MemberCredential)
	}
	p("  %-15s the receiver's signed record of what it received\n\n", MemberTransfer)
	p("What the documents say\n\n")
	p("  clip ID (SHA-256)  %s\n", m.ClipID())
	p("  camera             %q\n", m.M.GetCamera())
	p("  recorded           %s to %s\n", stamp(m.Start()), stamp(m.End()))
	p("  owner              %s\n", m.Owner)
	p("  grant              %s, issued %s, expires %s\n", g.GrantID(), stamp(g.Issued()), stamp(g.Expires()))
	if ge := g.Grantee(); ge != "" {
		p("  grantee            %s\n", ge)
	} else {
		p("  grantee            every peer of the neighborhood\n")
	}
	if d.req != nil {
		p("  request            %s, case %q, by %s\n", d.req.ID, d.req.Entry.GetRequest().GetCaseNumber(), d.req.Author)
	}
	if d.cred != nil {
		p("  credential         %s, agency %q, issuer %s\n", d.cred.ID, d.cred.Credential.GetName(), d.cred.Issuer)
	}
	p("  receiver           %s, received %s\n\n", t.Receiver, stamp(t.Received()))
	p("Checking by hand\n\n")
	p("1. The clip: `sha256sum %s` must print the clip ID above. The clip is\n", clip)
	p("   also hashed in chunks of %d bytes; manifest.env lists each chunk's\n", m.M.GetChunkSize())
	p("   SHA-256 in order.\n")
	p("2. Each .env file is a libp2p signed envelope (protobuf Envelope:\n")
	p("   public_key = 1, payload_type = 2, payload = 3, signature = 5; see\n")
	p("   github.com/libp2p/specs RFC 0002). The signature is Ed25519 over the\n")
	p("   concatenation of, each preceded by its length as an unsigned varint:\n")
	p("   the domain, the payload type, the payload. The payload is a protobuf\n")
	p("   message (clips/pb/clips.proto and record/pb/record.proto):\n\n")
	p("     file            domain             payload type                 message\n")
	p("     manifest.env    porchlight-clip    %-28s Manifest\n", ManifestType)
	p("     grant.env       porchlight-clip    %-28s Grant\n", GrantType)
	p("     request.env     porchlight-record  %-28s Entry\n", record.PayloadType)
	p("     credential.env  porchlight-issuer  %-28s Credential\n", record.CredentialType)
	p("     transfer.env    porchlight-clip    %-28s Transfer\n\n", TransferType)
	p("   A peer ID is the identity multihash of the signer's public key.\n")
	p("3. The documents must agree: manifest and grant are signed by the\n")
	p("   owner; the grant names the clip ID and the receiver; the transfer is\n")
	p("   signed by the receiver and names the clip ID, the grant ID and the\n")
	p("   owner, with the clip's SHA-256 and size; a request's ID (the SHA-256\n")
	p("   of request.env) is the grant's request_id, and the credential's\n")
	p("   agency signed the request.\n")
	p("4. Whether to trust the issuer, and whether the owner has since revoked\n")
	p("   the grant, cannot be told from this archive alone.\n")
	return []byte(b.String())
}
