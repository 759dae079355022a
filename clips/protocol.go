package clips

// The two stream protocols of clips, one stream per exchange, messages
// varint-length-delimited protobuf (clips/pb/clips.proto), every read
// bounded in size and every stream under a deadline.
//
// /porchlight/clip/1, the requester fetching a clip from its owner's node:
//
//	requester -> owner   ClipRequest{grant, clip_id, offset, length}  (<= 9 KiB), then closes its side
//	owner -> requester   ClipResponse{refused} and nothing more, or
//	                     ClipResponse{manifest, offset, length} (<= 257 KiB)
//	                     followed by exactly length raw bytes of the clip
//
// length 0 in the request means "to the end". The owner answers with the
// requested range widened to whole chunks, so that the requester verifies
// every chunk against the signed manifest as it arrives and passes on only
// the bytes it asked for. The owner refuses (refused = the text of one of
// ErrNoGrant, ErrNotGrantee, ErrClipNotGranted, ErrGrantExpired,
// ErrGrantRevoked, ErrNotFound, ErrRange or ErrAccessLog) unless the grant
// verifies (OpenGrant) and CanFetch allows the stream's authenticated
// remote peer the clip now, the clip is one of the owner's own, and the
// range lies within it. It writes every attempt, served or refused, to its
// access log (Audit) before it answers, and sends no clip byte if that
// write fails.
//
// /porchlight/share/1, the owner delivering a grant to its grantee:
//
//	owner -> grantee     ShareRequest{grant, manifests} (<= about 25 MiB), then closes its side
//	grantee -> owner     ShareResponse{refused}          (<= 4 KiB); refused empty: accepted
//
// The grantee accepts a grant only from its owner (the stream's remote
// peer), naming itself as grantee, valid now, with at most one manifest per
// clip the grant names, each signed by the grant's owner.
//
// Both servers accept streams only from neighbors (InNeighborhood; any
// other peer's stream is reset before a byte is read), and read every
// message incrementally (readMsg): the length prefix is checked against the
// message's bound, and memory is reserved through the stream's libp2p
// resource scope and allocated only as the bytes arrive, in steps of
// readStep, each of which must arrive within stallTimeout. A peer that
// announces a large message and stalls holds at most one step of memory,
// for at most stallTimeout. A share server also takes at most
// maxSharesPerPeer deliveries from one peer at a time and buffers at most
// maxShareBuffered bytes of deliveries in all, and at most shareBurst
// deliveries from one peer, then one every shareEvery.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// Protocol IDs.
const (
	ClipProtocol  = protocol.ID("/porchlight/clip/1")
	ShareProtocol = protocol.ID("/porchlight/share/1")
)

// Bounds of the protocols.
const (
	maxClipRequest   = MaxGrantSize + 1<<10
	maxClipResponse  = MaxManifestSize + 1<<10
	maxShareRequest  = MaxGrantSize + MaxGrantClips*(MaxManifestSize+8) + 1<<10
	maxShareResponse = 4 << 10
)

// Deadlines of the protocols; variables only so tests can shorten them.
var (
	// headerTimeout bounds a stream until the clip bytes start: the request,
	// the checks and the response header.
	headerTimeout = 30 * time.Second
	// chunkTimeout bounds the transfer of each chunk (16 MiB at most), so a
	// large clip gets as long as it needs while a stalled peer does not.
	chunkTimeout = 60 * time.Second
	// stallTimeout bounds the wait for each readStep of a message.
	stallTimeout = 5 * time.Second
)

// Memory bounds of reading messages.
const (
	// readStep is how much of a message is allocated (and reserved) at a
	// time, as its bytes arrive.
	readStep = 64 << 10
	// maxSharesPerPeer is how many deliveries a share server takes from
	// one peer at once.
	maxSharesPerPeer = 2
	// maxShareBuffered bounds the bytes of deliveries a share server holds
	// in all at once.
	maxShareBuffered = 64 << 20
	// shareBurst and shareEvery rate-limit deliveries per peer: a burst of
	// shareBurst, then one every shareEvery (a home shares a handful of
	// grants a day; the owner's node retries a refused delivery later).
	shareBurst = 20
	shareEvery = 2 * time.Second
)

// errBusy refuses a share stream over the server's limits.
var errBusy = errors.New("too many grant deliveries at once; try again later")

// readMsg reads one varint-length-delimited message of at most limit bytes
// from r, which reads st, into m. It never allocates or reserves more than
// has arrived plus one readStep: each step's memory is reserved through
// st's resource scope first (refused: an error), and each step must arrive
// within stallTimeout, as must the whole message before st's deadline.
// budget, if set, is asked for each step first and told of the total when
// readMsg returns.
func readMsg(st msgStream, r *bufio.Reader, limit int, m proto.Message, budget *byteBudget) error {
	_ = st.SetReadDeadline(time.Now().Add(stallTimeout))
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return fmt.Errorf("read message length: %w", err)
	}
	if n > uint64(limit) {
		return fmt.Errorf("message of %d bytes announced, limit %d", n, limit)
	}
	buf, err := readN(st, r, int(n), budget)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(buf, m); err != nil {
		return fmt.Errorf("decode message: %w", err)
	}
	return nil
}

// readN reads exactly n bytes in steps, reserving each step first.
func readN(st msgStream, r *bufio.Reader, n int, budget *byteBudget) ([]byte, error) {
	scope := st.Scope()
	reserved := 0
	defer func() {
		scope.ReleaseMemory(reserved)
		if budget != nil {
			budget.release(reserved)
		}
	}()
	var buf []byte
	for len(buf) < n {
		step := min(readStep, n-len(buf))
		if budget != nil && !budget.take(step) {
			return nil, errBusy
		}
		if err := scope.ReserveMemory(step, network.ReservationPriorityLow); err != nil {
			if budget != nil {
				budget.release(step)
			}
			return nil, fmt.Errorf("reserve memory for a message: %w", err)
		}
		reserved += step
		buf = append(buf, make([]byte, step)...)
		_ = st.SetReadDeadline(time.Now().Add(stallTimeout))
		if _, err := io.ReadFull(r, buf[len(buf)-step:]); err != nil {
			return nil, fmt.Errorf("read message: %w", err)
		}
	}
	return buf, nil
}

// msgStream is what readMsg needs of a stream.
type msgStream interface {
	SetReadDeadline(time.Time) error
	Scope() network.StreamScope
}

// byteBudget bounds bytes held across streams.
type byteBudget struct {
	mu        sync.Mutex
	used, max int
}

func (b *byteBudget) take(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *byteBudget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// Errors callers test for. A refusal by the owner's node wraps ErrRefused
// and, when the owner gave one of the reasons CanFetch or the server
// return, that sentinel too (errors.Is(err, ErrGrantExpired) works on the
// requester's side).
var (
	// ErrRefused: the peer refused the fetch or the share.
	ErrRefused = errors.New("refused by the peer")
	// ErrRange: the requested byte range is not within the clip.
	ErrRange = errors.New("requested range is outside the clip")
	// ErrAccessLog: the owner's node could not record the access, so it
	// served nothing.
	ErrAccessLog = errors.New("owner's node could not record the access")
	// ErrNotOwnerGrant: a share carried a grant that its sender did not sign.
	ErrNotOwnerGrant = errors.New("grant was not sent by its owner")
	// ErrBadManifest: a share carried a manifest that does not verify,
	// belongs to another owner, or names a clip the grant does not.
	ErrBadManifest = errors.New("manifest does not belong with the grant")
	// ErrUnreachable: no stream to the owner's node could be opened and
	// this node has no connection to it, direct or relayed (it is offline,
	// or no address of it, its relay addresses included, answers).
	ErrUnreachable = errors.New("owner's node is not reachable")
)

// reasons are the refusals that travel by their text, so both sides can
// name them.
var reasons = []error{
	ErrNoGrant, ErrNotGrantee, ErrClipNotGranted, ErrGrantExpired, ErrGrantRevoked,
	ErrNotFound, ErrRange, ErrAccessLog, ErrNotOwnerGrant, ErrBadManifest,
	ErrGrantExists, ErrTooManyGrants, ErrBadReceipt, ErrReceiptExists,
}

// reasonOf is the text a refusal for err carries: its sentinel's.
func reasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return err.Error()
}

// refusal turns a peer's refusal text back into an error.
func refusal(text string) error {
	for _, r := range reasons {
		if r.Error() == text {
			return fmt.Errorf("%w: %w", ErrRefused, r)
		}
	}
	return fmt.Errorf("%w: %s", ErrRefused, truncate(text, 200))
}

// streams tracks the handlers of one server so Close can end them.
type streams struct {
	mu     sync.Mutex
	closed bool
	open   map[network.Stream]struct{}
	wg     sync.WaitGroup
}

func (s *streams) add(st network.Stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.open == nil {
		s.open = map[network.Stream]struct{}{}
	}
	s.open[st] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *streams) done(st network.Stream) {
	s.mu.Lock()
	delete(s.open, st)
	s.mu.Unlock()
	s.wg.Done()
}

// close resets every open stream and waits for their handlers.
func (s *streams) close() {
	s.mu.Lock()
	s.closed = true
	for st := range s.open {
		_ = st.Reset()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ServerConfig configures NewServer. Zero values mean "use the default".
type ServerConfig struct {
	// Host receives the streams. Required; its peer ID must be the Store's
	// owner, since requesters check that the manifest is signed by the peer
	// they talk to.
	Host host.Host
	// Store holds the clips served: only the owner's own clips, never those
	// received from peers. Required.
	Store *Store
	// Audit is the owner's access log. Required.
	Audit *Audit
	// Revoked reports whether the owner revoked a grant. Required: a server
	// that cannot tell must not serve.
	Revoked func(GrantID) bool
	// InNeighborhood reports whether a peer belongs to the neighborhood.
	// Streams of any other peer are reset unread, and it decides grants
	// that name no grantee (clips attached to a public post). Required.
	InNeighborhood func(peer.ID) bool
	// Now is the clock grants are checked against. Default time.Now.
	Now func() time.Time
	// OnAccess, if set, is called with each entry once it is in the access
	// log (served or refused), before any clip byte is sent. It must not
	// block.
	OnAccess func(Entry)
	// Logger reports failures no requester can act on. Default
	// slog.Default().
	Logger *slog.Logger
}

// Server serves the owner's clips over ClipProtocol.
type Server struct {
	cfg     ServerConfig
	owner   peer.ID
	streams streams
	once    sync.Once
}

// NewServer registers the ClipProtocol handler on cfg.Host. Close removes
// it.
func NewServer(cfg ServerConfig) (*Server, error) {
	switch {
	case cfg.Host == nil:
		return nil, errors.New("clips: server: Host is required")
	case cfg.Store == nil:
		return nil, errors.New("clips: server: Store is required")
	case cfg.Audit == nil:
		return nil, errors.New("clips: server: Audit is required")
	case cfg.Revoked == nil:
		return nil, errors.New("clips: server: Revoked is required")
	case cfg.InNeighborhood == nil:
		return nil, errors.New("clips: server: InNeighborhood is required: only neighbors may open clip streams")
	case cfg.Host.ID() != cfg.Store.Owner():
		return nil, fmt.Errorf("clips: server: host %s is not the store's owner %s; requesters would refuse its manifests", cfg.Host.ID(), cfg.Store.Owner())
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, owner: cfg.Store.Owner()}
	cfg.Host.SetStreamHandler(ClipProtocol, s.handle)
	return s, nil
}

// Close stops serving: it removes the handler, resets transfers in
// progress and waits for them. It is safe to call twice.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cfg.Host.RemoveStreamHandler(ClipProtocol)
		s.streams.close()
	})
	return nil
}

// plan is what the server decided to send.
type plan struct {
	l           *local
	first, last int    // chunks
	start, end  uint64 // bytes, chunk-aligned
}

func (s *Server) handle(st network.Stream) {
	if !s.streams.add(st) {
		_ = st.Reset()
		return
	}
	defer s.streams.done(st)
	remote := st.Conn().RemotePeer()
	if !s.cfg.InNeighborhood(remote) {
		s.cfg.Logger.Debug("clips: clip stream from a peer outside the neighborhood reset", "peer", remote)
		_ = st.Reset()
		return
	}
	_ = st.SetDeadline(time.Now().Add(headerTimeout))
	req := new(pb.ClipRequest)
	if err := readMsg(st, bufio.NewReaderSize(st, 4<<10), maxClipRequest, req, nil); err != nil {
		// Still an attempt: the log shows a peer probing.
		if err := s.cfg.Audit.Record(Entry{Time: s.cfg.Now(), Peer: remote, Reason: "malformed request"}); err != nil {
			s.cfg.Logger.Error("clips: access log", "err", err)
		}
		_ = st.Reset()
		return
	}
	e := Entry{Time: s.cfg.Now(), Peer: remote}
	if len(req.GetClipId()) == len(record.ID{}) {
		e.Clip = record.ID(req.GetClipId())
	}
	p, g, err := s.decide(remote, e.Clip, req)
	if g != nil {
		e.Grant = g.GrantID()
	}
	if err == nil {
		e.Served, e.Bytes = true, int64(p.end-p.start)
	} else {
		e.Reason = reasonOf(err)
	}
	if rerr := s.cfg.Audit.Record(e); rerr != nil {
		s.cfg.Logger.Error("clips: cannot record an access; refusing it", "peer", remote, "err", rerr)
		if err == nil {
			err = ErrAccessLog
		}
	} else if s.cfg.OnAccess != nil {
		s.cfg.OnAccess(e)
	}
	if err != nil {
		s.cfg.Logger.Info("clips: fetch refused", "peer", remote, "clip", e.Clip, "reason", err)
		if _, werr := protodelim.MarshalTo(st, &pb.ClipResponse{Refused: reasonOf(err)}); werr != nil {
			_ = st.Reset()
			return
		}
		_ = st.Close()
		return
	}
	if err := s.send(st, p); err != nil {
		s.cfg.Logger.Warn("clips: transfer stopped", "peer", remote, "clip", e.Clip, "err", err)
		if !errors.Is(err, ErrChunkMismatch) {
			_ = st.Reset()
			return
		}
		// Closed, not reset, so the damaged chunk reaches the requester
		// and it reports the mismatch rather than a broken stream.
	}
	_ = st.Close()
}

// decide checks a request. Authorization comes first, so a peer without a
// grant learns nothing, not even whether a clip exists.
func (s *Server) decide(remote peer.ID, clip record.ID, req *pb.ClipRequest) (*plan, *SignedGrant, error) {
	if len(req.GetGrant()) == 0 {
		return nil, nil, ErrNoGrant
	}
	g, err := OpenGrant(req.GetGrant())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNoGrant, err)
	}
	if err := CanFetch(g, s.cfg.Revoked(g.GrantID()), remote, s.owner, clip, s.cfg.Now()); err != nil {
		return nil, g, err
	}
	if g.Grantee() == "" && !s.cfg.InNeighborhood(remote) {
		return nil, g, fmt.Errorf("%w: grant %s is for the neighborhood, and %s is not known to be in it", ErrNotGrantee, g.GrantID(), remote)
	}
	l, err := s.cfg.Store.load(clip)
	if err != nil {
		return nil, g, err
	}
	if l.m.Owner != s.owner {
		// Received from a peer: only its owner serves it.
		return nil, g, fmt.Errorf("clip %s is %s's: %w", clip, l.m.Owner, ErrNotFound)
	}
	size, off, n := uint64(l.m.Size()), req.GetOffset(), req.GetLength()
	if off >= size || n > size-off {
		return nil, g, fmt.Errorf("%w: %d bytes from %d of %d", ErrRange, n, off, size)
	}
	if n == 0 {
		n = size - off
	}
	cs := uint64(l.m.M.GetChunkSize())
	p := &plan{l: l, first: int(off / cs), last: int((off + n - 1) / cs)}
	p.start, p.end = uint64(p.first)*cs, min(uint64(p.last+1)*cs, size)
	return p, g, nil
}

func (s *Server) send(st network.Stream, p *plan) error {
	resp := &pb.ClipResponse{Manifest: p.l.m.Raw, Offset: p.start, Length: p.end - p.start}
	if _, err := protodelim.MarshalTo(st, resp); err != nil {
		return fmt.Errorf("send response: %w", err)
	}
	var buf []byte
	for i := p.first; i <= p.last; i++ {
		chunk, err := s.cfg.Store.storedChunk(p.l, i, buf)
		if err != nil {
			if errors.Is(err, ErrChunkMismatch) {
				s.cfg.Logger.Error("clips: a stored chunk is damaged; the clip cannot be served", "clip", p.l.m.ClipID(), "chunk", i, "err", err)
			}
			return err
		}
		buf = chunk
		_ = st.SetWriteDeadline(time.Now().Add(chunkTimeout))
		if _, err := st.Write(chunk); err != nil {
			return fmt.Errorf("send chunk %d: %w", i, err)
		}
	}
	return nil
}

// transfer is the requester's side of one ClipProtocol stream after a
// response that was not a refusal.
type transfer struct {
	st          network.Stream
	r           *bufio.Reader
	m           *SignedManifest
	first, last int
	stop        func() bool // stops resetting the stream when ctx ends
}

// request opens a stream to owner, asks for a range of clip and checks the
// response. Until finish, which the caller must call, ending ctx resets
// the stream.
func request(ctx context.Context, h host.Host, owner peer.ID, grant []byte, clip record.ID, offset, length uint64) (*transfer, error) {
	// A neighbor reached only through an anchor's relay: the clip may
	// still cross within the anchor's limits (see WithPathCheck).
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "clip"), owner, ClipProtocol)
	if err != nil {
		if c := h.Network().Connectedness(owner); c != network.Connected && c != network.Limited && ctx.Err() == nil {
			return nil, fmt.Errorf("open clip stream: %w (%w)", ErrUnreachable, err)
		}
		return nil, fmt.Errorf("open clip stream: %w", err)
	}
	t := &transfer{st: st, r: bufio.NewReader(st)}
	t.stop = context.AfterFunc(ctx, func() { _ = st.Reset() })
	if err := t.start(grant, clip, offset, length); err != nil {
		t.finish(err)
		return nil, ctxErr(ctx, err)
	}
	return t, nil
}

func (t *transfer) start(grant []byte, clip record.ID, offset, length uint64) error {
	_ = t.st.SetDeadline(time.Now().Add(headerTimeout))
	req := &pb.ClipRequest{Grant: grant, ClipId: clip[:], Offset: offset, Length: length}
	if _, err := protodelim.MarshalTo(t.st, req); err != nil {
		return fmt.Errorf("send clip request: %w", err)
	}
	if err := t.st.CloseWrite(); err != nil {
		return fmt.Errorf("send clip request: %w", err)
	}
	resp := new(pb.ClipResponse)
	if err := readMsg(t.st, t.r, maxClipResponse, resp, nil); err != nil {
		return fmt.Errorf("read clip response: %w", err)
	}
	return t.accept(resp, t.st.Conn().RemotePeer(), clip, offset, length)
}

// accept checks the owner's response to a request for length bytes of clip
// from offset, and sets up the transfer of the chunks it announces.
func (t *transfer) accept(resp *pb.ClipResponse, owner peer.ID, clip record.ID, offset, length uint64) error {
	if r := resp.GetRefused(); r != "" {
		return refusal(r)
	}
	m, err := OpenManifest(resp.GetManifest())
	if err == nil {
		err = CheckMediaType(m.M.GetMediaType())
	}
	if err != nil {
		return fmt.Errorf("owner's manifest: %w", err)
	}
	if m.Owner != owner {
		return fmt.Errorf("%w: manifest is signed by %s, not by %s who sent it", ErrChunkMismatch, m.Owner, owner)
	}
	if m.ClipID() != clip {
		return fmt.Errorf("%w: manifest is for clip %s, not %s", ErrChunkMismatch, m.ClipID(), clip)
	}
	size := uint64(m.Size())
	if offset >= size || length > size-offset {
		return fmt.Errorf("%w: %d bytes from %d of %d (the owner should have refused)", ErrRange, length, offset, size)
	}
	if length == 0 {
		length = size - offset
	}
	cs := uint64(m.M.GetChunkSize())
	t.m, t.first, t.last = m, int(offset/cs), int((offset+length-1)/cs)
	start, end := uint64(t.first)*cs, min(uint64(t.last+1)*cs, size)
	if resp.GetOffset() != start || resp.GetLength() != end-start {
		return fmt.Errorf("owner announced bytes %d+%d, want %d+%d", resp.GetOffset(), resp.GetLength(), start, end-start)
	}
	return nil
}

// chunk reads chunk i (the next one) into buf and verifies it.
func (t *transfer) chunk(i int, buf []byte) ([]byte, error) {
	n := t.m.ChunkLen(i)
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_ = t.st.SetReadDeadline(time.Now().Add(chunkTimeout))
	if _, err := io.ReadFull(t.r, buf); err != nil {
		return nil, fmt.Errorf("read chunk %d: %w", i, err)
	}
	if h := sha256.Sum256(buf); !bytes.Equal(h[:], t.m.M.GetChunkSha256()[i]) {
		return nil, fmt.Errorf("%w: chunk %d of clip %s has the wrong hash", ErrChunkMismatch, i, t.m.ClipID())
	}
	return buf, nil
}

// end checks that nothing follows the last chunk.
func (t *transfer) end() error {
	if _, err := t.r.ReadByte(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: the owner sent more bytes than it announced", ErrChunkMismatch)
		}
		return fmt.Errorf("read end of clip: %w", err)
	}
	return nil
}

func (t *transfer) finish(err error) {
	t.stop()
	if err != nil {
		_ = t.st.Reset()
		return
	}
	_ = t.st.Close()
}

// Fetch asks owner's node for length bytes of clip from offset (length 0:
// to the end), presenting grant, the owner's signed grant envelope, and
// writes them to w. It verifies the manifest (signed by owner, for clip)
// and every chunk against it before writing any of the chunk's bytes to w,
// so w receives only verified bytes: on the first chunk that does not match
// it stops with an error wrapping ErrChunkMismatch, having written the
// chunks before it. A refusal wraps ErrRefused and the reason's sentinel
// (ErrNotGrantee, ErrGrantExpired, ErrRange, ...).
func Fetch(ctx context.Context, h host.Host, owner peer.ID, grant []byte, clip record.ID, offset, length uint64, w io.Writer) (*SignedManifest, error) {
	m, err := fetch(ctx, h, owner, grant, clip, offset, length, w)
	if err != nil {
		return nil, fmt.Errorf("fetch clip %s from %s: %w", clip, owner, err)
	}
	return m, nil
}

func fetch(ctx context.Context, h host.Host, owner peer.ID, grant []byte, clip record.ID, offset, length uint64, w io.Writer) (m *SignedManifest, err error) {
	t, err := request(ctx, h, owner, grant, clip, offset, length)
	if err != nil {
		return nil, err
	}
	defer func() { t.finish(err) }()
	if length == 0 {
		length = uint64(t.m.Size()) - offset
	}
	cs := uint64(t.m.M.GetChunkSize())
	var buf []byte
	for i := t.first; i <= t.last; i++ {
		if buf, err = t.chunk(i, buf); err != nil {
			return nil, ctxErr(ctx, err)
		}
		// The part of chunk i within [offset, offset+length).
		base := uint64(i) * cs
		lo, hi := max(offset, base)-base, min(offset+length, base+uint64(len(buf)))-base
		if _, err := w.Write(buf[lo:hi]); err != nil {
			return nil, fmt.Errorf("write chunk %d: %w", i, err)
		}
	}
	if err := t.end(); err != nil {
		return nil, ctxErr(ctx, err)
	}
	return t.m, nil
}

// ctxErr prefers the context's error to the stream reset it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, ErrChunkMismatch) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// FetchAndStore fetches a whole clip from owner's node, as Fetch does, and
// stores it in s with PutVerified: nothing is stored unless every chunk and
// the whole file match the owner's manifest. A clip already stored is not
// fetched again.
func FetchAndStore(ctx context.Context, h host.Host, owner peer.ID, grant []byte, clip record.ID, s *Store) (*SignedManifest, error) {
	if m, err := s.Manifest(clip); err == nil {
		return m, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	m, err := fetchAndStore(ctx, h, owner, grant, clip, s, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch clip %s from %s: %w", clip, owner, err)
	}
	return m, nil
}

// pathCheckKey carries a path check in a context (WithPathCheck).
type pathCheckKey struct{}

// WithPathCheck returns a context under which FetchAndStore calls f once
// the owner's manifest has arrived and before any chunk is read: limited
// says the clip would cross a limited (relayed) connection, whose anchor
// carries a bounded number of bytes. An error from f ends the fetch with
// that error. f must not block.
func WithPathCheck(ctx context.Context, f func(m *SignedManifest, limited bool) error) context.Context {
	return context.WithValue(ctx, pathCheckKey{}, f)
}

// progressKey carries a progress callback in a context (WithProgress).
type progressKey struct{}

// WithProgress returns a context under which FetchAndStore reports each
// verified chunk: f(bytes stored so far, clip size). f must not block.
func WithProgress(ctx context.Context, f func(done, total int64)) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

// fetchAndStore is FetchAndStore; with want set, the owner must serve
// exactly that manifest (whose size the caller budgeted for), or nothing is
// read past it.
func fetchAndStore(ctx context.Context, h host.Host, owner peer.ID, grant []byte, clip record.ID, s *Store, want *SignedManifest) (m *SignedManifest, err error) {
	t, err := request(ctx, h, owner, grant, clip, 0, 0)
	if err != nil {
		return nil, err
	}
	defer func() { t.finish(err) }()
	if want != nil && t.m.ID != want.ID {
		return nil, fmt.Errorf("%w: the owner serves a manifest other than the one it delivered with the grant", ErrChunkMismatch)
	}
	if f, ok := ctx.Value(pathCheckKey{}).(func(*SignedManifest, bool) error); ok && f != nil {
		if err := f(t.m, t.st.Conn().Stat().Limited); err != nil {
			return nil, err
		}
	}
	src := &chunkSource{pool: newBufPool(int(t.m.M.GetChunkSize()), pipelineDepth)}
	chunks := t.chunks(src.pool)
	if f, ok := ctx.Value(progressKey{}).(func(done, total int64)); ok && f != nil {
		chunks = withProgress(chunks, t.m.Size(), f)
	}
	if err := s.putVerified(ctx, t.m, chunks, src); err != nil {
		return nil, ctxErr(ctx, err)
	}
	return t.m, nil
}

func withProgress(chunks iter.Seq2[[]byte, error], total int64, f func(done, total int64)) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		var done int64
		for b, err := range chunks {
			if err == nil {
				done += int64(len(b))
				f(done, total)
			}
			if !yield(b, err) {
				return
			}
		}
	}
}

// chunks yields the verified chunks of a whole-clip transfer, each in a
// buffer from pool (the store gives it back once the chunk is stored), and
// then an error if anything follows the last.
func (t *transfer) chunks(pool *bufPool) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for i := t.first; i <= t.last; i++ {
			b, err := t.chunk(i, pool.get())
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(b, nil) {
				return
			}
		}
		if err := t.end(); err != nil {
			yield(nil, err)
		}
	}
}

// Share delivers grant, signed by this node's owner, to its grantee over
// ShareProtocol, with the manifests of the clips it names (so the grantee
// can show what it may fetch before fetching). It returns nil once the
// grantee accepted the grant; a refusal wraps ErrRefused.
func Share(ctx context.Context, h host.Host, grantee peer.ID, grant *SignedGrant, manifests []*SignedManifest) error {
	if err := share(ctx, h, grantee, grant, manifests); err != nil {
		return fmt.Errorf("share grant with %s: %w", grantee, err)
	}
	return nil
}

func share(ctx context.Context, h host.Host, grantee peer.ID, grant *SignedGrant, manifests []*SignedManifest) error {
	switch {
	case grant == nil:
		return errors.New("no grant")
	case grant.Owner != h.ID():
		return fmt.Errorf("%w: the grant is %s's, and only its owner delivers it", ErrNotOwnerGrant, grant.Owner)
	case grant.Grantee() != grantee:
		return fmt.Errorf("%w: the grant is for %q", ErrNotGrantee, grant.Grantee())
	}
	req := &pb.ShareRequest{Grant: grant.Raw}
	for _, m := range manifests {
		if m == nil || !grant.Covers(m.ClipID()) {
			return fmt.Errorf("%w: the grant does not name every clip whose manifest is sent", ErrBadManifest)
		}
		req.Manifests = append(req.Manifests, m.Raw)
	}
	// A grant is small: it crosses a relayed (limited) connection too.
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "share"), grantee, ShareProtocol)
	if err != nil {
		return fmt.Errorf("open share stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	_ = st.SetDeadline(time.Now().Add(headerTimeout))
	resp := new(pb.ShareResponse)
	err = exchange(st, req, resp, maxShareResponse)
	if err != nil {
		_ = st.Reset()
		return ctxErr(ctx, err)
	}
	_ = st.Close()
	if r := resp.GetRefused(); r != "" {
		return refusal(r)
	}
	return nil
}

// exchange sends req, closes the sending side and reads the response.
func exchange(st network.Stream, req, resp proto.Message, limit int) error {
	if _, err := protodelim.MarshalTo(st, req); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	if err := st.CloseWrite(); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	if err := readMsg(st, bufio.NewReaderSize(st, 4<<10), limit, resp, nil); err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	return nil
}

// ShareServerConfig configures NewShareServer. Zero values mean "use the
// default".
type ShareServerConfig struct {
	// Host receives the streams. Required.
	Host host.Host
	// OnGrant keeps a grant delivered to this node, with the manifests of
	// the clips it names (at most one each, all signed by the grant's
	// owner), which is from: both are verified before it is called. An
	// error refuses the delivery, so the owner tries again. Required.
	OnGrant func(g *SignedGrant, manifests []*SignedManifest, from peer.ID) error
	// InNeighborhood reports whether a peer belongs to the neighborhood;
	// streams of any other peer are reset unread. Required.
	InNeighborhood func(peer.ID) bool
	// Now is the clock grants are checked against. Default time.Now.
	Now func() time.Time
	// Logger reports refused deliveries. Default slog.Default().
	Logger *slog.Logger
}

// ShareServer accepts grants delivered over ShareProtocol.
type ShareServer struct {
	cfg     ShareServerConfig
	streams streams
	once    sync.Once

	buffered byteBudget
	mu       sync.Mutex
	perPeer  map[peer.ID]int       // deliveries being read, by peer
	rate     map[peer.ID]time.Time // when each peer's bucket is full again
}

// NewShareServer registers the ShareProtocol handler on cfg.Host. Close
// removes it.
func NewShareServer(cfg ShareServerConfig) (*ShareServer, error) {
	switch {
	case cfg.Host == nil:
		return nil, errors.New("clips: share server: Host is required")
	case cfg.OnGrant == nil:
		return nil, errors.New("clips: share server: OnGrant is required")
	case cfg.InNeighborhood == nil:
		return nil, errors.New("clips: share server: InNeighborhood is required: only neighbors may deliver grants")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &ShareServer{cfg: cfg, buffered: byteBudget{max: maxShareBuffered}, perPeer: map[peer.ID]int{}, rate: map[peer.ID]time.Time{}}
	cfg.Host.SetStreamHandler(ShareProtocol, s.handle)
	return s, nil
}

// Close removes the handler and waits for deliveries in progress. It is
// safe to call twice.
func (s *ShareServer) Close() error {
	s.once.Do(func() {
		s.cfg.Host.RemoveStreamHandler(ShareProtocol)
		s.streams.close()
	})
	return nil
}

func (s *ShareServer) handle(st network.Stream) {
	if !s.streams.add(st) {
		_ = st.Reset()
		return
	}
	defer s.streams.done(st)
	from := st.Conn().RemotePeer()
	if !s.cfg.InNeighborhood(from) {
		s.cfg.Logger.Debug("clips: share stream from a peer outside the neighborhood reset", "peer", from)
		_ = st.Reset()
		return
	}
	if !s.enter(from) {
		s.cfg.Logger.Debug("clips: grant delivery refused: too many from this peer", "from", from)
		_ = st.Reset()
		return
	}
	defer s.leave(from)
	_ = st.SetDeadline(time.Now().Add(headerTimeout))
	req := new(pb.ShareRequest)
	if err := readMsg(st, bufio.NewReaderSize(st, 4<<10), maxShareRequest, req, &s.buffered); err != nil {
		s.cfg.Logger.Info("clips: grant delivery not read", "from", from, "err", err)
		_ = st.Reset()
		return
	}
	resp := &pb.ShareResponse{}
	if err := s.accept(req, from); err != nil {
		s.cfg.Logger.Info("clips: grant delivery refused", "from", from, "reason", err)
		resp.Refused = reasonOf(err)
	}
	if _, err := protodelim.MarshalTo(st, resp); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// enter counts a delivery from p, unless p has maxSharesPerPeer already
// or is over its rate: a token bucket of shareBurst deliveries refilled one
// per shareEvery, kept as the time the bucket is full again.
func (s *ShareServer) enter(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	full := s.rate[p]
	if full.Before(now) {
		full = now
	}
	if full.Add(shareEvery).Sub(now) > shareBurst*shareEvery || s.perPeer[p] >= maxSharesPerPeer {
		return false
	}
	s.rate[p] = full.Add(shareEvery)
	if len(s.rate) > 4096 { // forget the peers whose buckets are full
		for q, t := range s.rate {
			if t.Before(now) {
				delete(s.rate, q)
			}
		}
	}
	s.perPeer[p]++
	return true
}

func (s *ShareServer) leave(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perPeer[p]--; s.perPeer[p] <= 0 {
		delete(s.perPeer, p)
	}
}

func (s *ShareServer) accept(req *pb.ShareRequest, from peer.ID) error {
	g, err := OpenGrant(req.GetGrant())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoGrant, err)
	}
	self := s.cfg.Host.ID()
	now := s.cfg.Now()
	switch {
	case g.Owner != from:
		return fmt.Errorf("%w: grant %s is %s's", ErrNotOwnerGrant, g.GrantID(), g.Owner)
	case g.Grantee() != self:
		return fmt.Errorf("%w: grant %s is for %q", ErrNotGrantee, g.GrantID(), g.Grantee())
	case now.Add(MaxGrantSkew).Before(g.Issued()) || !now.Before(g.Expires()):
		return fmt.Errorf("%w: grant %s", ErrGrantExpired, g.GrantID())
	case len(req.GetManifests()) > len(g.G.GetClipIds()):
		return fmt.Errorf("%w: %d manifests for %d clips", ErrBadManifest, len(req.GetManifests()), len(g.G.GetClipIds()))
	}
	ms := make([]*SignedManifest, 0, len(req.GetManifests()))
	seen := map[record.ID]bool{}
	for i, raw := range req.GetManifests() {
		m, err := OpenManifest(raw)
		if err == nil {
			err = CheckMediaType(m.M.GetMediaType())
		}
		if err != nil {
			return fmt.Errorf("%w: manifest %d: %w", ErrBadManifest, i, err)
		}
		if m.Owner != g.Owner || !g.Covers(m.ClipID()) || seen[m.ClipID()] {
			return fmt.Errorf("%w: manifest %d (clip %s, owner %s)", ErrBadManifest, i, m.ClipID(), m.Owner)
		}
		seen[m.ClipID()] = true
		ms = append(ms, m)
	}
	if err := s.cfg.OnGrant(g, ms, from); err != nil {
		if errors.Is(err, ErrGrantExists) || errors.Is(err, ErrTooManyGrants) || errors.Is(err, ErrNotOwnerGrant) {
			return err // the sender's doing: refused by name
		}
		s.cfg.Logger.Error("clips: cannot keep a delivered grant", "grant", g.GrantID(), "err", err)
		return errors.New("the grantee could not keep the grant; try again later")
	}
	return nil
}
