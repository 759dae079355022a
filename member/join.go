package member

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-msgio/pbio"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/member/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// JoinProtocol is the protocol a joiner opens to a member.
const JoinProtocol = "/porchlight/join/1"

// Limits of the join protocol.
const (
	// MaxJoinRequest bounds the request a member reads.
	MaxJoinRequest = 8 << 10
	// MaxJoinResponse bounds the response a joiner reads: an admission
	// and a full proof.
	MaxJoinResponse = (MaxProof + 1) * (MaxDocSize + 16)
	// JoinTimeout bounds a join stream, on both sides.
	JoinTimeout = 5 * time.Second
	// JoinRatePerPeer and JoinRate bound the requests a member serves, per
	// second, from one peer and in all. A peer may send two at once (a
	// check, then the request), then one a second.
	JoinRatePerPeer  = 1
	joinBurstPerPeer = 2
	JoinRate         = 10
	// maxJoinPeers bounds the per-peer limiters kept.
	maxJoinPeers = 1024
)

// Refused is Join's error when the member refused: Reason is its one line.
type Refused struct{ Reason string }

func (e *Refused) Error() string { return "the member refused: " + e.Reason }

// joinLimits are ServeJoin's rate limits.
type joinLimits struct {
	mu      sync.Mutex
	overall *rate.Limiter
	peers   map[peer.ID]*rate.Limiter
}

func newJoinLimits() joinLimits {
	return joinLimits{overall: rate.NewLimiter(JoinRate, JoinRate), peers: map[peer.ID]*rate.Limiter{}}
}

// allow spends a token of p's limiter and of the overall one.
func (l *joinLimits) allow(p peer.ID, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	pl := l.peers[p]
	if pl == nil {
		if len(l.peers) >= maxJoinPeers {
			// Forget the peers whose buckets are full again: they are
			// the same as new ones.
			for q, ql := range l.peers {
				if ql.TokensAt(now) >= joinBurstPerPeer {
					delete(l.peers, q)
				}
			}
			if len(l.peers) >= maxJoinPeers {
				return false
			}
		}
		pl = rate.NewLimiter(JoinRatePerPeer, joinBurstPerPeer)
		l.peers[p] = pl
	}
	if !pl.AllowN(now, 1) {
		return false
	}
	return l.overall.AllowN(now, 1)
}

// DecodeJoinRequest decodes a join request's bytes (without the length
// prefix), refusing fields this version does not know.
func DecodeJoinRequest(b []byte) (*pb.JoinRequest, error) {
	if len(b) > MaxJoinRequest {
		return nil, fmt.Errorf("join request is %d bytes, limit %d", len(b), MaxJoinRequest)
	}
	req := new(pb.JoinRequest)
	if err := proto.Unmarshal(b, req); err != nil {
		return nil, fmt.Errorf("join request: %w", err)
	}
	if err := record.CheckKnownFields(req); err != nil {
		return nil, fmt.Errorf("join request: %w", err)
	}
	if err := checkText("name", req.GetName(), MaxName, false); err != nil {
		return nil, fmt.Errorf("join request: %s", err.(*record.Invalid).Detail)
	}
	return req, nil
}

// ServeJoin answers one join request on st (a handler of JoinProtocol):
// it admits the remote peer if its invite and claim hold, calls publish
// with the new admission, and answers the admission and the rest of the
// joiner's proof: the charter and the admission chains of the admitter
// (this node) and of the inviter, in roster order, so that the joiner's
// roster has it as a member and its own Proof is complete; or it answers
// why it refused (check_only: this node's Proof, admitting no one). A
// peer already a member gets its admission again. It reads at most
// MaxJoinRequest bytes, gives the stream
// JoinTimeout, reserves that memory from the stream's resource scope, and
// refuses beyond JoinRatePerPeer requests per second from one peer (two
// at once) or JoinRate in all.
func (s *Service) ServeJoin(st network.Stream, publish func(raw []byte)) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(JoinTimeout))
	joiner := st.Conn().RemotePeer()
	var resp *pb.JoinResponse
	if err := st.Scope().ReserveMemory(MaxJoinRequest, network.ReservationPriorityLow); err != nil {
		resp = &pb.JoinResponse{Refused: "this member is busy: try again later"}
	} else {
		defer st.Scope().ReleaseMemory(MaxJoinRequest)
		resp = s.answerJoin(st, joiner, publish)
	}
	if err := pbio.NewDelimitedWriter(st).WriteMsg(resp); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.CloseWrite()
}

func (s *Service) answerJoin(st network.Stream, joiner peer.ID, publish func([]byte)) *pb.JoinResponse {
	refuse := func(format string, args ...any) *pb.JoinResponse {
		return &pb.JoinResponse{Refused: fmt.Sprintf(format, args...)}
	}
	if !s.join.allow(joiner, time.Now()) {
		return refuse("too many join requests: try again in a few seconds")
	}
	b, err := readDelimited(st, MaxJoinRequest)
	if err != nil {
		return refuse("unreadable join request: %v", err)
	}
	req, err := DecodeJoinRequest(b)
	if err != nil {
		return refuse("%v", err)
	}
	if d := s.admissionOf(joiner); d != nil {
		return &pb.JoinResponse{Admission: d, Proof: s.proofOf(joiner, true)}
	}
	if req.GetCheckOnly() {
		if err := s.checkJoin(req.GetInvite(), req.GetClaim(), joiner); err != nil {
			return refuse("%s", reasonLine(err))
		}
		return &pb.JoinResponse{Proof: s.Proof()}
	}
	d, err := s.Admit(req.GetInvite(), req.GetClaim(), joiner, req.GetName())
	if err != nil {
		return refuse("%s", reasonLine(err))
	}
	if publish != nil {
		publish(d.Raw)
	}
	return &pb.JoinResponse{Admission: d.Raw, Proof: s.proofOf(joiner, true)}
}

// reasonLine is the one line a refused joiner is told.
func reasonLine(err error) string {
	var inv *record.Invalid
	if errors.As(err, &inv) {
		return inv.Detail
	}
	return err.Error()
}

// admissionOf returns the admission that made p a current member, or nil.
func (s *Service) admissionOf(p peer.ID) []byte {
	s.mu.RLock()
	e, ok := s.r.admission[p]
	member := s.r.current(p) != nil
	s.mu.RUnlock()
	if !ok || !member {
		return nil
	}
	raws, err := s.raws([]record.ID{e.id})
	if err != nil {
		return nil
	}
	return raws[0]
}

// checkJoin is Admit's judgement without admitting: what check_only asks.
func (s *Service) checkJoin(invite, claim []byte, joiner peer.ID) error {
	now := s.cfg.Now()
	inv, err := OpenDoc(invite, now)
	if err != nil {
		if record.ReasonOf(err) == record.ReasonSignature {
			return record.Invalidf(record.ReasonSignature, "invite is tampered with: signature does not verify")
		}
		return err
	}
	r, err := s.mayAct(false, "")
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	i := inv.Payload.GetInvite()
	if i == nil {
		return record.Invalidf(record.ReasonMalformed, "that is a %s, not an invite", inv.Kind())
	}
	e := entry{id: record.ID{0xff}, author: s.self, created: now.UnixMilli(), nb: r.nb, kind: kindAdmission, target: joiner, invite: inv.ID,
		inv: &inviteFacts{inviter: inv.Author, created: inv.Payload.GetCreated(), expires: i.GetExpires(), uses: int(i.GetUses()), nb: inv.Payload.GetNeighborhood()}}
	copy(e.inv.charter[:], i.GetCharter())
	if err := r.check(&e); err != nil {
		return err
	}
	if len(claim) != 64 || !verifyClaim(i.GetKey(), inv.ID, joiner, claim) {
		return record.Invalidf(ReasonClaim, "claim does not verify with the invite's key (tampered with, or made for another home)")
	}
	return nil
}

// readDelimited reads one uvarint-length-prefixed message of at most max
// bytes.
func readDelimited(r io.Reader, max int) ([]byte, error) {
	var n uint64
	var shift uint
	var one [1]byte
	for i := 0; ; i++ {
		if i == 10 {
			return nil, errors.New("bad length prefix")
		}
		if _, err := io.ReadFull(r, one[:]); err != nil {
			return nil, err
		}
		n |= uint64(one[0]&0x7f) << shift
		if one[0] < 0x80 {
			break
		}
		shift += 7
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%d bytes, limit %d", n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Join asks member p (reached at its addresses in inv, if any, or at those
// h already knows, relayed ones included) to admit this host with inv, under name (checkOnly:
// only whether it would). It returns the admission p signed (nil if
// checkOnly) and the rest of this host's proof of membership (see
// ServeJoin; with checkOnly, p's Proof); the caller ingests the proof, in
// order, then the admission. A
// refusal is a *Refused naming the reason.
func Join(ctx context.Context, h host.Host, p peer.ID, inv *Invite, name string, checkOnly bool) (admission []byte, proof [][]byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, JoinTimeout)
	defer cancel()
	for _, a := range inv.Addrs {
		if ai, err := peer.AddrInfoFromP2pAddr(a); err == nil && ai.ID == p {
			h.Peerstore().AddAddrs(p, ai.Addrs, peerstore.TempAddrTTL)
		}
	}
	// A member reached only through an anchor's relay (both homes behind
	// NATs that do not punch) admits too: the exchange is one small request
	// and an answer of at most MaxJoinResponse bytes, well within what an
	// anchor relays per connection.
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "join"), p, JoinProtocol)
	if err != nil {
		return nil, nil, fmt.Errorf("join via %s: %w", p, err)
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	req := &pb.JoinRequest{Invite: inv.Doc, Claim: inv.Claim(h.ID()), Name: name, CheckOnly: checkOnly}
	if err := pbio.NewDelimitedWriter(st).WriteMsg(req); err != nil {
		_ = st.Reset()
		return nil, nil, fmt.Errorf("join via %s: send: %w", p, err)
	}
	_ = st.CloseWrite()
	b, err := readDelimited(st, MaxJoinResponse)
	if err != nil {
		_ = st.Reset()
		return nil, nil, fmt.Errorf("join via %s: read the answer: %w", p, err)
	}
	resp := new(pb.JoinResponse)
	if err := proto.Unmarshal(b, resp); err != nil {
		return nil, nil, fmt.Errorf("join via %s: undecodable answer: %w", p, err)
	}
	if r := resp.GetRefused(); r != "" {
		return nil, nil, &Refused{Reason: trunc(r, 300)}
	}
	if len(resp.GetProof()) > MaxProof {
		return nil, nil, fmt.Errorf("join via %s: a proof of %d documents, limit %d", p, len(resp.GetProof()), MaxProof)
	}
	if !checkOnly {
		d, err := OpenDoc(resp.GetAdmission(), time.Now())
		if err != nil {
			return nil, nil, fmt.Errorf("join via %s: the admission: %w", p, err)
		}
		if a := d.Payload.GetAdmission(); a == nil || peer.ID(a.GetMember()) != h.ID() || d.Invite.ID != inv.ID {
			return nil, nil, fmt.Errorf("join via %s: the answer is not this home's admission", p)
		}
	}
	return resp.GetAdmission(), resp.GetProof(), nil
}
