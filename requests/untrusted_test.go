package requests_test

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// selfMadeCredentials are n credentials, each certifying its own issuer
// key: the cheapest documents a stranger can make.
func selfMadeCredentials(t testing.TB, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	var wg sync.WaitGroup
	per := (n + 1) / 2
	for w := 0; w*per < n; w++ {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
				id, _ := peer.IDFromPrivateKey(key)
				d, err := requests.Certify(key, id, "x", requests.Area{Center: ruleCenter, Radius: 1}, ruleNotBefore, ruleNotAfter)
				if err != nil {
					panic(err)
				}
				out[i] = d.Raw
			}
		}(w*per, min(n, (w+1)*per))
	}
	wg.Wait()
	return out
}

// storedDocs counts the issuer documents in the database and their bytes.
func storedDocs(t *testing.T, db *store.DB) (n, bytes int) {
	t.Helper()
	err := db.View(func(txn *store.Txn) error {
		return txn.Scan(store.IssuerDocs, nil, store.ScanOptions{KeysOnly: true}, func(it store.Item) error {
			n++
			bytes += it.ValueSize()
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, bytes
}

// TestStrangerCredentialFloodStaysBounded: a stranger sends 12,000
// self-made credentials (each valid, each Ignored by gossipsub, so at no
// cost to its score). The node stores none of them, offers none in sync,
// and still refuses a forged request under the latest one for what it is.
func TestStrangerCredentialFloodStaysBounded(t *testing.T) {
	const flood = 12_000
	f := newRuleFixture(t, requests.Config{})
	docs := selfMadeCredentials(t, flood)

	// The forger's own credential arrives last, amid the flood.
	rogueKey, _ := ruleNewKey(t)
	forgedCred := f.certify(rogueKey, f.agency.id, ruleJurisdiction)
	docs = append(docs, forgedCred.Raw)

	for i, raw := range docs {
		added, err := f.svc.IngestDoc(raw)
		if err != nil || added {
			t.Fatalf("IngestDoc(self-made %d) = %v, %v; want false, nil (kept, not relayed)", i, added, err)
		}
	}
	n, bytes := storedDocs(t, f.db)
	t.Logf("after %d untrusted credentials: %d documents, %d bytes stored", len(docs), n, bytes)
	if n != 1 {
		t.Errorf("the database holds %d issuer documents (%d bytes); want 1, the trusted credential", n, bytes)
	}
	ids, err := f.svc.DocIDs()
	if err != nil || len(ids) != 1 || ids[0] != f.cred.ID {
		t.Errorf("DocIDs = %d IDs, %v; want only the trusted credential", len(ids), err)
	}
	raws, err := f.svc.DocsNotIn(map[record.ID]bool{})
	if err != nil || len(raws) != 1 || record.IDOf(raws[0]) != f.cred.ID {
		t.Errorf("DocsNotIn = %d documents, %v; want only the trusted credential", len(raws), err)
	}

	r := ruleRequest(forgedCred, ruleBase)
	s := f.mustSign(f.agency, ruleBase, ruleRequestBody(r))
	ruleVerdict(t, "CheckEntry(request under the forger's credential)", f.svc.CheckEntry(s), record.ReasonUntrusted, false)
}

// TestUntrustedCredentialsBoundedAndExpire: the in-memory cache holds at
// most its caps, counts what it dropped, forgets after the TTL a credential
// no request named, and keeps one that a request named.
func TestUntrustedCredentialsBoundedAndExpire(t *testing.T) {
	var mu sync.Mutex
	now := ruleBase
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	f := newRuleFixture(t, requests.Config{UntrustedDocs: 100, UntrustedTTL: time.Hour, Now: clock})

	docs := selfMadeCredentials(t, 1000)
	for _, raw := range docs {
		if _, err := f.svc.IngestDoc(raw); err != nil {
			t.Fatal(err)
		}
	}
	st := f.svc.UntrustedDocs()
	if st.Held != 100 || st.Received != 1000 || st.Evicted != 900 || st.Bytes <= 0 || st.Bytes > requests.DefaultUntrustedBytes {
		t.Fatalf("after 1000: %+v; want 100 held, 1000 received, 900 evicted", st)
	}

	// A byte cap binds before the count cap.
	g := newRuleFixture(t, requests.Config{UntrustedBytes: 10 * len(docs[0])})
	for _, raw := range docs[:50] {
		if _, err := g.svc.IngestDoc(raw); err != nil {
			t.Fatal(err)
		}
	}
	if st := g.svc.UntrustedDocs(); st.Held > 10 || st.Bytes > 10*len(docs[0]) {
		t.Fatalf("byte cap: %+v; want at most 10 held", st)
	}

	// The forger's credential, named by a request every 40 minutes, stays;
	// the flood does not.
	rogueKey, _ := ruleNewKey(t)
	forged := f.certify(rogueKey, f.agency.id, ruleJurisdiction)
	if _, err := f.svc.IngestDoc(forged.Raw); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		advance(40 * time.Minute)
		at := ruleBase.Add(time.Duration(i) * time.Minute)
		s := f.mustSign(f.agency, at, ruleRequestBody(ruleRequest(forged, at)))
		ruleVerdict(t, "CheckEntry(forged request)", f.svc.CheckEntry(s), record.ReasonUntrusted, false)
	}
	st = f.svc.UntrustedDocs()
	if st.Held != 1 || st.Expired != 99 {
		t.Fatalf("after two hours: %+v; want the forger's credential alone held, 99 expired", st)
	}
	advance(time.Hour)
	if st := f.svc.UntrustedDocs(); st.Held != 0 {
		t.Fatalf("an hour unused: %+v; want none held", st)
	}
	s := f.mustSign(f.agency, ruleBase, ruleRequestBody(ruleRequest(forged, ruleBase)))
	ruleVerdict(t, "CheckEntry(forged request, credential forgotten)", f.svc.CheckEntry(s), "", true)
}

// TestTrustingAnIssuerKeepsItsHeldCredentials: trusting an issuer stores
// the credentials of it already held in memory, and sync offers them.
func TestTrustingAnIssuerKeepsItsHeldCredentials(t *testing.T) {
	f := newRuleFixture(t, requests.Config{})
	key, issuer := ruleNewKey(t)
	_, agency := ruleNewKey(t)
	d := f.certify(key, agency, ruleJurisdiction)
	if added, err := f.svc.IngestDoc(d.Raw); added || err != nil {
		t.Fatalf("IngestDoc = %v, %v", added, err)
	}
	f.svc.Trust(issuer)
	ids, err := f.svc.DocIDs()
	if err != nil || len(ids) != 2 {
		t.Fatalf("DocIDs = %v, %v; want the two trusted credentials", ids, err)
	}
	if ags, _ := f.svc.Agencies(ruleBase); len(ags) != 2 {
		t.Fatalf("Agencies = %d; want 2", len(ags))
	}
}
