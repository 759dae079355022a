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
//	f C I      feed index of live posts: A S P, P the post (the entry's
//	           Post message, protobuf), so that a page of the feed is one
//	           scan of this index, with no lookup of a log slot (see
//	           feedread.go); C is the author's created time in Unix ms (8
//	           bytes big-endian), so a reverse scan is newest first.
//	           Version 2 held A S alone (empty before 2026-11-28); those
//	           are still read, through the log slot
//	p A        profile: S (8) + the author's name
//	o I        yield omission index: A S of every YieldOmission record I
//	           stored in a log slot (package requests judges them);
//	           written with the slot, in the same transaction
//	b A        log floor: S (8) + the created time (8, Unix ms; 0 if
//	           purged) of the lowest seq held, for a log this node holds
//	           from a horizon rather than from seq 1 (horizon.go); head's
//	           contiguous seq then counts from S
//	v          the schema version, in decimal (see below)
//
// The tags of every table, store's and those it lends to other packages
// (requests' issuer documents, clips' grants and access log), are declared
// in keys.go, and no package but this one gets the Badger handle: the
// others read and write their tables through Table, Txn and ScanAll, and
// document their own key layouts.
//
// # Schema version and migrations
//
// Both databases of a node carry a schema version under the key "v": the
// records database (this package, Version, migrate.go) and the clip
// database (clips.DBVersion, clips/db.go). Open, and clips.OpenDB, apply
// the database's Schema before anything else reads it:
//
//   - a new, empty database gets the current version;
//   - an older one is migrated one step at a time, each step a function
//     that turns version n-1 into n; the version key is written (and
//     synced) after each step, so a crash mid-way runs that step again,
//     and every step must be safe to run twice;
//   - a newer one is refused with an error wrapping ErrNewerSchema that
//     names both versions: a release never reads a layout it does not
//     know, and there is no downgrade (restore a backup instead).
//
// The records database's versions:
//
//	1  before December 2026: grants keyed "R G" by ID alone; the
//	   documents of untrusted issuers stored
//	2  December 2026: grants keyed "R L O G"; only trusted issuers'
//	   documents. Releases up to 2026-12-03 wrote no version key: a
//	   database without one is version 2 if it holds requests' mark
//	   "K 1" (the removal of untrusted documents ran), else version 1;
//	   an empty one is new.
//	3  2026-12-03 (issue 17): feed index entries hold their post (f C I:
//	   A S P); the step rewrites them from one scan of the log slots and
//	   drops an entry whose post is no longer live (the feed never showed
//	   it). Once: 7.6 s for 30 days of a 500-home street (73,500 posts)
//	   and 217 s for a year (894,250) on a 2-core machine at load 20-27
//	   (docs/benchmarks.md, feedfast).
//
// Version 2 also covers the tables added on 2026-12-03 without a step:
// the agency's "to fetch" inbox (T, clips) starts empty, and package
// sharing builds its hold index (H) from the grants and transfer records
// when it opens a database without its mark "S hold-index" (every
// database written before the index existed), then writes the mark.
// So do the membership tables of 2026-12-03 (issue 13): membership
// documents (M) and own invites (N) of package member, and mutes (U) of
// package feed, all start empty; an open neighborhood's database is
// unchanged until it adopts a charter, which adds documents, not a layout
// (node.TestOpenNeighborhoodAdoptsACharter runs that from the version-2
// fixture).
// So do the tables of issue 15 (2026-12-03): the yield omission index (o)
// and package clips' receipts (J) start empty, since no release before
// them wrote a YieldOmission record or a receipt.
// So does the log floor table (b) of issue 17 (the horizon, 2026-12-03):
// it starts empty (every log held so far starts at seq 1), and a feed
// post purged for being older than the horizon is the purged slot a
// retraction already wrote (0x01 + I), so no layout changes.
//
// The clip database's: 1, December 2026 (written without a version key
// until 2026-12-03); 2, the time index (clips/list.go), 2026-12-03.
//
// To change a layout: add a step to the database's schema (recordsSchema
// in migrate.go, dbSchema in clips/db.go) with To one more than the
// current version, bump Version (or clips.DBVersion), and test the step
// from a data directory the previous release made: build it, run
// testdata/mkdatadir.sh with it, commit the archive under testdata (a few
// KB) and open it in a test (see schema_test.go and storetest). A step
// reads the old layout as it was, so it never changes once released; it
// may use record but no package above store. A step whose work needs a
// package above store (decoding grants to build an index, say) writes a
// mark in that package's table instead; the package does the work when it
// opens and then clears the mark, so that a crash in between does it
// again. A new table that starts empty needs no step: declare its tag in
// keys.go (a const, an entry of tables and a Table var; the test
// TestTagsDistinct checks that no two tables share a tag).
//
// Records received from the network are written without fsync (a crash can
// lose the last few, and catch-up sync fetches them again); a node's own
// records are fsynced before AppendOwn returns, so an acknowledged post is
// never lost.
package store
