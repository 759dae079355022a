package requests_test

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	clipspb "github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
)

// FuzzCheckOmissionProof feeds the check of a YieldOmission's content (a
// grant and a transfer record from any home's log) arbitrary bytes. It
// must never panic or change its input, and a proof it accepts names the
// grant's owner as home, the transfer's signer as agency, and a clip the
// grant names, the transfer's own.
func FuzzCheckOmissionProof(f *testing.F) {
	homeKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	home, _ := peer.IDFromPrivateKey(homeKey)
	agencyKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	agency, _ := peer.IDFromPrivateKey(agencyKey)
	clip := record.IDOf([]byte("clip"))
	req := record.IDOf([]byte("request"))
	base := time.Unix(1_780_000_000, 0)
	gid := bytes.Repeat([]byte{7}, clips.GrantIDLen)
	g, err := clips.SealGrant(&clipspb.Grant{GrantId: gid, Owner: []byte(home), Grantee: []byte(agency), ClipIds: [][]byte{clip[:]},
		RequestId: req[:], Issued: base.UnixMilli(), Expires: base.Add(time.Hour).UnixMilli()}, homeKey)
	if err != nil {
		f.Fatal(err)
	}
	tr, err := clips.SealTransfer(&clipspb.Transfer{ClipId: clip[:], GrantId: gid, Owner: []byte(home), Receiver: []byte(agency),
		Received: base.Add(time.Minute).UnixMilli(), Sha256: clip[:], Size: 10, Grant: g.ID[:]}, agencyKey)
	if err != nil {
		f.Fatal(err)
	}
	created := base.Add(time.Hour).UnixMilli()
	f.Add(g.Raw, tr.Raw, created)
	f.Add(tr.Raw, g.Raw, created)
	f.Add([]byte{}, []byte{0x0a}, int64(0))
	f.Fuzz(func(t *testing.T, grant, transfer []byte, created int64) {
		g0, t0 := bytes.Clone(grant), bytes.Clone(transfer)
		p, err := requests.CheckOmissionProof(home, time.UnixMilli(created), grant, transfer)
		if !bytes.Equal(grant, g0) || !bytes.Equal(transfer, t0) {
			t.Fatal("CheckOmissionProof changed its input")
		}
		if err != nil {
			if record.ReasonOf(err) != record.ReasonOmission {
				t.Fatalf("refusal %v is not a bad_omission", err)
			}
			return
		}
		if p.Home != home || p.Grant.Owner != home || p.Agency != p.Transfer.Receiver || p.Clip != p.Transfer.ClipID() || !p.Grant.Covers(p.Clip) || p.Transfer.Grant() != p.Grant.ID {
			t.Fatalf("accepted an inconsistent proof: %+v", p)
		}
	})
}
