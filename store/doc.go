// Package store is a node's Badger database: how it is opened on a small
// home hub, and the per-author signed logs every domain package builds on.
//
// # Key layout
//
// Keys start with a one-byte table tag. A is an author (peer ID bytes,
// prefixed by their length in one byte), S a seq (8 bytes big-endian), I a
// record ID (32 bytes, the SHA-256 of the envelope).
//
//	l A S      log slot: 0x00 + envelope, or 0x01 + I once the record is
//	           retracted (content purged, hash kept so the chain verifies)
//	i I        record index: A S
//	h A        head: contiguous seq (8), highest seq (8), I at contiguous seq
//	x A S I    a second, conflicting envelope for A S (equivocation proof)
//	e A        equivocation flag: the seq that was equivocated (8)
//	t A S      tombstone: I of the record that a retraction in A's log
//	           withdrew before this node had it
//	f C I      feed index of live posts: A S (as in i I, so that a page of
//	           the feed needs no index lookup; empty in databases written
//	           before 2026-11-28, which fall back to i I); C is the author's
//	           created time in Unix ms (8 bytes big-endian), so a reverse
//	           scan is newest first
//	p A        profile: S (8) + the author's name
//
// Records received from the network are written without fsync (a crash can
// lose the last few, and catch-up sync fetches them again); a node's own
// records are fsynced before AppendOwn returns, so an acknowledged post is
// never lost.
package store
