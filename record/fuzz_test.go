package record_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	envpb "github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// openReasons are the reasons Open may give; anything else is a bug.
var openReasons = map[record.Reason]bool{
	record.ReasonOversized:     true,
	record.ReasonMalformed:     true,
	record.ReasonPayloadType:   true,
	record.ReasonKeyType:       true,
	record.ReasonSignature:     true,
	record.ReasonAuthor:        true,
	record.ReasonSeq:           true,
	record.ReasonPrev:          true,
	record.ReasonTime:          true,
	record.ReasonFuture:        true,
	record.ReasonKind:          true,
	record.ReasonEmpty:         true,
	record.ReasonTooLong:       true,
	record.ReasonRetraction:    true,
	record.ReasonUnknownFields: true,
}

// FuzzOpen feeds Open arbitrary bytes. Open must never panic, must refuse
// with one of its own reasons, and anything it accepts must be the faithful,
// re-verifiable decoding of the input. More seeds are in testdata/fuzz.
func FuzzOpen(f *testing.F) {
	key, id := edKey(f, 1)
	p := postEntry(id, "Street party Saturday from 4pm, bring a chair 🪑")
	p.GetPost().Location = &pb.Location{LatE6: 51_507_351, LonE6: -127_758}
	post := seal(f, p, key)
	postID, profileID := record.IDOf(post), record.ID{}
	prof := postEntry(id, "")
	prof.Seq, prof.Prev = 2, postID[:]
	prof.Body = &pb.Entry_Profile{Profile: &pb.Profile{Name: "Ana at number 12"}}
	profile := seal(f, prof, key)
	profileID = record.IDOf(profile)
	ret := postEntry(id, "")
	ret.Seq, ret.Prev = 3, profileID[:]
	ret.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{TargetSeq: 1, TargetHash: postID[:]}}

	f.Add(post)
	f.Add(profile)
	f.Add(seal(f, ret, key))
	f.Add(editEnvelope(f, post, func(e *envpb.Envelope) { e.Signature[0] ^= 0x80 }))
	f.Add(forge(f, postEntry(mustID(f, secpKey(f)), "hi"), secpKey(f)))
	f.Add(forgeRecord(f, &peer.PeerRecord{PeerID: id, Seq: 1}, key))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, raw []byte) {
		in := bytes.Clone(raw) // Open keeps raw; make sure it does not change it
		s, err := record.Open(raw, openNow)
		if !bytes.Equal(raw, in) {
			t.Fatal("Open modified its input")
		}
		if err != nil {
			if s != nil {
				t.Fatalf("Open returned a record and error %v", err)
			}
			if r := record.ReasonOf(err); !openReasons[r] {
				t.Fatalf("Open error %v has reason %q, not one of Open's", err, r)
			}
			return
		}
		if len(raw) > record.MaxSize {
			t.Fatalf("accepted %d bytes, limit %d", len(raw), record.MaxSize)
		}
		if s.ID != sha256.Sum256(raw) {
			t.Fatalf("ID %s is not the SHA-256 of the input", s.ID)
		}
		if !bytes.Equal(s.Raw, raw) {
			t.Fatal("Raw is not the input")
		}
		// Only the canonical encoding is accepted, so an ID names one record.
		env, err := lprecord.UnmarshalEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		if canon, err := env.Marshal(); err != nil || !bytes.Equal(canon, raw) {
			t.Fatalf("accepted an envelope that is not in canonical encoding (%v)", err)
		}
		if peer.ID(s.Entry.GetAuthor()) != s.Author {
			t.Fatalf("author %s is not the signer %s", peer.ID(s.Entry.GetAuthor()), s.Author)
		}
		if seq := s.Seq(); seq == 0 || seq > record.MaxSeq {
			t.Fatalf("accepted seq %d", seq)
		}
		if p := s.Entry.GetPost(); p != nil {
			if err := record.CheckPost(p); err != nil {
				t.Fatalf("accepted a post that CheckPost refuses: %v", err)
			}
		}

		// The accepted bytes verify again, to the same record...
		again, err := record.Open(bytes.Clone(raw), openNow)
		if err != nil {
			t.Fatalf("accepted once, refused again: %v", err)
		}
		if again.ID != s.ID || again.Author != s.Author || !proto.Equal(again.Entry, s.Entry) {
			t.Fatal("second Open decoded a different record")
		}
		// ...and decode the same way from the store.
		stored, err := record.DecodeTrusted(raw)
		if err != nil {
			t.Fatalf("DecodeTrusted of an accepted record: %v", err)
		}
		if stored.ID != s.ID || stored.Author != s.Author || !proto.Equal(stored.Entry, s.Entry) {
			t.Fatal("DecodeTrusted decoded a different record")
		}
	})
}
