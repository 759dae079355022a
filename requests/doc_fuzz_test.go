package requests_test

import (
	"bytes"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// FuzzOpenDoc feeds record.OpenDoc, the decoder of issuer documents
// (credentials and revocations, from gossip, sync and credential files)
// arbitrary bytes. It must never panic or change its input, and a document
// it accepts is exactly one of the two kinds, with the ID of its bytes, and
// opens the same way again.
func FuzzOpenDoc(f *testing.F) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	agencyKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	agency, _ := peer.IDFromPrivateKey(agencyKey)
	area, err := requests.ParseArea("polygon:40.70,-74.02;40.72,-74.02;40.72,-74.00")
	if err != nil {
		f.Fatal(err)
	}
	cred, err := requests.Certify(issuerKey, agency, "Springfield PD", area, time.Unix(1_700_000_000, 0), time.Unix(1_800_000_000, 0))
	if err != nil {
		f.Fatal(err)
	}
	rev, err := requests.Revoke(issuerKey, cred, time.Unix(1_750_000_000, 0), "badge lost")
	if err != nil {
		f.Fatal(err)
	}
	through, err := requests.RevokeThrough(issuerKey, cred, time.Unix(1_750_000_000, 0), 42, "key compromised")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cred.Raw)
	f.Add(rev.Raw)
	f.Add(through.Raw)
	f.Add(cred.Raw[:len(cred.Raw)-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := bytes.Clone(raw)
		d, err := record.OpenDoc(raw)
		if !bytes.Equal(in, raw) {
			t.Fatal("OpenDoc changed its input")
		}
		if err != nil {
			if d != nil {
				t.Fatalf("a document and error %v", err)
			}
			return
		}
		if (d.Credential == nil) == (d.Revocation == nil) || d.ID != record.IDOf(raw) || !bytes.Equal(d.Raw, raw) || d.Issuer == "" {
			t.Fatalf("accepted a document that is not one kind with its own ID: %+v", d)
		}
		again, err := record.OpenDoc(d.Raw)
		if err != nil || again.ID != d.ID || again.Issuer != d.Issuer {
			t.Fatalf("reopened differently: %v", err)
		}
	})
}

// FuzzIngestDoc feeds IngestDoc, over a real store, arbitrary bytes and
// mutated documents of a trusted and an untrusted issuer. It must never
// panic; what it adds is offered in sync, and what it keeps of strangers
// stays within the caps.
func FuzzIngestDoc(f *testing.F) {
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	strangerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	agencyKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	agency, _ := peer.IDFromPrivateKey(agencyKey)
	area, err := requests.ParseArea("circle:40.71,-74.01,5000")
	if err != nil {
		f.Fatal(err)
	}
	cred, _ := requests.Certify(issuerKey, agency, "Springfield PD", area, time.Unix(1_700_000_000, 0), time.Unix(1_800_000_000, 0))
	self, _ := requests.Certify(strangerKey, agency, "Totally Real PD", area, time.Unix(1_700_000_000, 0), time.Unix(1_800_000_000, 0))
	rev, _ := requests.RevokeThrough(issuerKey, cred, time.Unix(1_750_000_000, 0), 7, "badge lost")
	f.Add(cred.Raw)
	f.Add(self.Raw)
	f.Add(rev.Raw)
	f.Add([]byte{})

	db, err := store.Open(store.Config{Dir: f.TempDir(), Neighborhood: "maple-st", Logger: ruleQuiet})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	svc, err := requests.New(requests.Config{Store: db, Trusted: []peer.ID{issuer}, Logger: ruleQuiet, UntrustedDocs: 8})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		added, err := svc.IngestDoc(raw)
		if added && err != nil {
			t.Fatalf("added and error %v", err)
		}
		if added {
			ids, err := svc.DocIDs()
			if err != nil || !slices.Contains(ids, record.IDOf(raw)) {
				t.Fatalf("added but not offered in sync: %v", err)
			}
		}
		if st := svc.UntrustedDocs(); st.Held > 8 || st.Bytes > requests.DefaultUntrustedBytes {
			t.Fatalf("untrusted cache over its caps: %+v", st)
		}
	})
}
