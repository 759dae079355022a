package requests

import (
	"crypto/sha256"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
)

// yieldDomain separates yield commitments from every other hash.
const yieldDomain = "porchlight-yield/1\x00"

// YieldCommitment is a Yield share's commitment to one clip received for
// a request under a grant: SHA-256("porchlight-yield/1" 0x00 request
// grant clip). Only the grant's owner and the agency know the grant ID,
// so nobody else can tell which home a share is.
func YieldCommitment(request, grant, clip record.ID) record.ID {
	h := sha256.New()
	h.Write([]byte(yieldDomain))
	h.Write(request[:])
	h.Write(grant[:])
	h.Write(clip[:])
	var id record.ID
	copy(id[:], h.Sum(nil))
	return id
}

// Omission is a valid proof that an agency left a home's clip out of a
// request's yield: the home's YieldOmission record (its Raw envelope
// carries the agency's transfer record and the home's grant).
type Omission struct {
	Request record.ID // the request whose yield omits the clip
	Home    peer.ID   // the home that published it
	Record  record.ID // the home's YieldOmission record
	Raw     []byte    // the home's signed YieldOmission envelope: the proof
}
