package mesh

import (
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/prometheus/client_golang/prometheus"
)

// TestGossipDropReasonsAreCounted checks the RawTracer's mapping for the
// drops a test cannot provoke reliably (a full validation queue needs a
// faster attacker than the victim's cores): every reason pubsub reports,
// except our own validator's verdicts, gets its own label.
func TestGossipDropReasonsAreCounted(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	tr := dropTracer{m}
	for _, c := range []struct{ reason, label string }{
		{pubsub.RejectValidationQueueFull, "gossip_validation_queue_full"},
		{pubsub.RejectValidationThrottled, "gossip_validation_throttled"},
		{pubsub.RejectUnexpectedSignature, "gossip_unexpected_signature"},
		{pubsub.RejectUnexpectedAuthInfo, "gossip_unexpected_auth_info"},
		{pubsub.RejectMissingSignature, "gossip_missing_signature"},
		{pubsub.RejectInvalidSignature, "gossip_invalid_signature"},
		{pubsub.RejectSelfOrigin, "gossip_self_origin"},
		{pubsub.RejectBlacklstedPeer, "gossip_blacklisted_peer"},
		{pubsub.RejectBlacklistedSource, "gossip_blacklisted_source"},
	} {
		tr.RejectMessage(&pubsub.Message{}, c.reason)
		if got := counterValue(m.rejected.WithLabelValues(c.label)); got != 1 {
			t.Errorf("%q: %s = %v, want 1", c.reason, c.label, got)
		}
	}
	// Our validator's verdicts are counted by record reason, not twice.
	tr.RejectMessage(&pubsub.Message{}, pubsub.RejectValidationFailed)
	tr.RejectMessage(&pubsub.Message{}, pubsub.RejectValidationIgnored)
	tr.DropRPC(&pubsub.RPC{}, "")
	tr.UndeliverableMessage(&pubsub.Message{})
	for label, want := range map[string]float64{"gossip_outbound_dropped_rpc": 1, "gossip_undeliverable": 1, "validation failed": 0, "validation ignored": 0} {
		if got := counterValue(m.rejected.WithLabelValues(label)); got != want {
			t.Errorf("%s = %v, want %v", label, got, want)
		}
	}
}

// TestPeerBudget: the bucket refills at its rate, caps at its burst, and
// bytes bind for large records.
func TestPeerBudget(t *testing.T) {
	var b peerBudget
	now := timeZero()
	n := 0
	for b.allow("p", 100, now) {
		n++
	}
	if n != PeerRecordBurst {
		t.Fatalf("burst allowed %d records, want %d", n, PeerRecordBurst)
	}
	now = now.Add(1e9) // one second
	n = 0
	for b.allow("p", 100, now) {
		n++
	}
	if n != PeerRecordsPerSecond {
		t.Fatalf("one second later %d records, want %d", n, PeerRecordsPerSecond)
	}
	// Bytes: 16 KiB records empty the byte burst first.
	n = 0
	for b.allow("q", 16<<10, now) {
		n++
	}
	if want := PeerBytesBurst / (16 << 10); n != want {
		t.Fatalf("16 KiB records: %d allowed, want %d", n, want)
	}
	if !b.allow("r", 100, now) {
		t.Fatal("another peer's budget is shared")
	}
}

func timeZero() time.Time { return time.Unix(1_800_000_000, 0) }

// TestRefusalsLogOnceAndExpire: a refusal is reported new once (so it is
// logged once), lasts its time, and can be renewed after it ends.
func TestRefusalsLogOnceAndExpire(t *testing.T) {
	var r refusals
	now := timeZero()
	if !r.refuse("p", now, time.Minute) {
		t.Fatal("first refusal not reported as new")
	}
	if r.refuse("p", now.Add(time.Second), time.Minute) {
		t.Fatal("a refusal in force reported as new again")
	}
	if !r.has("p", now.Add(59*time.Second)) || r.has("q", now) {
		t.Fatal("has is wrong while the refusal is in force")
	}
	// Renewed by the second call: in force until 61 s.
	if !r.has("p", now.Add(60500*time.Millisecond)) {
		t.Fatal("the renewed refusal ended early")
	}
	if r.has("p", now.Add(62*time.Second)) {
		t.Fatal("the refusal outlived its time")
	}
	if !r.refuse("p", now.Add(63*time.Second), time.Minute) {
		t.Fatal("a refusal after the last one ended is not new")
	}
}

// TestPendingSetZeroValue: a peer that connected before the notifier was
// registered is first seen by guard.
func TestPendingSetZeroValue(t *testing.T) {
	var s pendingSet
	now := timeZero()
	if d, retry := s.connectedFor("p", now); d != 0 || retry {
		t.Fatalf("unseen peer: %v, %v", d, retry)
	}
	d, retry := s.connectedFor("p", now.Add(3*time.Second))
	if d != 3*time.Second || !retry {
		t.Fatalf("after 3 s: %v, retry %v; want 3s and a retry", d, retry)
	}
	if _, retry := s.connectedFor("p", now.Add(4*time.Second)); retry {
		t.Fatal("retried twice")
	}
}
