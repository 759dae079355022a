package record

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	lprecord "github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/record/pb"
)

// DecodeTrusted decodes an envelope that this node verified before storing
// it, skipping the signature check. Never use it on bytes from the network.
func DecodeTrusted(raw []byte) (*Signed, error) {
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("decode stored envelope: %w", err)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("decode stored envelope key: %w", err)
	}
	e := new(pb.Entry)
	if err := proto.Unmarshal(env.RawPayload, e); err != nil {
		return nil, fmt.Errorf("decode stored entry: %w", err)
	}
	return &Signed{Raw: raw, ID: IDOf(raw), Author: signer, Entry: e}, nil
}
