package record_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	envpb "github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// created is the creation time of the test entries, and openNow the
// verifier's clock. Both are in the past so that record.Seal, which checks
// against the real clock, accepts the valid ones.
var (
	created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	openNow = created.Add(time.Hour)
)

// edKey returns a deterministic Ed25519 key, so that seed corpora built from
// it are stable.
func edKey(t testing.TB, seed byte) (crypto.PrivKey, peer.ID) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// secpKey returns a deterministic secp256k1 key.
func secpKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	key, err := crypto.UnmarshalSecp256k1PrivateKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func postEntry(author peer.ID, text string) *pb.Entry {
	return &pb.Entry{
		Author:       []byte(author),
		Seq:          1,
		Created:      created.UnixMilli(),
		Neighborhood: "elm-street",
		Body:         &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: text}},
	}
}

func hash(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// seal signs a valid entry the normal way.
func seal(t testing.TB, e *pb.Entry, key crypto.PrivKey) []byte {
	t.Helper()
	s, err := record.Seal(e, key)
	if err != nil {
		t.Fatalf("record.Seal: %v", err)
	}
	return s.Raw
}

// forged is a core/record.Record with a chosen domain, codec and payload, for
// signing what record.Seal refuses to.
type forged struct {
	domain  string
	codec   string
	payload []byte
}

func (f *forged) Domain() string                 { return f.domain }
func (f *forged) Codec() []byte                  { return []byte(f.codec) }
func (f *forged) MarshalRecord() ([]byte, error) { return f.payload, nil }
func (f *forged) UnmarshalRecord(b []byte) error { f.payload = b; return nil }

// forge signs e as record.Seal would, without checking it.
func forge(t testing.TB, e *pb.Entry, key crypto.PrivKey) []byte {
	t.Helper()
	payload, err := proto.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return forgeRecord(t, &forged{record.Domain, record.PayloadType, payload}, key)
}

func forgeRecord(t testing.TB, rec lprecord.Record, key crypto.PrivKey) []byte {
	t.Helper()
	env, err := lprecord.Seal(rec, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// editEnvelope decodes raw as an envelope protobuf, lets edit change it and
// marshals it again: the way to break a signature after signing.
func editEnvelope(t testing.TB, raw []byte, edit func(*envpb.Envelope)) []byte {
	t.Helper()
	var env envpb.Envelope
	if err := proto.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	edit(&env)
	out, err := proto.Marshal(&env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// padTo signs a valid post padded to exactly size bytes of envelope: text of
// MaxPostText four-byte characters and an attached clip grant of the length
// that makes up the rest (known fields only: unknown ones are refused).
func padTo(t testing.TB, size int, key crypto.PrivKey, author peer.ID) []byte {
	t.Helper()
	for pad := 0; pad <= record.MaxClipGrant+300; pad++ {
		e := postEntry(author, strings.Repeat("🪑", record.MaxPostText))
		e.GetPost().ClipGrant = bytes.Repeat([]byte{'g'}, pad)
		if raw := forge(t, e, key); len(raw) == size {
			return raw
		}
	}
	t.Fatalf("no padding gives an envelope of %d bytes", size)
	return nil
}

// withUnknown signs e with an unknown field (number 99, n bytes) appended to
// the message that at picks out of the marshaled entry: "" for the entry
// itself, "post" or "location" for a nested one.
func withUnknown(t testing.TB, e *pb.Entry, at string, n int, key crypto.PrivKey) []byte {
	t.Helper()
	junk := protowire.AppendTag(nil, 99, protowire.BytesType)
	junk = protowire.AppendBytes(junk, bytes.Repeat([]byte{'x'}, n))
	var payload []byte
	switch at {
	case "":
		payload = append(mustMarshal(t, e), junk...)
	case "post", "location":
		p := e.GetPost()
		if at == "location" {
			loc, err := proto.Marshal(p.GetLocation())
			if err != nil {
				t.Fatal(err)
			}
			p = proto.Clone(p).(*pb.Post)
			p.Location = nil
			pb2, err := proto.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			loc = append(loc, junk...)
			// Location is field 3 of Post.
			pb2 = protowire.AppendTag(pb2, 3, protowire.BytesType)
			junk = protowire.AppendBytes(pb2, loc)
		} else {
			pm, err := proto.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			junk = append(pm, junk...)
		}
		outer := proto.Clone(e).(*pb.Entry)
		outer.Body = nil
		payload = mustMarshal(t, outer)
		payload = protowire.AppendTag(payload, postFieldNumber(t), protowire.BytesType)
		payload = protowire.AppendBytes(payload, junk)
	default:
		t.Fatalf("withUnknown: unknown place %q", at)
	}
	return forgeRecord(t, &forged{record.Domain, record.PayloadType, payload}, key)
}

// postFieldNumber is the field number of Entry.post.
func postFieldNumber(t testing.TB) protowire.Number {
	t.Helper()
	fd := (&pb.Entry{}).ProtoReflect().Descriptor().Fields().ByName("post")
	if fd == nil {
		t.Fatal("Entry has no post field")
	}
	return fd.Number()
}

func TestOpen(t *testing.T) {
	keyA, idA := edKey(t, 1)
	keyB, idB := edKey(t, 2)

	// post returns a post by A after mod changes it.
	post := func(mod func(*pb.Entry)) *pb.Entry {
		e := postEntry(idA, "Porch light on at number 12 tonight.")
		if mod != nil {
			mod(e)
		}
		return e
	}
	text := func(s string) func(*pb.Entry) {
		return func(e *pb.Entry) { e.GetPost().Text = s }
	}
	at := func(seq uint64, prev []byte) func(*pb.Entry) {
		return func(e *pb.Entry) { e.Seq, e.Prev = seq, prev }
	}
	profile := func(name string) *pb.Entry {
		e := post(nil)
		e.Body = &pb.Entry_Profile{Profile: &pb.Profile{Name: name}}
		return e
	}
	retraction := func(seq, target uint64, targetHash []byte) *pb.Entry {
		e := post(at(seq, hash(9)))
		e.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{TargetSeq: target, TargetHash: targetHash}}
		return e
	}
	good := seal(t, post(nil), keyA)

	tests := []struct {
		name string
		raw  []byte
		want record.Reason // "" for a valid record
	}{
		// Valid records.
		{"post", good, ""},
		{"post kind safety", seal(t, post(func(e *pb.Entry) { e.GetPost().Kind = "safety" }), keyA), ""},
		{"post kind lost-found", seal(t, post(func(e *pb.Entry) { e.GetPost().Kind = "lost-found" }), keyA), ""},
		{"post kind event", seal(t, post(func(e *pb.Entry) { e.GetPost().Kind = "event" }), keyA), ""},
		{"post at seq 2", seal(t, post(at(2, hash(1))), keyA), ""},
		{"post at MaxSeq", seal(t, post(at(record.MaxSeq, hash(1))), keyA), ""},
		{"post with location at the poles and antimeridian", seal(t, post(func(e *pb.Entry) {
			e.GetPost().Location = &pb.Location{LatE6: -90e6, LonE6: 180e6}
		}), keyA), ""},
		{"post with reply-to", seal(t, post(func(e *pb.Entry) { e.GetPost().ReplyTo = hash(3) }), keyA), ""},
		{"post of exactly 2000 ASCII characters", seal(t, post(text(strings.Repeat("a", 2000))), keyA), ""},
		{"post of exactly 2000 four-byte characters", seal(t, post(text(strings.Repeat("🏠", 2000))), keyA), ""},
		{"post of exactly 2000 mixed characters", seal(t, post(text(strings.Repeat("é", 1000)+strings.Repeat("z", 999)+"€")), keyA), ""},
		{"post created exactly MaxClockSkew ahead", seal(t, post(func(e *pb.Entry) {
			e.Created = openNow.Add(record.MaxClockSkew).UnixMilli()
		}), keyA), ""},
		{"neighborhood of MaxNeighborhoodLen bytes", seal(t, post(func(e *pb.Entry) {
			e.Neighborhood = strings.Repeat("n", record.MaxNeighborhoodLen)
		}), keyA), ""},
		{"profile", seal(t, profile("Ana at number 12"), keyA), ""},
		{"profile with empty name", seal(t, profile(""), keyA), ""},
		{"profile name of MaxNameLen multibyte characters", seal(t, profile(strings.Repeat("ß", record.MaxNameLen)), keyA), ""},
		{"profile name of MaxNameLen four-byte characters", seal(t, profile(strings.Repeat("🌻", record.MaxNameLen)), keyA), ""},
		{"retraction", seal(t, retraction(2, 1, hash(4)), keyA), ""},
		{"retraction of an earlier seq", seal(t, retraction(9, 3, hash(4)), keyA), ""},
		{"envelope of exactly MaxSize bytes", padTo(t, record.MaxSize, keyA, idA), ""},

		// Fields the schema does not define: signed padding nobody can see.
		{"post padded with an unknown field", withUnknown(t, post(nil), "", 12000, keyA), record.ReasonUnknownFields},
		{"post with one unknown byte field", withUnknown(t, post(nil), "", 0, keyA), record.ReasonUnknownFields},
		{"post body with an unknown field", withUnknown(t, post(nil), "post", 100, keyA), record.ReasonUnknownFields},
		{"post location with an unknown field", withUnknown(t, post(func(e *pb.Entry) {
			e.GetPost().Location = &pb.Location{LatE6: 1, LonE6: 2}
		}), "location", 100, keyA), record.ReasonUnknownFields},

		// Size.
		{"envelope of MaxSize+1 bytes", padTo(t, record.MaxSize+1, keyA, idA), record.ReasonOversized},
		{"oversized post", forge(t, post(text(strings.Repeat("a", 20000))), keyA), record.ReasonOversized},
		{"oversized garbage", bytes.Repeat([]byte{0xff}, record.MaxSize+1), record.ReasonOversized},

		// Bytes that are not an envelope.
		{"nil", nil, record.ReasonMalformed},
		{"empty", []byte{}, record.ReasonMalformed},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), record.ReasonMalformed},
		{"binary garbage", bytes.Repeat([]byte{0xff, 0x00, 0x13}, 50), record.ReasonMalformed},
		{"truncated by one byte", good[:len(good)-1], record.ReasonMalformed},
		{"truncated to half", good[:len(good)/2], record.ReasonMalformed},
		{"truncated to one byte", good[:1], record.ReasonMalformed},
		{"no public key", editEnvelope(t, good, func(e *envpb.Envelope) { e.PublicKey = nil }), record.ReasonMalformed},
		{"payload is not an entry", forgeRecord(t, &forged{record.Domain, record.PayloadType, []byte{0xff, 0xff}}, keyA), record.ReasonMalformed},
		{"post text is not UTF-8", forgeRecord(t, &forged{record.Domain, record.PayloadType,
			badUTF8Post(t, idA)}, keyA), record.ReasonMalformed},

		// Another encoding of a valid envelope: the signature still verifies,
		// but the bytes (and so the ID) differ from what the author sent.
		{"unknown field appended to the envelope", append(bytes.Clone(good), 0x4a, 0x01, 'x'), record.ReasonMalformed},
		{"envelope fields reordered", reorderEnvelope(t, good), record.ReasonMalformed},
		{"payload type field repeated", append(bytes.Clone(good), protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), record.PayloadType)...), record.ReasonMalformed},
		{"key type as a non-minimal varint", nonMinimalKeyType(t, good), record.ReasonMalformed},

		// Signature.
		{"signature byte flipped", editEnvelope(t, good, func(e *envpb.Envelope) { e.Signature[10] ^= 0x01 }), record.ReasonSignature},
		{"signature truncated", editEnvelope(t, good, func(e *envpb.Envelope) { e.Signature = e.Signature[:63] }), record.ReasonSignature},
		{"signature missing", editEnvelope(t, good, func(e *envpb.Envelope) { e.Signature = nil }), record.ReasonSignature},
		{"payload changed after signing", editEnvelope(t, good, func(e *envpb.Envelope) {
			p, err := proto.Marshal(post(text("Porch light OFF at number 12 tonight.")))
			if err != nil {
				t.Fatal(err)
			}
			e.Payload = p
		}), record.ReasonSignature},
		{"public key swapped for another peer's", editEnvelope(t, good, func(e *envpb.Envelope) {
			pk, err := crypto.PublicKeyToProto(keyB.GetPublic())
			if err != nil {
				t.Fatal(err)
			}
			e.PublicKey = pk
		}), record.ReasonSignature},
		{"signed for another domain", forgeRecord(t, &forged{"libp2p-routing-state", record.PayloadType, mustMarshal(t, post(nil))}, keyA), record.ReasonSignature},

		// Envelope type and key.
		{"peer record", forgeRecord(t, &peer.PeerRecord{PeerID: idA, Seq: 1}, keyA), record.ReasonPayloadType},
		{"entry under another payload type", forgeRecord(t, &forged{record.Domain, "/porchlight/entry/2", mustMarshal(t, post(nil))}, keyA), record.ReasonPayloadType},
		{"payload type removed after signing", editEnvelope(t, good, func(e *envpb.Envelope) { e.PayloadType = nil }), record.ReasonPayloadType},
		{"secp256k1 key", forge(t, postEntry(mustID(t, secpKey(t)), "hi"), secpKey(t)), record.ReasonKeyType},
		{"ECDSA key", func() []byte {
			k, _, err := crypto.GenerateECDSAKeyPair(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return forge(t, postEntry(mustID(t, k), "hi"), k)
		}(), record.ReasonKeyType},

		// Author.
		{"author is another peer", forge(t, post(func(e *pb.Entry) { e.Author = []byte(idB) }), keyA), record.ReasonAuthor},
		{"author missing", forge(t, post(func(e *pb.Entry) { e.Author = nil }), keyA), record.ReasonAuthor},
		{"author is not a peer ID", forge(t, post(func(e *pb.Entry) { e.Author = []byte("ana") }), keyA), record.ReasonAuthor},

		// Log position.
		{"seq 0", forge(t, post(at(0, nil)), keyA), record.ReasonSeq},
		{"seq -1 as a varint", forge(t, post(at(math.MaxUint64, hash(1))), keyA), record.ReasonSeq},
		{"seq MaxSeq+1", forge(t, post(at(record.MaxSeq+1, hash(1))), keyA), record.ReasonSeq},
		{"seq 1 with a prev", forge(t, post(at(1, hash(1))), keyA), record.ReasonPrev},
		{"seq 2 without a prev", forge(t, post(at(2, nil)), keyA), record.ReasonPrev},
		{"prev of 31 bytes", forge(t, post(at(2, hash(1)[:31])), keyA), record.ReasonPrev},
		{"prev of 33 bytes", forge(t, post(at(2, append(hash(1), 1))), keyA), record.ReasonPrev},

		// Time.
		{"no created time", forge(t, post(func(e *pb.Entry) { e.Created = 0 }), keyA), record.ReasonTime},
		{"negative created time", forge(t, post(func(e *pb.Entry) { e.Created = -1 }), keyA), record.ReasonTime},
		{"created 1ms beyond MaxClockSkew", forge(t, post(func(e *pb.Entry) {
			e.Created = openNow.Add(record.MaxClockSkew).UnixMilli() + 1
		}), keyA), record.ReasonFuture},
		{"created a year ahead", forge(t, post(func(e *pb.Entry) { e.Created = openNow.AddDate(1, 0, 0).UnixMilli() }), keyA), record.ReasonFuture},
		{"created at max int64", forge(t, post(func(e *pb.Entry) { e.Created = math.MaxInt64 }), keyA), record.ReasonFuture},

		// Neighborhood and body.
		{"neighborhood empty", forge(t, post(func(e *pb.Entry) { e.Neighborhood = "" }), keyA), record.ReasonMalformed},
		{"neighborhood too long", forge(t, post(func(e *pb.Entry) {
			e.Neighborhood = strings.Repeat("n", record.MaxNeighborhoodLen+1)
		}), keyA), record.ReasonMalformed},
		{"body missing", forge(t, post(func(e *pb.Entry) { e.Body = nil }), keyA), record.ReasonMalformed},
		{"profile name of MaxNameLen+1 characters", forge(t, profile(strings.Repeat("ß", record.MaxNameLen+1)), keyA), record.ReasonTooLong},
		{"profile name of MaxNameLen+1 ASCII characters", forge(t, profile(strings.Repeat("a", record.MaxNameLen+1)), keyA), record.ReasonTooLong},

		// Posts.
		{"post text empty", forge(t, post(text("")), keyA), record.ReasonEmpty},
		{"post of 2001 ASCII characters", forge(t, post(text(strings.Repeat("a", 2001))), keyA), record.ReasonTooLong},
		{"post of 2001 two-byte characters", forge(t, post(text(strings.Repeat("é", 2001))), keyA), record.ReasonTooLong},
		{"post of 2001 four-byte characters", forge(t, post(text(strings.Repeat("🏠", 2001))), keyA), record.ReasonTooLong},
		{"post kind empty", forge(t, post(func(e *pb.Entry) { e.GetPost().Kind = "" }), keyA), record.ReasonKind},
		{"post kind unknown", forge(t, post(func(e *pb.Entry) { e.GetPost().Kind = "for-sale" }), keyA), record.ReasonKind},
		{"post kind in the wrong case", forge(t, post(func(e *pb.Entry) { e.GetPost().Kind = "Safety" }), keyA), record.ReasonKind},
		{"post kind unknown and text empty", forge(t, post(func(e *pb.Entry) { e.GetPost().Kind, e.GetPost().Text = "x", "" }), keyA), record.ReasonKind},
		{"post latitude beyond 90", forge(t, post(func(e *pb.Entry) {
			e.GetPost().Location = &pb.Location{LatE6: 90e6 + 1}
		}), keyA), record.ReasonMalformed},
		{"post longitude beyond -180", forge(t, post(func(e *pb.Entry) {
			e.GetPost().Location = &pb.Location{LonE6: -180e6 - 1}
		}), keyA), record.ReasonMalformed},
		{"post reply-to of 31 bytes", forge(t, post(func(e *pb.Entry) { e.GetPost().ReplyTo = hash(3)[:31] }), keyA), record.ReasonMalformed},

		// Retractions.
		{"retraction without target hash", forge(t, retraction(2, 1, nil), keyA), record.ReasonMalformed},
		{"retraction with short target hash", forge(t, retraction(2, 1, hash(4)[:31]), keyA), record.ReasonMalformed},
		{"retraction of seq 0", forge(t, retraction(2, 0, hash(4)), keyA), record.ReasonRetraction},
		{"retraction of itself", forge(t, retraction(2, 2, hash(4)), keyA), record.ReasonRetraction},
		{"retraction of a later seq", forge(t, retraction(2, 3, hash(4)), keyA), record.ReasonRetraction},
		{"empty retraction", forge(t, func() *pb.Entry {
			e := post(at(2, hash(1)))
			e.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{}}
			return e
		}(), keyA), record.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := record.Open(tt.raw, openNow)
			if got := record.ReasonOf(err); got != tt.want {
				t.Fatalf("Open: reason %q, want %q (err: %v)", got, tt.want, err)
			}
			if tt.want != "" {
				var inv *record.Invalid
				if !errors.As(err, &inv) {
					t.Fatalf("Open: error %v (%T) is not an *Invalid", err, err)
				}
				if s != nil {
					t.Errorf("Open returned a record with error %v", err)
				}
				if inv.Detail == "" || !strings.Contains(err.Error(), string(tt.want)) {
					t.Errorf("error %q should name the reason and say what is wrong", err)
				}
				return
			}
			checkSigned(t, s, tt.raw)
		})
	}
}

// checkSigned checks that s is the faithful decoding of raw.
func checkSigned(t *testing.T, s *record.Signed, raw []byte) {
	t.Helper()
	if !bytes.Equal(s.Raw, raw) {
		t.Error("Raw is not the input")
	}
	if s.ID != sha256.Sum256(raw) || s.ID != record.IDOf(raw) {
		t.Errorf("ID %s is not the SHA-256 of the envelope", s.ID)
	}
	if peer.ID(s.Entry.GetAuthor()) != s.Author {
		t.Errorf("Author %s, entry says %s", s.Author, peer.ID(s.Entry.GetAuthor()))
	}
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	if signer, _ := peer.IDFromPublicKey(env.PublicKey); signer != s.Author {
		t.Errorf("Author %s is not the signer %s", s.Author, signer)
	}
	var want pb.Entry
	if err := proto.Unmarshal(env.RawPayload, &want); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(s.Entry, &want) {
		t.Errorf("Entry %v, payload holds %v", s.Entry, &want)
	}
	if s.Seq() != want.GetSeq() || !s.Created().Equal(time.UnixMilli(want.GetCreated())) {
		t.Errorf("Seq %d Created %v, want %d %v", s.Seq(), s.Created(), want.GetSeq(), time.UnixMilli(want.GetCreated()))
	}
	if want.GetSeq() == 1 && !s.Prev().IsZero() {
		t.Errorf("Prev %s at seq 1, want zero", s.Prev())
	}
	if prev := s.Prev(); want.GetSeq() > 1 && !bytes.Equal(prev[:], want.GetPrev()) {
		t.Errorf("Prev %s, want %x", prev, want.GetPrev())
	}
}

func mustMarshal(t testing.TB, e *pb.Entry) []byte {
	t.Helper()
	b, err := proto.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustID(t testing.TB, key crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// badUTF8Post encodes a post whose text is not UTF-8, which proto.Marshal
// refuses to produce.
func badUTF8Post(t testing.TB, author peer.ID) []byte {
	t.Helper()
	e := postEntry(author, "x")
	e.Body = nil
	b := mustMarshal(t, e)
	var post []byte
	post = protowire.AppendTag(post, 1, protowire.BytesType)
	post = protowire.AppendString(post, "general")
	post = protowire.AppendTag(post, 2, protowire.BytesType)
	post = protowire.AppendBytes(post, []byte{'h', 0xff, 'i'})
	b = protowire.AppendTag(b, 11, protowire.BytesType)
	return protowire.AppendBytes(b, post)
}

// reorderEnvelope moves the signature of a marshaled envelope before its
// other fields.
func reorderEnvelope(t testing.TB, raw []byte) []byte {
	t.Helper()
	var env envpb.Envelope
	if err := proto.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	out := protowire.AppendTag(nil, 5, protowire.BytesType)
	out = protowire.AppendBytes(out, env.Signature)
	env.Signature = nil
	rest, err := proto.Marshal(&env)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, rest...)
}

// nonMinimalKeyType re-encodes the envelope's public key with its type
// (Ed25519, 1) as the two-byte varint 0x81 0x00.
func nonMinimalKeyType(t testing.TB, raw []byte) []byte {
	t.Helper()
	var env envpb.Envelope
	if err := proto.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	key := []byte{0x08, 0x81, 0x00} // field 1, varint 1 in two bytes
	key = protowire.AppendTag(key, 2, protowire.BytesType)
	key = protowire.AppendBytes(key, env.PublicKey.GetData())
	out := protowire.AppendTag(nil, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, key)
	env.PublicKey = nil
	rest, err := proto.Marshal(&env)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, rest...)
}

// TestSealChecks checks that Seal refuses what Open refuses, with the same
// reason, so a node never publishes a record its neighbors drop.
func TestSealChecks(t *testing.T) {
	key, id := edKey(t, 1)
	_, other := edKey(t, 2)
	tests := []struct {
		name string
		mod  func(*pb.Entry)
		want record.Reason
	}{
		{"valid", func(*pb.Entry) {}, ""},
		{"empty text", func(e *pb.Entry) { e.GetPost().Text = "" }, record.ReasonEmpty},
		{"text too long", func(e *pb.Entry) { e.GetPost().Text = strings.Repeat("ü", 2001) }, record.ReasonTooLong},
		{"unknown kind", func(e *pb.Entry) { e.GetPost().Kind = "ad" }, record.ReasonKind},
		{"seq 0", func(e *pb.Entry) { e.Seq = 0 }, record.ReasonSeq},
		{"author is another peer", func(e *pb.Entry) { e.Author = []byte(other) }, record.ReasonAuthor},
		{"created in the future", func(e *pb.Entry) { e.Created = time.Now().Add(time.Hour).UnixMilli() }, record.ReasonFuture},
		{"oversized", func(e *pb.Entry) { e.Neighborhood = strings.Repeat("n", record.MaxSize) }, record.ReasonOversized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := postEntry(id, "hello")
			tt.mod(e)
			s, err := record.Seal(e, key)
			if got := record.ReasonOf(err); got != tt.want {
				t.Fatalf("Seal: reason %q, want %q (err: %v)", got, tt.want, err)
			}
			if err == nil {
				checkSigned(t, s, s.Raw)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	inv := record.Invalidf(record.ReasonSeqJump, "seq %d", 7)
	tests := []struct {
		name string
		err  error
		want record.Reason
	}{
		{"nil", nil, ""},
		{"other error", errors.New("disk full"), ""},
		{"invalid", inv, record.ReasonSeqJump},
		{"wrapped invalid", fmt.Errorf("ingest: %w", inv), record.ReasonSeqJump},
		{"joined invalid", errors.Join(errors.New("x"), inv), record.ReasonSeqJump},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := record.ReasonOf(tt.err); got != tt.want {
				t.Errorf("ReasonOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
	if got, want := inv.Error(), "invalid record (seq_jump): seq 7"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseID(t *testing.T) {
	id := record.IDOf([]byte("envelope"))
	tests := []struct {
		name    string
		in      string
		want    record.ID
		wantErr bool
	}{
		{"round trip", id.String(), id, false},
		{"upper case", strings.ToUpper(id.String()), id, false},
		{"zero", strings.Repeat("0", 64), record.ID{}, false},
		{"empty", "", record.ID{}, true},
		{"too short", id.String()[:62], record.ID{}, true},
		{"too long", id.String() + "00", record.ID{}, true},
		{"not hex", strings.Repeat("g", 64), record.ID{}, true},
		{"odd length", id.String()[:63], record.ID{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := record.ParseID(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseID(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseID(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
	if !(record.ID{}).IsZero() || id.IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestDecodeTrusted(t *testing.T) {
	key, id := edKey(t, 1)
	e := postEntry(id, "stored earlier")
	e.Seq, e.Prev = 5, hash(2)
	s, err := record.Seal(e, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := record.DecodeTrusted(s.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s.ID || got.Author != s.Author || !bytes.Equal(got.Raw, s.Raw) || !proto.Equal(got.Entry, s.Entry) {
		t.Errorf("DecodeTrusted = %+v, want %+v", got, s)
	}
	if got.Prev() != s.Prev() || got.Seq() != 5 {
		t.Errorf("Prev/Seq = %s/%d", got.Prev(), got.Seq())
	}
	for _, bad := range [][]byte{nil, []byte("garbage"), s.Raw[:len(s.Raw)/2]} {
		if _, err := record.DecodeTrusted(bad); err == nil {
			t.Errorf("DecodeTrusted(%q) succeeded", bad)
		}
	}
}
