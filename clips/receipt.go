package clips

// Receipts: the receiver of a clip hands its signed transfer record back to
// the clip's owner, so the owner holds the receiver's own word that it
// received the clip (what a home needs to prove that an agency left the
// clip out of a request's yield; package requests).
//
// /porchlight/clip-receipt/1, the receiver handing a receipt to the owner
// after it stored the clip:
//
//	receiver -> owner   ReceiptRequest{transfer}  (<= MaxTransferSize + 16), then closes its side
//	owner -> receiver   ReceiptResponse{refused}  (<= 1 KiB); refused empty: kept
//
// The owner keeps a receipt (Grants.PutReceipt) only when the transfer
// record verifies (OpenTransfer), is signed by the stream's remote peer,
// names this owner, one of the owner's own grants whose grantee is that
// peer, and a clip the grant names; records the whole clip (sha256 = the
// clip ID); was received within the grant's validity and not in the
// future; and the owner's access log shows the clip served to that peer
// under that grant. Only the first receipt of a (grant, clip) is kept, so
// the table holds at most one receipt per clip of the owner's own grants.
// The server accepts streams only from neighbors, at most
// maxReceiptsPerPeer at a time and receiptBurst in a row from one peer,
// then one every receiptEvery.
//
// A receipt is a courtesy of the receiver: the receiver sends it after the
// clip is stored and held, and neither side fails the transfer when it
// cannot be sent or kept.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
	"github.com/porchlight-mesh/porchlight/store"
)

// ReceiptProtocol is the protocol a receiver hands receipts over.
const ReceiptProtocol = protocol.ID("/porchlight/clip-receipt/1")

// Bounds of the receipt protocol.
const (
	maxReceiptRequest  = MaxTransferSize + 16
	maxReceiptResponse = 1 << 10
	// maxReceiptsPerPeer is how many receipts a server reads from one peer
	// at once.
	maxReceiptsPerPeer = 2
	// receiptBurst and receiptEvery rate-limit receipts per peer: one per
	// clip received, so a burst of a whole grant's clips, then one every
	// receiptEvery.
	receiptBurst = MaxGrantClips
	receiptEvery = 500 * time.Millisecond
	// receiptTimeout bounds the sending of one receipt.
	receiptTimeout = 30 * time.Second
)

// Errors of receipts.
var (
	// ErrBadReceipt: a receipt that does not belong to one of this owner's
	// grants and clips, as served to its signer.
	ErrBadReceipt = errors.New("receipt does not match a clip this home served under its grant")
	// ErrReceiptExists: another receipt of the same grant and clip is
	// kept already; the first one stays.
	ErrReceiptExists = errors.New("a receipt of this clip under this grant is already kept")
)

func receiptKey(id GrantID, clip record.ID) []byte {
	return append(append([]byte(nil), id[:]...), clip[:]...)
}

// PutReceipt keeps the transfer record t, handed over by from, as the
// receipt of one of this node's clips (see ReceiptProtocol for every
// check). now bounds its receive time. Keeping the same receipt twice is
// a no-op; a different one for the same grant and clip is
// ErrReceiptExists. Refusals wrap ErrBadReceipt.
func (b *Grants) PutReceipt(t *SignedTransfer, from peer.ID, now time.Time) error {
	if t == nil || t.T == nil {
		return fmt.Errorf("%w: not a verified transfer record", ErrBadReceipt)
	}
	if b.self == "" {
		return errors.New("keep a receipt: the grant book does not know whose it is (GrantsConfig.Self)")
	}
	clip, gid := t.ClipID(), t.GrantID()
	switch {
	case t.Receiver != from:
		return fmt.Errorf("%w: signed by %s, handed over by %s", ErrBadReceipt, t.Receiver, from)
	case t.Owner() != b.self:
		return fmt.Errorf("%w: it names owner %s, not this home", ErrBadReceipt, t.Owner())
	case t.Sum() != clip:
		return fmt.Errorf("%w: it records SHA-256 %s, not the whole clip %s", ErrBadReceipt, t.Sum(), clip)
	}
	g, err := b.Get(b.self, gid)
	if errors.Is(err, ErrGrantNotFound) {
		return fmt.Errorf("%w: this home issued no grant %s", ErrBadReceipt, gid)
	}
	if err != nil {
		return err
	}
	rcv := t.Received()
	switch {
	case g.Grantee() != from:
		return fmt.Errorf("%w: grant %s is not for %s", ErrBadReceipt, gid, from)
	case !g.Covers(clip):
		return fmt.Errorf("%w: grant %s does not name clip %s", ErrBadReceipt, gid, clip)
	case rcv.Before(g.Issued().Add(-MaxGrantSkew)) || !rcv.Before(g.Expires()):
		return fmt.Errorf("%w: received %s, outside grant %s's validity", ErrBadReceipt, stamp(rcv), gid)
	case rcv.After(now.Add(MaxGrantSkew)):
		return fmt.Errorf("%w: received %s, in the future", ErrBadReceipt, stamp(rcv))
	}
	served, err := b.served(from, clip, gid, g.Issued().Add(-MaxGrantSkew))
	if err != nil {
		return err
	}
	if !served {
		return fmt.Errorf("%w: the access log shows no serving of clip %s to %s under grant %s", ErrBadReceipt, clip, from, gid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := receiptKey(gid, clip)
	err = b.db.Update(func(txn *store.Txn) error {
		switch v, err := txn.Get(store.Receipts, k); {
		case err == nil:
			if string(v) == string(t.Raw) {
				return nil
			}
			return fmt.Errorf("clip %s under grant %s: %w", clip, gid, ErrReceiptExists)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return txn.Put(store.Receipts, k, t.Raw)
	})
	if err != nil {
		return err
	}
	return b.db.Sync()
}

// served reports whether the access log holds, since since, the serving of
// clip to p under this node's grant gid. It reads the log newest first and
// stops at since.
func (b *Grants) served(p peer.ID, clip record.ID, gid GrantID, since time.Time) (bool, error) {
	found := false
	err := b.db.View(func(txn *store.Txn) error {
		return txn.Scan(store.AccessLog, nil, store.ScanOptions{Reverse: true}, func(it store.Item) error {
			k := it.Key()
			if len(k) != auditKeyLen {
				return nil
			}
			if time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).Before(since) {
				return store.ErrStop
			}
			v, err := it.Value()
			if err != nil {
				return err
			}
			var e pb.AuditEntry
			if err := proto.Unmarshal(v, &e); err != nil {
				return nil // not this one
			}
			if e.GetServed() && peer.ID(e.GetPeer()) == p && string(e.GetClipId()) == string(clip[:]) && string(e.GetGrantId()) == string(gid[:]) {
				found = true
				return store.ErrStop
			}
			return nil
		})
	})
	return found, err
}

// Receipt returns the receipt kept of clip under this node's grant id
// (ErrNotFound if there is none).
func (b *Grants) Receipt(id GrantID, clip record.ID) (*SignedTransfer, error) {
	raw, err := b.db.Get(store.Receipts, receiptKey(id, clip))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("receipt of clip %s under grant %s: %w", clip, id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return OpenTransfer(raw)
}

// Receipts lists the receipts kept, by grant and clip.
func (b *Grants) Receipts() ([]*SignedTransfer, error) {
	return store.ScanAll(b.db, store.Receipts, nil, func(_, raw []byte) (*SignedTransfer, error) { return OpenTransfer(raw) })
}

// SendReceipt hands t, a transfer record this node signed, to the clip's
// owner over ReceiptProtocol. It returns nil once the owner kept it; a
// refusal wraps ErrRefused.
func SendReceipt(ctx context.Context, h host.Host, t *SignedTransfer) error {
	if t == nil || t.Receiver != h.ID() {
		return errors.New("send receipt: not a transfer record signed by this node")
	}
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "receipt"), t.Owner(), ReceiptProtocol)
	if err != nil {
		return fmt.Errorf("send receipt to %s: open stream: %w", t.Owner(), err)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	_ = st.SetDeadline(time.Now().Add(headerTimeout))
	resp := new(pb.ReceiptResponse)
	if err := exchange(st, &pb.ReceiptRequest{Transfer: t.Raw}, resp, maxReceiptResponse); err != nil {
		_ = st.Reset()
		return fmt.Errorf("send receipt to %s: %w", t.Owner(), ctxErr(ctx, err))
	}
	_ = st.Close()
	if r := resp.GetRefused(); r != "" {
		return fmt.Errorf("send receipt to %s: %w", t.Owner(), refusal(r))
	}
	return nil
}

// ReceiptServerConfig configures NewReceiptServer. Zero values mean "use
// the default".
type ReceiptServerConfig struct {
	// Host receives the streams. Required.
	Host host.Host
	// Grants keeps the receipts; its Self must be Host's peer. Required.
	Grants *Grants
	// InNeighborhood reports whether a peer belongs to the neighborhood;
	// streams of any other peer are reset unread. Required.
	InNeighborhood func(peer.ID) bool
	// Now bounds receive times. Default time.Now.
	Now func() time.Time
	// OnReceipt, if set, is called with each receipt newly kept. It must
	// not block.
	OnReceipt func(*SignedTransfer)
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// ReceiptServer keeps the receipts handed over ReceiptProtocol.
type ReceiptServer struct {
	cfg     ReceiptServerConfig
	streams streams
	once    sync.Once
	limit   peerLimit
}

// NewReceiptServer registers the ReceiptProtocol handler on cfg.Host.
// Close removes it.
func NewReceiptServer(cfg ReceiptServerConfig) (*ReceiptServer, error) {
	switch {
	case cfg.Host == nil:
		return nil, errors.New("clips: receipt server: Host is required")
	case cfg.Grants == nil:
		return nil, errors.New("clips: receipt server: Grants is required")
	case cfg.Grants.self != cfg.Host.ID():
		return nil, errors.New("clips: receipt server: Grants.Self must be the host's peer")
	case cfg.InNeighborhood == nil:
		return nil, errors.New("clips: receipt server: InNeighborhood is required: only neighbors hand receipts")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &ReceiptServer{cfg: cfg}
	s.limit = peerLimit{now: cfg.Now, burst: receiptBurst, every: receiptEvery, concurrent: maxReceiptsPerPeer}
	cfg.Host.SetStreamHandler(ReceiptProtocol, s.handle)
	return s, nil
}

// Close removes the handler and waits for receipts being read. It is safe
// to call twice.
func (s *ReceiptServer) Close() error {
	s.once.Do(func() {
		s.cfg.Host.RemoveStreamHandler(ReceiptProtocol)
		s.streams.close()
	})
	return nil
}

func (s *ReceiptServer) handle(st network.Stream) {
	if !s.streams.add(st) {
		_ = st.Reset()
		return
	}
	defer s.streams.done(st)
	from := st.Conn().RemotePeer()
	if !s.cfg.InNeighborhood(from) {
		s.cfg.Logger.Debug("clips: receipt stream from a peer outside the neighborhood reset", "peer", from)
		_ = st.Reset()
		return
	}
	if !s.limit.enter(from) {
		s.cfg.Logger.Debug("clips: receipt refused: too many from this peer", "from", from)
		_ = st.Reset()
		return
	}
	defer s.limit.leave(from)
	_ = st.SetDeadline(time.Now().Add(headerTimeout))
	req := new(pb.ReceiptRequest)
	if err := readMsg(st, bufio.NewReaderSize(st, 2<<10), maxReceiptRequest, req, nil); err != nil {
		s.cfg.Logger.Info("clips: receipt not read", "from", from, "err", err)
		_ = st.Reset()
		return
	}
	resp := &pb.ReceiptResponse{}
	if err := s.accept(req, from); err != nil {
		s.cfg.Logger.Info("clips: receipt refused", "from", from, "reason", err)
		resp.Refused = reasonOf(err)
	}
	if _, err := protodelim.MarshalTo(st, resp); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

func (s *ReceiptServer) accept(req *pb.ReceiptRequest, from peer.ID) error {
	t, err := OpenTransfer(req.GetTransfer())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if err := s.cfg.Grants.PutReceipt(t, from, s.cfg.Now()); err != nil {
		if errors.Is(err, ErrBadReceipt) || errors.Is(err, ErrReceiptExists) {
			return err
		}
		s.cfg.Logger.Error("clips: cannot keep a receipt", "clip", t.ClipID(), "err", err)
		return errors.New("the owner could not keep the receipt")
	}
	if s.cfg.OnReceipt != nil {
		s.cfg.OnReceipt(t)
	}
	return nil
}

// peerLimit counts a server's streams per peer and rate-limits them: a
// token bucket of burst streams refilled one per every, kept as the time
// each peer's bucket is full again.
type peerLimit struct {
	now        func() time.Time
	burst      int
	every      time.Duration
	concurrent int

	mu   sync.Mutex
	open map[peer.ID]int
	full map[peer.ID]time.Time
}

func (l *peerLimit) enter(p peer.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open, l.full = map[peer.ID]int{}, map[peer.ID]time.Time{}
	}
	now := l.now()
	full := l.full[p]
	if full.Before(now) {
		full = now
	}
	if full.Add(l.every).Sub(now) > time.Duration(l.burst)*l.every || l.open[p] >= l.concurrent {
		return false
	}
	l.full[p] = full.Add(l.every)
	if len(l.full) > 4096 { // forget the peers whose buckets are full
		for q, t := range l.full {
			if t.Before(now) {
				delete(l.full, q)
			}
		}
	}
	l.open[p]++
	return true
}

func (l *peerLimit) leave(p peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[p]--; l.open[p] <= 0 {
		delete(l.open, p)
	}
}
