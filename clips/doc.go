// Package clips keeps a home's video clips and the owner's consent to share
// them: clips are stored on the owner's node, described by a manifest the
// owner signs, and leave the home only for a peer holding the owner's
// signed grant.
//
// # Wire formats
//
// Manifests, grants and grant revocations are go-libp2p core/record signed
// envelopes, like log records (see package record), with
//
//	domain        "porchlight-clip"
//	payload types "/porchlight/clip-manifest/1"         pb.Manifest
//	              "/porchlight/clip-grant/1"            pb.Grant
//	              "/porchlight/clip-grant-revocation/1" pb.GrantRevocation
//	public key    Ed25519 only
//
// (messages in clips/pb/clips.proto). The envelope must be in the canonical
// encoding go-libp2p marshals, so that its ID, the SHA-256 of the envelope
// bytes, names exactly one document; the signature covers the payload bytes
// carried, so the payload needs no canonical encoding. Each document's
// owner field must be the signer's peer ID. Open* functions bound the size
// before parsing: 256 KiB for a manifest, 8 KiB for a grant, 1 KiB for a
// revocation. Times are Unix milliseconds.
//
// A Manifest describes one clip: clip_id, the SHA-256 of the whole file
// (the clip's identity; grants name clips by it); camera (at most 64
// characters); start and end of the recording (end 0 when unknown, else
// not before start); size (> 0); media_type (a Content-Type value, at most
// 100 characters; a node imports, accepts from a peer and serves as such
// only the video and image types of CheckMediaType, or
// application/octet-stream, and serves any other stored type as a
// download); chunk_size (64 KiB to 16 MiB); chunk_sha256, the SHA-256
// of each chunk, exactly ceil(size/chunk_size) of them and at most
// MaxChunks; owner; imported. Every chunk but the last is chunk_size bytes.
// A receiver verifies each chunk against its hash as it arrives; one that
// stores the clip (PutVerified, FetchAndStore) also checks the whole file
// against clip_id before the clip becomes visible. (A Fetch that only
// streams the bytes needs no whole-file check: every byte it delivers
// matches a chunk hash the owner signed.)
//
// A Grant is the owner's consent: grant_id (16 random bytes); owner;
// grantee, the peer allowed to fetch (empty: every peer of the
// neighborhood, for clips attached to a public post); clip_ids (1 to 100
// clip IDs, no repeats); request_id, the request for assistance it answers
// (optional); issued and expires (the grant is valid in [issued, expires)).
//
// A grant is identified by its owner and grant_id together: the owner
// chooses the ID, and its grantee (or, for a post's grant, every neighbor)
// knows it, so an ID alone could be reused by someone else's grant.
//
// A GrantRevocation withdraws a grant: grant_id, owner (only the grant's
// owner can revoke it), revoked.
//
// Intake turns the grants delivered to an agency's node into evidence,
// within budgets; see its documentation for every condition.
//
// A receiver hands its transfer record of each clip back to the owner
// over ReceiptProtocol (receipt.go): the owner's proof of what the
// receiver acknowledged receiving.
//
// CanFetch is the one permission check the owner's node makes before
// serving a clip: a grant of this owner, unrevoked, valid now, naming the
// requester (or the whole neighborhood) and the clip.
//
// # Storage
//
// Store keeps clips in a Badger database of their own, apart from the
// node's record database (OpenDB: every chunk in the value log, values
// checked against their CRC32-C on every read). Keys start with a one-byte
// tag:
//
//	M I     manifest: version (1 byte, 1), blob B (16), stored-at time
//	        (8, Unix ms, big-endian), then the signed manifest envelope
//	C B N   chunk N (4 bytes, big-endian) of blob B: the chunk's bytes
//	B E B   blob index: every upload's blob B under its first expiry E
//	        (8 bytes, Unix seconds, big-endian), for CollectGarbage
//	T S I   time index of clip I (since schema version 2): S is its start
//	        (Unix ms, sign bit flipped, then all bits inverted, so that a
//	        scan meets the newest first); the value is its end (8 bytes,
//	        Unix ms, 0 when unknown), its owner's peer ID (a length byte,
//	        then the bytes) and its camera name. Written and deleted in the
//	        manifest's transaction, with the manifest's expiry; Page reads
//	        it to list one page without opening every manifest
//	F P     file index of ImportFile: P is the SHA-256 of a file's absolute
//	        path; the value is the file's size, modification time, device,
//	        inode and change time (8 bytes each, the last three on Linux
//	        only), then the clip ID
//	v       the schema version (DBVersion, in decimal; see store/doc.go)
//
// Grants, revocations, transfer records, the share outbox, the inbox of
// grants to fetch, the access log and the receipts live in the node's
// records database, in tables declared in store/keys.go, under the keys
// listed in Grants (grants.go), audit.go and receipt.go:
//
//	J G I   receipt: the grantee's signed transfer record of clip I, handed
//	        back to this node (ReceiptProtocol) for its own grant G
//
// Their layout changed in December 2026 (grants keyed by owner and ID);
// the records database's migration to schema version 2 moved grants
// stored under the old keys.
//
// I is a clip ID (32 bytes). A blob ID B is 16 random bytes chosen when an
// upload starts, because the clip ID, the hash of the whole file, is known
// only after its last byte.
//
// Import streams, as a pipeline of at most four chunks: one goroutine
// reads each chunk and hashes it, another hashes the whole file, and
// Badger writes each chunk in a transaction of its own, committed
// asynchronously, under a fresh blob ID; memory stays four chunks (plus 32
// bytes of hash per chunk) whatever the clip's size. After the last chunk
// is written it signs the manifest and writes the M entry in one
// transaction, then syncs the database to disk: that commit is the only
// moment the clip becomes visible, and the import returns only once it is
// durable. An import that fails or is interrupted, even by a crash or a
// power cut, leaves only chunks that no manifest points at: they cannot be
// read, and they expire with the retention period like every chunk (a
// failed import also deletes them at once). If the clip turns out to be
// stored already, the new chunks are deleted and the stored manifest
// returned. PutVerified, which stores a clip received from a peer, works
// the same way.
//
// Badger reads and writes its value log through memory mappings, so every
// chunk read or written would stay in the process's resident set; the
// store drops the pages of each chunk from the process's page tables once
// it is copied out or written (they stay in the page cache), and
// preallocates value-log files, which Badger creates sparse (see
// mapped_linux.go).
//
// # Retention and hold
//
// Every entry of a clip carries the same Badger expiry: Retention (30 days
// by default) after the clip was stored here. A clip that is shared is held
// (Hold): its entries are rewritten without expiry, chunks first and the
// manifest last, so a held manifest always has held chunks. Release gives
// them back their expiry (at once if it has passed), manifest first, so an
// expiring manifest never leaves a held chunk behind except after an
// interruption; Sweep deletes such leftovers. Badger expires entries by the
// wall clock; Config.Now only sets the times written.
//
// Badger hides expired entries at once but frees their disk space only
// after a compaction drops their keys, which the clip database's few keys
// rarely get. CollectGarbage (a node runs it hourly) drops the chunk keys
// of every blob in the B index whose expiry has passed and that no stored
// manifest points at, with DropPrefix, then runs the value-log GC.
//
// # Files and folders
//
// ImportFile imports one file and refuses a folder, an empty or unreadable
// file, and a file that changes while it is read (ErrFileChanged: a camera
// still writing it). A file it imported before and that is unchanged since
// (the F index) is not read again. Watcher polls a folder a camera drops files in and
// imports each file once its size and modification time were stable over
// two polls, skipping hidden and partial (.part, .tmp, .crdownload) files.
// Start times come from names like front-door-2026-11-27T19-42-10Z.mp4
// (ParseFileName) when the caller gives none.
package clips
