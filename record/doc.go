// Package record defines Porchlight's signed records: the one envelope format
// every public fact travels in, and the rules that make a record valid on its
// own (before any local state is consulted).
//
// # Wire format
//
// A record is a go-libp2p core/record signed envelope with
//
//	domain       "porchlight-record"
//	payload type "/porchlight/entry/1"
//	payload      a protobuf pb.Entry (record/pb/record.proto)
//	public key   Ed25519 only
//
// The signature covers the exact payload bytes carried, so no canonical
// encoding of the payload is needed. The envelope itself must be in the
// canonical encoding go-libp2p marshals (Open refuses any other), so that the
// record ID, the SHA-256 of the marshaled envelope, names exactly one record.
//
// Every Entry is one position of its author's append-only log: author (the
// signer's peer ID, checked against the envelope key), seq (1, 2, 3, ...),
// prev (the ID of the author's record at seq-1, empty at seq 1), created
// (Unix ms), neighborhood, and exactly one body: Profile, Post or Retraction.
//
// Open checks everything that can be checked from the bytes alone: size,
// signature, payload type, key type, author, seq range, prev length, body
// present, and the body's own limits (post kind, text length, location).
// Checks against the local log (duplicates, prev chain, equivocation, gaps)
// belong to the store.
package record
