package requests_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/requests"
)

// TestStrangerGossipsCredentialFlood: a stranger on the requests topic
// gossips thousands of self-made credentials. The home next to it stores
// none (only the trusted agency's credential is on its disk), holds a
// bounded number in memory, counts the flood, and a newcomer that syncs
// from the home receives none of them. (TestStrangerCredentialFloodStaysBounded
// has the forged request's refusal after a flood.)
func TestStrangerGossipsCredentialFlood(t *testing.T) {
	const flood = 3000
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	center := metersNorth(cityHall, 200)
	home := newNetNode(t, "home", &center, issuer)
	agency := newNetNode(t, "Springfield PD", nil, issuer)
	agency.connect(home)
	now := time.Now()
	cred, err := requests.Certify(issuerKey, agency.m.ID(), "Springfield PD", mustArea(t, "circle:40.7128,-74.0060,5000"), now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := agency.m.PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the home has the agency's credential", func() bool { d, _ := home.svc.Document(cred.ID); return d != nil })

	stranger := newNetNode(t, "stranger", nil)
	stranger.connect(home)
	waitFor(t, "the stranger joins the requests topic", func() bool { return len(home.m.Peers()) >= 2 })
	for _, raw := range selfMadeCredentials(t, flood) {
		if err := stranger.m.PublishDoc(raw); err != nil {
			t.Fatal(err)
		}
	}
	// The forger's credential and a request under it, last.
	rogueKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	forgedCred, _ := requests.Certify(rogueKey, stranger.m.ID(), "Totally Real PD", mustArea(t, "circle:40.7128,-74.0060,5000"), now.Add(-time.Hour), now.Add(time.Hour))
	if err := stranger.m.PublishDoc(forgedCred.Raw); err != nil {
		t.Fatal(err)
	}
	// The home takes a peer's gossip at a bounded rate (mesh's per-peer
	// budget: a burst of 200 messages, then 20 a second, and what is over
	// it is dropped, not queued), so it sees about 200 of the flood; what
	// matters here is what it does with what it sees.
	waitFor(t, "the home receives a good part of the flood", func() bool {
		return home.svc.UntrustedDocs().Received >= 150
	})
	st := home.svc.UntrustedDocs()
	n, bytes := storedDocs(t, home.db)
	t.Logf("home after the flood: %d documents (%d bytes) on disk; in memory %+v", n, bytes, st)
	if n != 1 {
		t.Errorf("the home stores %d issuer documents; want 1, the agency's", n)
	}
	if st.Held > requests.DefaultUntrustedDocs || st.Bytes > requests.DefaultUntrustedBytes {
		t.Errorf("the home holds %+v; want at most the caps", st)
	}
	if ids, _ := home.svc.DocIDs(); len(ids) != 1 {
		t.Errorf("the home offers %d documents in sync; want 1", len(ids))
	}

	if d, _ := home.svc.Document(forgedCred.ID); d != nil {
		t.Fatal("the home stored the forger's credential")
	}
	newcomer := newNetNode(t, "newcomer", &center, issuer)
	newcomer.connect(home)
	waitFor(t, "the newcomer gets the agency's credential by sync", func() bool { d, _ := newcomer.svc.Document(cred.ID); return d != nil })
	if st := newcomer.svc.UntrustedDocs(); st.Received != 0 {
		t.Errorf("the newcomer received %d untrusted credentials from the home; want 0", st.Received)
	}
}
