package mesh

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// wireStream records what a wireGate writes.
type wireStream struct {
	network.Stream
	out bytes.Buffer
}

func (s *wireStream) Write(b []byte) (int, error) { return s.out.Write(b) }

func frameOf(t *testing.T, rpc *pubsubpb.RPC) []byte {
	t.Helper()
	b, err := proto.Marshal(rpc)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

// readFrames splits what was written into RPCs.
func readFrames(t *testing.T, b []byte) []*pubsubpb.RPC {
	t.Helper()
	var out []*pubsubpb.RPC
	for len(b) > 0 {
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			t.Fatalf("torn frame: %x", b)
		}
		rpc := new(pubsubpb.RPC)
		if err := proto.Unmarshal(b[n:n+int(size)], rpc); err != nil {
			t.Fatal(err)
		}
		out = append(out, rpc)
		b = b[n+int(size):]
	}
	return out
}

// TestWireGate: what leaves for a peer is cut to what its standing allows
// at the moment of writing, however gossipsub's writes split the RPCs.
func TestWireGate(t *testing.T) {
	const feed, reqs = "porchlight/maple-st/feed/1", "porchlight/maple-st/requests/1"
	subscribe := func(topic string) *pubsubpb.RPC_SubOpts {
		yes := true
		return &pubsubpb.RPC_SubOpts{Subscribe: &yes, Topicid: &topic}
	}
	msg := func(topic, data string) *pubsubpb.Message {
		return &pubsubpb.Message{Topic: &topic, Data: []byte(data)}
	}
	ihave := func(topic string) *pubsubpb.ControlIHave {
		return &pubsubpb.ControlIHave{TopicID: &topic, MessageIDs: []string{"id"}}
	}
	// One RPC of everything: hello subscriptions, a message and IHAVE on
	// each topic, an IWANT.
	all := &pubsubpb.RPC{
		Subscriptions: []*pubsubpb.RPC_SubOpts{subscribe(feed), subscribe(reqs)},
		Publish:       []*pubsubpb.Message{msg(feed, "post"), msg(reqs, "request")},
		Control: &pubsubpb.ControlMessage{
			Ihave: []*pubsubpb.ControlIHave{ihave(feed), ihave(reqs)},
			Iwant: []*pubsubpb.ControlIWant{{MessageIDs: []string{"x"}}},
		},
	}
	feedOnly := &pubsubpb.RPC{Publish: []*pubsubpb.Message{msg(feed, "post 2")}}

	const (
		stranger  = peer.ID("stranger")
		member    = peer.ID("member")
		agency    = peer.ID("agency")
		served    = peer.ID("served") // an agency met in a served neighborhood
		latecomer = peer.ID("latecomer")
	)
	peers := newPeerSet(nil)
	now := time.Unix(0, 0)
	peers.add(member, now, Member, "")
	peers.add(agency, now, Agency, "")
	peers.add(served, now, Agency, "oak-ave")
	policy := gossipPolicy{peers: peers, reqs: reqs}

	topics := func(rpcs []*pubsubpb.RPC) (msgs, ihaves []string, subs, iwants int) {
		for _, r := range rpcs {
			for _, m := range r.Publish {
				msgs = append(msgs, m.GetTopic())
			}
			for _, h := range r.GetControl().GetIhave() {
				ihaves = append(ihaves, h.GetTopicID())
			}
			subs += len(r.Subscriptions)
			iwants += len(r.GetControl().GetIwant())
		}
		return
	}
	for _, c := range []struct {
		name   string
		peer   peer.ID
		split  int // write the frames in pieces of this many bytes (0: one Write each)
		msgs   []string
		ihaves []string
		rpcs   int
	}{
		{name: "member gets all", peer: member, msgs: []string{feed, reqs, feed}, ihaves: []string{feed, reqs}, rpcs: 2},
		{name: "stranger gets no topic's messages or control", peer: stranger, rpcs: 1},
		{name: "agency gets requests only", peer: agency, msgs: []string{reqs}, ihaves: []string{reqs}, rpcs: 1},
		{name: "served neighborhood's agency gets none", peer: served, rpcs: 1},
		{name: "torn writes", peer: agency, split: 3, msgs: []string{reqs}, ihaves: []string{reqs}, rpcs: 1},
		{name: "both frames in one write", peer: stranger, split: -1, rpcs: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &wireStream{}
			w := &wireGate{Stream: s, policy: policy, peer: c.peer, log: slog.New(slog.DiscardHandler)}
			in := append(frameOf(t, all), frameOf(t, feedOnly)...)
			switch {
			case c.split > 0:
				for r := bytes.NewReader(in); ; {
					b := make([]byte, c.split)
					n, err := r.Read(b)
					if err == io.EOF {
						break
					}
					if m, err := w.Write(b[:n]); err != nil || m != n {
						t.Fatalf("Write = %d, %v; want %d, nil", m, err, n)
					}
				}
			case c.split < 0:
				if _, err := w.Write(in); err != nil {
					t.Fatal(err)
				}
			default:
				for _, r := range []*pubsubpb.RPC{all, feedOnly} {
					if _, err := w.Write(frameOf(t, r)); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := readFrames(t, s.out.Bytes())
			msgs, ihaves, subs, iwants := topics(got)
			if len(got) != c.rpcs || !slices.Equal(msgs, c.msgs) || !slices.Equal(ihaves, c.ihaves) || subs != 2 || iwants != 1 {
				t.Errorf("sent %d RPCs: messages on %v, IHAVE on %v, %d subscriptions, %d IWANT; want %d RPCs: messages on %v, IHAVE on %v, 2 subscriptions, 1 IWANT",
					len(got), msgs, ihaves, subs, iwants, c.rpcs, c.msgs, c.ihaves)
			}
		})
	}

	// Standing is read as each RPC leaves: a peer that completes the
	// handshake gets what is written from then on.
	s := &wireStream{}
	w := &wireGate{Stream: s, policy: policy, peer: latecomer, log: slog.New(slog.DiscardHandler)}
	for _, st := range []Standing{Stranger, Member} {
		if st == Member {
			peers.add(latecomer, now, Member, "")
		}
		if _, err := w.Write(frameOf(t, feedOnly)); err != nil {
			t.Fatal(err)
		}
	}
	if msgs, _, _, _ := topics(readFrames(t, s.out.Bytes())); len(msgs) != 1 {
		t.Errorf("the latecomer got %d messages, want 1 (the one after its handshake)", len(msgs))
	}
}
