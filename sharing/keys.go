package sharing

import (
	"encoding/binary"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
)

// The service keeps its state in the node's records database. Its parts
// write these keys (the one-byte tags are uppercase, like every tag of
// package clips; package store uses lowercase ones):
//
//	A ...     the owner's access log (clips.Audit, audit.go)
//	R Y Z O   grants, revocations, transfer records and the share outbox
//	T         the "to fetch" inbox of the agency side (clips.Grants,
//	          grants.go)
//
// and, declared here:
//
//	H I L O G   hold index: clip I is held for grant G of owner O (a peer
//	            ID of L bytes, L one byte). The value is the grant's expiry
//	            (8 bytes, Unix ms, big-endian; 0 for evidence, held for
//	            good) and the hold's state (1 byte, holdPending, holdHeld
//	            or holdEnding). Written before the clip is held; removed
//	            once the hold has ended and the clip was released (or
//	            another hold still covers it).
//	S name      the service's markers: "S hold-index" is present once the
//	            hold index was built (buildHoldIndex) from the grants of a
//	            data directory written before it existed.
//
// Both tables are declared with every other in store/keys.go
// (store.HoldIndex, store.SharingMeta); the keys below are after the tag.

// keyHoldIndexBuilt marks a data directory whose hold index is complete.
var keyHoldIndexBuilt = []byte("hold-index")

// The states of a hold in the index.
const (
	// holdPending: the hold is wanted; Store.Hold has not succeeded yet.
	holdPending byte = 0
	// holdHeld: the clip is held for this grant.
	holdHeld byte = 1
	// holdEnding: the grant was revoked; the clip is released once no
	// other hold covers it.
	holdEnding byte = 2
)

const holdValueLen = 8 + 1

func holdClipPrefix(clip record.ID) []byte {
	return append([]byte(nil), clip[:]...)
}

func holdKey(clip record.ID, owner peer.ID, grant clips.GrantID) []byte {
	k := append(holdClipPrefix(clip), byte(len(owner)))
	k = append(k, owner...)
	return append(k, grant[:]...)
}

// hold is one entry of the hold index.
type hold struct {
	clip    record.ID
	owner   peer.ID
	grant   clips.GrantID
	expires int64 // Unix ms; 0: never (evidence)
	state   byte
}

func (h hold) key() []byte { return holdKey(h.clip, h.owner, h.grant) }

func (h hold) value() []byte {
	v := make([]byte, holdValueLen)
	binary.BigEndian.PutUint64(v, uint64(h.expires))
	v[8] = h.state
	return v
}

// live reports whether the hold still keeps its clip at nowMs.
func (h hold) live(nowMs int64) bool {
	return h.state != holdEnding && (h.expires == 0 || nowMs < h.expires)
}

// parseHold decodes an index entry; ok is false for a malformed one.
func parseHold(k, v []byte) (h hold, ok bool) {
	n := len(record.ID{})
	if len(k) < n+1 || len(v) != holdValueLen {
		return h, false
	}
	copy(h.clip[:], k[:n])
	l := int(k[n])
	rest := k[n+1:]
	if len(rest) != l+len(clips.GrantID{}) {
		return h, false
	}
	h.owner = peer.ID(rest[:l])
	copy(h.grant[:], rest[l:])
	h.expires = int64(binary.BigEndian.Uint64(v))
	h.state = v[8]
	return h, true
}
