package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// ErrNotFound is returned when a record or slot does not exist.
var ErrNotFound = errors.New("not found")

// Config configures Open. Zero values mean "use the default".
type Config struct {
	// Dir is the database directory. Required.
	Dir string
	// Neighborhood is the only neighborhood whose records are accepted
	// (but see Elsewhere). Required.
	Neighborhood string
	// Elsewhere reports whether author's log may carry records of another
	// neighborhood: an agency's, which serves several (package requests
	// answers it: a trusted issuer certified the author). Such a record is
	// stored, but a post of another neighborhood never enters the feed.
	// Nil: none may.
	Elsewhere func(author peer.ID) bool
	// MaxGap is how far past an author's contiguous head a record may be
	// before it is refused as a seq jump. Default 10,000.
	MaxGap uint64
	// Logger receives Badger's warnings and errors. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Health, when set, watches the disk: while it reports a failure,
	// writes are refused with an error wrapping ErrStorage (reads go on),
	// and a write or sync that fails on the disk is reported to it.
	Health *Health
	// CloseTimeout bounds Close (see CloseWithin); zero: unbounded.
	CloseTimeout time.Duration
	// TrustedIssuers are the issuers this node trusts, for the migration
	// to schema version 2, which removes the documents of the others (see
	// migrate.go). A database at version 2 or later does not use them.
	TrustedIssuers []peer.ID
	// MemTableSize is the size of Badger's memtable; the store keeps up to
	// two in memory. Default 8 MiB (see homeHubOptions). For simulations
	// of hundreds of homes in one process (mesh/scalesim), where the
	// default's arenas are most of the memory; a node leaves it zero.
	MemTableSize int64
	// BlockCacheSize is the size of Badger's block cache. Default 16 MiB
	// (see homeHubOptions). IndexCacheSize is the size of its table-index
	// cache, default 8 MiB; negative: no cache, every table's index stays
	// in memory (right for a database of a few tables). For simulations of
	// hundreds of homes in one process (mesh/scalesim): each cache costs
	// about 0.4 MiB of fixed buffers and counters whatever it holds, a
	// seventh of a simulated home's heap; a node leaves both zero.
	BlockCacheSize, IndexCacheSize int64
}

// DB is a node's database.
type DB struct {
	cfg Config
	bdb *badger.DB

	// mu serializes Ingest and AppendOwn: every write reads the author's head
	// and neighbours first, so writes of one log must not interleave. A home
	// mesh writes a few records a second; one writer is plenty.
	mu         sync.Mutex
	closeOnce  sync.Once
	closeErr   error
	cleanStart bool
	// gen counts write transactions, bumped after each one ends (see
	// Generation).
	gen atomic.Uint64

	// authorMu guards authors, the cache of Author, and orders its
	// invalidation with gen (see wrote).
	authorMu sync.Mutex
	authors  map[peer.ID]AuthorInfo
}

// maxCachedAuthors bounds Author's cache: a street has hundreds of homes,
// a city's agencies a few more. Past it the cache starts over.
const maxCachedAuthors = 4096

// wrote ends a write transaction that may have changed author's log (its
// profile, its equivocation flag): it drops the author's cached
// AuthorInfo and bumps the generation, both under authorMu, so that a
// reader that read the database before the write cannot cache what it
// read after it (see Author).
func (d *DB) wrote(author peer.ID) {
	d.authorMu.Lock()
	delete(d.authors, author)
	d.gen.Add(1)
	d.authorMu.Unlock()
}

// Generation counts this DB's write transactions, bumped after each one
// ends, committed or not. A value computed from reads made after reading
// Generation == g is current for as long as Generation still returns g:
// a cache keyed by it (mesh's sync digest) is never stale.
func (d *DB) Generation() uint64 { return d.gen.Load() }

// Open opens (creating if needed) the database in cfg.Dir, and brings it
// to schema Version first (see doc.go): an older database is migrated
// step by step, a newer one refused with an error wrapping ErrNewerSchema.
func Open(cfg Config) (*DB, error) {
	if cfg.Dir == "" {
		return nil, errors.New("store: Dir is required")
	}
	if cfg.Neighborhood == "" {
		return nil, errors.New("store: Neighborhood is required")
	}
	if cfg.MaxGap == 0 {
		cfg.MaxGap = 10_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := RemoveEmptyLogFiles(cfg.Dir); err != nil {
		return nil, err
	}
	_, errManifest := os.Stat(filepath.Join(cfg.Dir, "MANIFEST"))
	_, errMarker := os.Stat(filepath.Join(cfg.Dir, cleanMarker))
	opts := homeHubOptions(cfg.Dir, cfg.Logger)
	if cfg.MemTableSize > 0 {
		opts = opts.WithMemTableSize(cfg.MemTableSize)
	}
	if cfg.BlockCacheSize > 0 {
		opts = opts.WithBlockCacheSize(cfg.BlockCacheSize)
	}
	switch {
	case cfg.IndexCacheSize > 0:
		opts = opts.WithIndexCacheSize(cfg.IndexCacheSize)
	case cfg.IndexCacheSize < 0:
		opts = opts.WithIndexCacheSize(0)
	}
	bdb, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open database in %s: %w", cfg.Dir, err)
	}
	d := &DB{cfg: cfg, bdb: bdb, cleanStart: errors.Is(errManifest, os.ErrNotExist) || errMarker == nil, authors: map[peer.ID]AuthorInfo{}}
	if _, err := recordsSchema(cfg).Apply(bdb, cfg.Logger); err != nil {
		bdb.Close()
		return nil, err
	}
	// From now on, a crash leaves no marker behind.
	if err := os.Remove(filepath.Join(cfg.Dir, cleanMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		bdb.Close()
		return nil, err
	}
	return d, nil
}

// RemoveEmptyLogFiles deletes the 0-byte memtable write-ahead logs
// (*.mem) and value logs (*.vlog) in a Badger directory. Badger creates
// such a file and then sizes it; a process killed in between leaves it
// empty, and Badger v4.9 then refuses to open the directory ("while opening
// fid: N err: Create a new file", dgraph-io/badger#2207). An empty log
// never held a write, so deleting it loses nothing. Call it before
// badger.Open; a directory that does not exist yet is fine.
func RemoveEmptyLogFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read database directory %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || (filepath.Ext(e.Name()) != ".mem" && filepath.Ext(e.Name()) != ".vlog") {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove the empty %s a crash left in %s: %w", e.Name(), dir, err)
		}
	}
	return nil
}

// cleanMarker is written by Close and removed by Open: its absence at
// Open means the last run did not shut down cleanly.
const cleanMarker = "porchlight-clean-shutdown"

// CleanStart reports whether the database is new or was closed cleanly last
// time. After an unclean stop, own records that were gossiped but not yet
// synced to disk may be missing (see mesh).
func (d *DB) CleanStart() bool { return d.cleanStart }

// homeHubOptions tunes Badger for a small always-on box (a Raspberry Pi with
// 1-4 GB of RAM) holding a neighborhood's records: megabytes to a few GB,
// written a few times a second. Badger's defaults target servers: a 64 MB
// memtable x 5, a 256 MB block cache and 1 GB value-log files that are
// mmapped. Those alone would make an idle node's RSS several hundred MB.
func homeHubOptions(dir string, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(8 << 20). // 8 MB: thousands of records before a flush
		WithNumMemtables(2).       // one active, one flushing
		WithNumLevelZeroTables(2). // compact L0 early; keeps reads cheap
		WithNumLevelZeroTablesStall(8).
		WithBlockCacheSize(16 << 20).   // hot feed pages; the OS page cache does the rest
		WithIndexCacheSize(8 << 20).    // bound table index memory instead of keeping all
		WithValueLogFileSize(64 << 20). // small mmapped files, reclaimed sooner by GC
		WithValueThreshold(4 << 10).    // records (<16 KB) mostly inline in the LSM tree
		WithNumCompactors(2).           // 2 cores on a Pi
		WithNumGoroutines(2).
		WithCompression(options.Snappy).
		WithMetricsEnabled(false).
		WithDetectConflicts(false) // writes are serialized by DB.mu
}

// Close closes the database, waiting at most Config.CloseTimeout (when
// set). It is safe to call more than once.
func (d *DB) Close() error { return d.CloseWithin(d.cfg.CloseTimeout) }

// CloseWithin is Close waiting at most timeout (zero: unbounded), for a
// caller that must stop in time whatever the disk does (see CloseBadger).
// Only the first call of Close or CloseWithin closes; later ones return
// its error.
func (d *DB) CloseWithin(timeout time.Duration) error {
	d.closeOnce.Do(func() {
		d.closeErr = CloseBadger(d.bdb, timeout)
		if d.closeErr == nil {
			d.closeErr = os.WriteFile(filepath.Join(d.cfg.Dir, cleanMarker), nil, 0o600)
		}
	})
	return d.closeErr
}

// ErrCloseTimeout is wrapped by the error of a close that gave up.
var ErrCloseTimeout = errors.New("database did not close in time")

// CloseBadger closes db, waiting at most timeout. Badger's Close flushes
// the memtable and, when the disk fails, retries the flush every second
// forever: a node stopping on a dead or unplugged disk would never exit.
// After timeout (zero: never) CloseBadger gives up and returns an error wrapping
// ErrCloseTimeout; Close goes on in the background, and the process
// should exit (nothing is lost that was acknowledged: acknowledged writes
// were synced to the write-ahead log, which the next Open replays).
func CloseBadger(db *badger.DB, timeout time.Duration) error {
	if timeout <= 0 {
		return db.Close()
	}
	done := make(chan error, 1)
	go func() { done <- db.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("%w: %v (the disk may have failed; check that the data directory %s exists and is writable)", ErrCloseTimeout, timeout, db.Opts().Dir)
	}
}

// Size returns the size of the database's LSM tree and value log, in
// bytes.
func (d *DB) Size() (lsm, vlog int64) { return d.bdb.Size() }

// Sync flushes written data to disk.
func (d *DB) Sync() error { return d.bdb.Sync() }

// Neighborhood is the neighborhood this store accepts.
func (d *DB) Neighborhood() string { return d.cfg.Neighborhood }

// Head is the state of one author's log on this node.
type Head struct {
	Author  peer.ID
	Contig  uint64    // every seq in 1..Contig is present
	Max     uint64    // highest seq present
	ID      record.ID // ID at Contig (zero when Contig is 0)
	Flagged bool      // the author equivocated
	// Floor is the lowest seq held when this node's copy of the log
	// starts mid-way (a newcomer syncing from a horizon; see horizon.go):
	// Contig then counts from Floor, not from seq 1. 0: the copy starts at
	// seq 1. FloorCreated is the created time (Unix ms) of the record at
	// Floor, 0 if its content is not held. Set by Heads, HeadsAfter and
	// Head.
	Floor        uint64
	FloorCreated int64
}

// Outcome says what Ingest did with a valid record.
type Outcome int

const (
	// Added: the record is new and now stored.
	Added Outcome = iota + 1
	// Duplicate: this exact record was already stored.
	Duplicate
	// Equivocation: a different record for the same author and seq was
	// already stored; both are kept and the author is flagged.
	Equivocation
)

func (o Outcome) String() string {
	switch o {
	case Added:
		return "added"
	case Duplicate:
		return "duplicate"
	case Equivocation:
		return "equivocation"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Result describes an accepted record.
type Result struct {
	Outcome Outcome
	// Gap is true when the author's log now has a hole below the record:
	// the caller should fetch the missing records from a peer.
	Gap bool
	// Ignored is set when the record is stored (it holds its place in its
	// author's chain) but its effect was refused: a retraction that names a
	// record that is not a post of the same log at that seq purges nothing.
	// Judging it the same way whatever order records arrive in keeps every
	// node's copy of the log identical.
	Ignored record.Reason
}

// keys (the tags are declared in keys.go)

const (
	slotLive   = 0x00
	slotPurged = 0x01
)

func authorKey(tag byte, a peer.ID) []byte {
	k := make([]byte, 0, 2+len(a)+8+32)
	k = append(k, tag, byte(len(a)))
	return append(k, a...)
}

func seqKey(tag byte, a peer.ID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(authorKey(tag, a), seq)
}

func indexKey(id record.ID) []byte { return append([]byte{tagIndex}, id[:]...) }

func omissionKey(id record.ID) []byte { return append([]byte{tagOmission}, id[:]...) }

func feedKey(created int64, id record.ID) []byte {
	k := binary.BigEndian.AppendUint64([]byte{tagFeed}, uint64(created))
	return append(k, id[:]...)
}

// parseAuthorSeq parses "len author seq" as stored in an index value or after
// a tag.
func parseAuthorSeq(b []byte) (peer.ID, uint64, error) {
	if len(b) < 1 || len(b) < 1+int(b[0])+8 {
		return "", 0, fmt.Errorf("corrupt author/seq key %x", b)
	}
	n := int(b[0])
	return peer.ID(b[1 : 1+n]), binary.BigEndian.Uint64(b[1+n : 1+n+8]), nil
}

// slot is one log position as stored.
type slot struct {
	id  record.ID
	raw []byte // nil when purged
}

func getSlot(txn *badger.Txn, a peer.ID, seq uint64) (slot, bool, error) {
	it, err := txn.Get(seqKey(tagLog, a, seq))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return slot{}, false, nil
	}
	if err != nil {
		return slot{}, false, err
	}
	v, err := it.ValueCopy(nil)
	if err != nil {
		return slot{}, false, err
	}
	return decodeSlot(v)
}

func decodeSlot(v []byte) (slot, bool, error) {
	switch {
	case len(v) > 1 && v[0] == slotLive:
		return slot{id: record.IDOf(v[1:]), raw: v[1:]}, true, nil
	case len(v) == 33 && v[0] == slotPurged:
		var s slot
		copy(s.id[:], v[1:])
		return s, true, nil
	}
	return slot{}, false, fmt.Errorf("corrupt log slot (%d bytes)", len(v))
}

func getHead(txn *badger.Txn, a peer.ID) (Head, error) {
	h := Head{Author: a}
	it, err := txn.Get(authorKey(tagHead, a))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return h, nil
	}
	if err != nil {
		return h, err
	}
	if err = it.Value(func(v []byte) error { return decodeHead(&h, v) }); err != nil {
		return h, err
	}
	_, err = txn.Get(authorKey(tagFlag, a))
	switch {
	case err == nil:
		h.Flagged = true
	case !errors.Is(err, badger.ErrKeyNotFound):
		return h, err
	}
	return h, nil
}

// decodeHead reads a stored head value into h (whose Author is set).
func decodeHead(h *Head, v []byte) error {
	if len(v) != 48 {
		return fmt.Errorf("corrupt head of %s", h.Author)
	}
	h.Contig = binary.BigEndian.Uint64(v)
	h.Max = binary.BigEndian.Uint64(v[8:])
	copy(h.ID[:], v[16:])
	return nil
}

func putHead(txn *badger.Txn, h Head) error {
	v := binary.BigEndian.AppendUint64(nil, h.Contig)
	v = binary.BigEndian.AppendUint64(v, h.Max)
	v = append(v, h.ID[:]...)
	return txn.Set(authorKey(tagHead, h.Author), v)
}

// Ingest stores a verified record after checking it against the author's
// log. A rule violation returns a *record.Invalid (see record.ReasonOf) and
// stores nothing; any other error is the database's.
func (d *DB) Ingest(s *record.Signed) (Result, error) {
	if err := d.cfg.Health.Err(); err != nil {
		return Result{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.wrote(s.Author)
	var res Result
	err := d.bdb.Update(func(txn *badger.Txn) error {
		var err error
		res, err = d.ingest(txn, s)
		return err
	})
	if se := d.cfg.Health.Report(d.cfg.Dir, err); se != nil {
		return res, fmt.Errorf("%w (%w)", se, err)
	}
	return res, err
}

func (d *DB) ingest(txn *badger.Txn, s *record.Signed) (Result, error) {
	if n := s.Entry.GetNeighborhood(); n != d.cfg.Neighborhood && (d.cfg.Elsewhere == nil || !d.cfg.Elsewhere(s.Author)) {
		return Result{}, record.Invalidf(record.ReasonNeighborhood, "record of neighborhood %q, this node is in %q", n, d.cfg.Neighborhood)
	}
	switch _, err := txn.Get(indexKey(s.ID)); {
	case err == nil:
		return Result{Outcome: Duplicate}, nil
	case !errors.Is(err, badger.ErrKeyNotFound):
		return Result{}, err
	}
	a, seq := s.Author, s.Seq()
	h, err := getHead(txn, a)
	if err != nil {
		return Result{}, err
	}
	if seq > h.Contig+d.cfg.MaxGap {
		return Result{}, record.Invalidf(record.ReasonSeqJump, "seq %d is more than %d past this node's head %d for %s", seq, d.cfg.MaxGap, h.Contig, a)
	}
	existing, ok, err := getSlot(txn, a, seq)
	if err != nil {
		return Result{}, err
	}
	if ok {
		return d.equivocate(txn, s, existing)
	}
	if seq > 1 {
		prev, ok, err := getSlot(txn, a, seq-1)
		if err != nil {
			return Result{}, err
		}
		if ok && prev.id != s.Prev() && !hasExtra(txn, a, seq-1, s.Prev()) {
			return Result{}, record.Invalidf(record.ReasonPrevMismatch, "prev %.12s does not match %s's record %d (%.12s)", s.Prev(), a, seq-1, prev.id)
		}
	}
	// A held record at seq+1 that does not point back to s means its author
	// signed another record at seq too: a fork whose other half we lack.
	// s is still stored: refusing it would leave a hole that sync can never
	// fill, and which half lands in the slot would depend on arrival order.
	// The other half, when it comes, is kept as equivocation proof.
	ignored, err := d.applyBody(txn, s)
	if err != nil {
		return Result{}, err
	}
	if err := d.putSlot(txn, s); err != nil {
		return Result{}, err
	}
	res, err := d.advanceHead(txn, h, seq, s.ID)
	res.Ignored = ignored
	return res, err
}

// putSlot writes s into its log slot, purged already if a retraction of it
// arrived first.
func (d *DB) putSlot(txn *badger.Txn, s *record.Signed) error {
	a, seq := s.Author, s.Seq()
	val := append([]byte{slotLive}, s.Raw...)
	tomb, err := txn.Get(seqKey(tagTomb, a, seq))
	switch {
	case err == nil:
		t, err := tomb.ValueCopy(nil)
		if err != nil {
			return err
		}
		if bytes.Equal(t, s.ID[:]) && s.Entry.GetPost() != nil {
			val = append([]byte{slotPurged}, s.ID[:]...)
			if err := txn.Delete(feedKey(s.Entry.GetCreated(), s.ID)); err != nil {
				return err
			}
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	if err := txn.Set(seqKey(tagLog, a, seq), val); err != nil {
		return err
	}
	return txn.Set(indexKey(s.ID), seqKey(0, a, seq)[1:])
}

func (d *DB) advanceHead(txn *badger.Txn, h Head, seq uint64, id record.ID) (Result, error) {
	if seq > h.Max {
		h.Max = seq
	}
	if seq == h.Contig+1 {
		h.Contig, h.ID = seq, id
		for h.Contig < h.Max {
			next, ok, err := getSlot(txn, h.Author, h.Contig+1)
			if err != nil {
				return Result{}, err
			}
			if !ok {
				break
			}
			h.Contig, h.ID = h.Contig+1, next.id
		}
	}
	if err := putHead(txn, h); err != nil {
		return Result{}, err
	}
	return Result{Outcome: Added, Gap: h.Contig < h.Max}, nil
}

func hasExtra(txn *badger.Txn, a peer.ID, seq uint64, id record.ID) bool {
	_, err := txn.Get(append(seqKey(tagExtra, a, seq), id[:]...))
	return err == nil
}

// equivocate keeps s as proof that its author signed two records at one seq.
func (d *DB) equivocate(txn *badger.Txn, s *record.Signed, existing slot) (Result, error) {
	a, seq := s.Author, s.Seq()
	if err := txn.Set(append(seqKey(tagExtra, a, seq), s.ID[:]...), s.Raw); err != nil {
		return Result{}, err
	}
	if err := txn.Set(indexKey(s.ID), seqKey(0, a, seq)[1:]); err != nil {
		return Result{}, err
	}
	if err := txn.Set(authorKey(tagFlag, a), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return Result{}, err
	}
	d.cfg.Logger.Warn("equivocation", "author", a, "seq", seq, "kept", existing.id.String()[:12], "other", s.ID.String()[:12])
	return Result{Outcome: Equivocation}, nil
}

// applyBody updates the views that depend on the record's body. It returns
// the reason when the body's effect is refused (see Result.Ignored).
func (d *DB) applyBody(txn *badger.Txn, s *record.Signed) (record.Reason, error) {
	switch b := s.Entry.GetBody().(type) {
	case *pb.Entry_Post:
		if s.Entry.GetNeighborhood() != d.cfg.Neighborhood {
			// An agency's post at home (see Config.Elsewhere): kept in its
			// log, so the chain verifies, but not this neighborhood's news.
			return record.ReasonNeighborhood, nil
		}
		return "", txn.Set(feedKey(s.Entry.GetCreated(), s.ID), feedValue(s.Author, s.Seq(), b.Post))
	case *pb.Entry_Profile:
		k := authorKey(tagProfile, s.Author)
		cur, err := txn.Get(k)
		if err == nil {
			var curSeq uint64
			if err := cur.Value(func(v []byte) error {
				if len(v) >= 8 {
					curSeq = binary.BigEndian.Uint64(v)
				}
				return nil
			}); err != nil {
				return "", err
			}
			if curSeq > s.Seq() {
				return "", nil
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return "", err
		}
		return "", txn.Set(k, append(binary.BigEndian.AppendUint64(nil, s.Seq()), b.Profile.GetName()...))
	case *pb.Entry_Retraction:
		return d.retract(txn, s.Author, b.Retraction)
	case *pb.Entry_Omission:
		return "", txn.Set(omissionKey(s.ID), seqKey(0, s.Author, s.Seq())[1:])
	}
	return "", nil
}

func (d *DB) retract(txn *badger.Txn, a peer.ID, r *pb.Retraction) (record.Reason, error) {
	var target record.ID
	copy(target[:], r.GetTargetHash())
	tseq := r.GetTargetSeq()
	cur, ok, err := getSlot(txn, a, tseq)
	if err != nil {
		return "", err
	}
	if !ok {
		// Not here yet: remember, so it is stored purged when it arrives
		// (if it is the post named).
		return "", txn.Set(seqKey(tagTomb, a, tseq), target[:])
	}
	if cur.id != target {
		d.cfg.Logger.Debug("retraction names a record that is not in its author's log; it purges nothing", "author", a, "seq", tseq)
		return record.ReasonRetractOther, nil
	}
	if cur.raw == nil {
		return "", nil // already purged
	}
	old, err := record.DecodeTrusted(cur.raw)
	if err != nil {
		return "", err
	}
	if old.Entry.GetPost() == nil {
		return record.ReasonRetraction, nil
	}
	if err := txn.Delete(feedKey(old.Entry.GetCreated(), cur.id)); err != nil {
		return "", err
	}
	return "", txn.Set(seqKey(tagLog, a, tseq), append([]byte{slotPurged}, cur.id[:]...))
}

// AppendOwn appends body to the log of key's owner, stores it and fsyncs the
// database before returning, so the record survives a crash.
func (d *DB) AppendOwn(key crypto.PrivKey, body func(*pb.Entry)) (*record.Signed, error) {
	s, err := d.AppendOwnUnsynced(key, body, nil)
	if err != nil {
		return nil, err
	}
	return s, d.SyncOwn()
}

// AppendOwnUnsynced is AppendOwn without the fsync, and with check (if
// non-nil) run on the signed record before it is stored; an error from
// check stores nothing. check may read the database but must not write to
// it. The caller must call SyncOwn before it tells anyone the record is
// written: the mesh gossips the record while the disk syncs.
func (d *DB) AppendOwnUnsynced(key crypto.PrivKey, body func(*pb.Entry), check func(*record.Signed) error) (*record.Signed, error) {
	if err := d.cfg.Health.Err(); err != nil {
		return nil, err
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.wrote(self)
	var s *record.Signed
	err = d.bdb.Update(func(txn *badger.Txn) error {
		h, err := getHead(txn, self)
		if err != nil {
			return err
		}
		now := d.cfg.Now()
		e := &pb.Entry{
			Author:       []byte(self),
			Seq:          h.Max + 1,
			Created:      now.UnixMilli(),
			Neighborhood: d.cfg.Neighborhood,
		}
		if h.Max > 0 {
			last, ok, err := getSlot(txn, self, h.Max)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("own log head %d missing", h.Max)
			}
			e.Prev = last.id[:]
		}
		body(e)
		s, err = record.SealAt(e, key, now)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(s); err != nil {
				return err
			}
		}
		res, err := d.ingest(txn, s)
		if err == nil && res.Ignored != "" {
			// Never write a record of our own that would do nothing.
			err = record.Invalidf(res.Ignored, "the record would have no effect")
		}
		return err
	})
	if err != nil {
		if se := d.cfg.Health.Report(d.cfg.Dir, err); se != nil {
			return nil, fmt.Errorf("%w (%w)", se, err)
		}
		return nil, err
	}
	return s, nil
}

// SyncOwn makes own records written so far durable. It fails, and the
// caller must not acknowledge them, when the disk does.
func (d *DB) SyncOwn() error {
	if err := d.bdb.Sync(); err != nil {
		if se := d.cfg.Health.Report(d.cfg.Dir, err); se != nil {
			return fmt.Errorf("sync own record: %w", se)
		}
		return fmt.Errorf("sync own record: %w", err)
	}
	if err := d.cfg.Health.Verify(); err != nil {
		return fmt.Errorf("sync own record: %w", err)
	}
	return nil
}
