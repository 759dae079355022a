package record_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// A node seals the first record of its log; a neighbor opens the bytes it
// received and gets the same record back.
func ExampleSeal() {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		panic(err)
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		panic(err)
	}
	sealed, err := record.Seal(&pb.Entry{
		Author:       []byte(self),
		Seq:          1,
		Created:      time.Now().UnixMilli(),
		Neighborhood: "elm-street",
		Body: &pb.Entry_Post{Post: &pb.Post{
			Kind: "lost-found",
			Text: "Found: grey cat with a red collar, near the school.",
		}},
	}, key)
	if err != nil {
		panic(err)
	}

	// sealed.Raw is what travels over the mesh.
	opened, err := record.Open(sealed.Raw, time.Now())
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println("seq:", opened.Seq())
	fmt.Println("kind:", opened.Entry.GetPost().GetKind())
	fmt.Println("same ID:", opened.ID == sealed.ID)
	fmt.Println("author is the signer:", opened.Author == self)
	// Output:
	// seq: 1
	// kind: lost-found
	// same ID: true
	// author is the signer: true
}

// A record altered in transit is refused, and ReasonOf names the rule it
// broke.
func ExampleReasonOf() {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		panic(err)
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		panic(err)
	}
	sealed, err := record.Seal(&pb.Entry{
		Author:       []byte(self),
		Seq:          1,
		Created:      time.Now().UnixMilli(),
		Neighborhood: "elm-street",
		Body:         &pb.Entry_Profile{Profile: &pb.Profile{Name: "Ana"}},
	}, key)
	if err != nil {
		panic(err)
	}

	tampered := bytes.Clone(sealed.Raw)
	tampered[len(tampered)-1] ^= 1 // the signature is the envelope's last field
	_, err = record.Open(tampered, time.Now())
	fmt.Println(record.ReasonOf(err))

	_, err = record.Open(sealed.Raw[:20], time.Now())
	fmt.Println(record.ReasonOf(err))
	// Output:
	// bad_signature
	// malformed
}
