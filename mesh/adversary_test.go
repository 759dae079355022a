package mesh_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// rawPeer is a libp2p host with plain gossipsub and no validation: it can
// publish any bytes on a neighborhood topic, as an attacker would.
type rawPeer struct {
	h     host.Host
	topic *pubsub.Topic
}

func newRawPeer(t *testing.T, nb string) *rawPeer {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithLogger(quiet.With("who", "attacker")))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(mesh.TopicName(nb, "feed"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sub.Cancel()
		topic.Close()
		cancel()
		h.Close()
	})
	return &rawPeer{h: h, topic: topic}
}

func (r *rawPeer) connect(t *testing.T, n *testNode) {
	t.Helper()
	if err := r.h.Connect(context.Background(), n.info()); err != nil {
		t.Fatal(err)
	}
	// An attacker inside the neighborhood: it knows the name, so it passes
	// the handshake (TestStrangerWithoutHandshakeGetsNoFeed covers one
	// that does not).
	handshake(t, r.h, n.m.ID(), n.nb)
	// Publishing only reaches peers whose subscription we have seen.
	eventually(t, 10*time.Second, "attacker sees the node on the topic", func() bool {
		for _, p := range r.topic.ListPeers() {
			if p == n.m.ID() {
				return true
			}
		}
		return false
	})
}

func (r *rawPeer) publish(t *testing.T, data []byte) {
	t.Helper()
	if err := r.topic.Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

// publishUntil publishes data until cond holds. Right after two peers meet,
// gossipsub may drop a publish (no outbound stream yet), so a single
// publish proves nothing; nodes dedupe by content, so repeats are harmless.
func (r *rawPeer) publishUntil(t *testing.T, data []byte, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		r.publish(t, data)
		time.Sleep(100 * time.Millisecond)
	}
}

func sealEntry(t *testing.T, key crypto.PrivKey, e *pb.Entry) []byte {
	t.Helper()
	s, err := record.Seal(e, key)
	if err != nil {
		t.Fatal(err)
	}
	return s.Raw
}

func entryOf(key crypto.PrivKey, nb string, seq uint64, text string) *pb.Entry {
	id, _ := peer.IDFromPrivateKey(key)
	return &pb.Entry{
		Author: []byte(id), Seq: seq, Created: time.Now().UnixMilli(), Neighborhood: nb,
		Body: &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: text}},
	}
}

func TestInvalidGossipIsRejectedAndDeliveryGoesOn(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	valid := sealEntry(t, key, entryOf(key, "maple-st", 1, "looks fine"))
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)-1] ^= 1 // last byte is in the signature

	other, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	impostor := entryOf(key, "maple-st", 1, "written by someone else") // author: key; signer: other
	impostorRaw := sealUnchecked(t, other, impostor)

	cases := []struct {
		name   string
		data   []byte
		reason record.Reason
	}{
		{"garbage", []byte("not a record at all"), record.ReasonMalformed},
		{"truncated", valid[:len(valid)/2], record.ReasonMalformed},
		{"bad signature", flipped, record.ReasonSignature},
		{"oversized", make([]byte, record.MaxSize+1), record.ReasonOversized},
		{"author is not signer", impostorRaw, record.ReasonAuthor},
		{"other neighborhood", sealEntry(t, key, entryOf(key, "oak-ave", 1, "wrong street")), record.ReasonNeighborhood},
		{"text over the limit", sealUnchecked(t, other, entryOf(other, "maple-st", 1, strings.Repeat("x", record.MaxPostText+1))), record.ReasonTooLong},
	}
	for _, c := range cases {
		// A fresh attacker per case: a few invalid messages graylist a
		// peer (see scoreParams), after which a drops its messages unread.
		bad := newRawPeer(t, "maple-st")
		bad.connect(t, a)
		bad.publishUntil(t, c.data, "a counts "+c.name+" as "+string(c.reason), func() bool {
			return a.m.Rejected(string(c.reason)) >= 1
		})
	}
	// Nothing invalid was stored or relayed to b.
	if got := b.m.Rejected(string(record.ReasonSignature)); got != 0 {
		t.Errorf("b saw %v bad signatures: a relayed them", got)
	}
	// Good records still flow both ways.
	id := post(t, b, "still here")
	eventually(t, 10*time.Second, "honest post reaches a after the flood", func() bool { return has(a, id) })
	id = post(t, a, "and back")
	eventually(t, 10*time.Second, "honest post reaches b after the flood", func() bool { return has(b, id) })
}

func TestEquivocationIsFlaggedEverywhere(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	liar := newRawPeer(t, "maple-st")
	liar.connect(t, a)

	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	author, _ := peer.IDFromPrivateKey(key)
	one := sealEntry(t, key, entryOf(key, "maple-st", 1, "the truth"))
	two := sealEntry(t, key, entryOf(key, "maple-st", 1, "another truth"))
	liar.publishUntil(t, one, "first version reaches b", func() bool { return has(b, record.IDOf(one)) })
	liar.publishUntil(t, two, "second version reaches a", func() bool { return has(a, record.IDOf(two)) })
	for _, n := range []*testNode{a, b} {
		eventually(t, 10*time.Second, n.name+" flags the author", func() bool {
			h, _ := n.db.Head(author)
			return h.Flagged
		})
		_, proof, ok, err := n.db.Equivocation(author)
		if err != nil || !ok || len(proof) != 2 {
			t.Fatalf("%s: proof = %d envelopes, ok=%v, err=%v; want both", n.name, len(proof), ok, err)
		}
	}
	// A newcomer learns of the equivocation by sync alone.
	c := newTestNode(t, "c", "maple-st")
	connect(t, c, b)
	eventually(t, 10*time.Second, "newcomer flags the author", func() bool {
		h, _ := c.db.Head(author)
		return h.Flagged
	})
	feed := feedOf(t, c)
	for _, p := range feed {
		if p.Author == author && !p.AuthorFlagged {
			t.Fatalf("feed shows the equivocating author unflagged: %+v", p)
		}
	}
}
