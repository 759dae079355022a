package mesh

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	lrecord "github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
)

// FuzzPeerRecords feeds a peers answer (PeersProtocol) to a real mesh's
// address book, as one from a member neighbor: decoding and verifying it
// must not panic, and whatever is kept is a record signed by the peer it
// names, within the limits.
func FuzzPeerRecords(f *testing.F) {
	m := fuzzMesh(f)
	key, _, _ := crypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPrivateKey(key)
	env, err := lrecord.Seal(&peer.PeerRecord{PeerID: id, Seq: 1, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1")}}, key)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := env.Marshal()
	var answer bytes.Buffer
	if err := writePeerRecords(&answer, [][]byte{raw}); err != nil {
		f.Fatal(err)
	}
	f.Add(answer.Bytes())
	f.Add(binary.AppendUvarint(nil, MaxPeerRecordSize+1))
	f.Fuzz(func(t *testing.T, data []byte) {
		raws, _ := readPeerRecords(bytes.NewReader(data))
		if len(raws) > MaxPeersPerAnswer {
			t.Fatalf("%d records decoded", len(raws))
		}
		for _, raw := range raws {
			if len(raw) > MaxPeerRecordSize {
				t.Fatalf("record of %d bytes decoded", len(raw))
			}
			p, err := m.abook.learn(raw)
			if err != nil || p == "" {
				continue
			}
			kept, err := m.abook.raw(p)
			if err != nil {
				t.Fatalf("kept record of %s not stored: %v", p, err)
			}
			if _, pr, err := openPeerRecord(kept); err != nil || pr.PeerID != p {
				t.Fatalf("kept record of %s does not open: %v", p, err)
			}
		}
	})
}
