package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ErrStorage is wrapped by the error of a write refused because the disk
// holding the data directory failed (see Health).
var ErrStorage = errors.New("storage failed")

// StorageError says which disk failed, how, and what to check.
type StorageError struct {
	Dir     string // the database directory
	Problem string // what is wrong, e.g. "the file system is read-only"
	Check   string // what the user should check
	Since   time.Time
}

func (e *StorageError) Error() string {
	return fmt.Sprintf("the disk holding %s failed: %s; writes are refused until it is fixed (check %s)", e.Dir, e.Problem, e.Check)
}

func (e *StorageError) Unwrap() error { return ErrStorage }

// HealthConfig configures NewHealth. Zero values mean the default.
type HealthConfig struct {
	// Dirs are the database directories to watch. Required. Each is
	// created (mode 0700) if missing, so that its identity is known from
	// the start.
	Dirs []string
	// Reserve is the free space, in bytes, below which writes are refused.
	// Badger writes its logs through memory mappings of sparse files: a
	// page written on a full file system kills the process (SIGBUS), so
	// writing must stop while there is still room. Default 64 MiB.
	Reserve uint64
	// Interval between checks. Default 2 s.
	Interval time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Health watches the disk under a node's databases, so that a failed disk
// is noticed while the node runs (not only when a write fails), writes are
// refused with a clear error instead of acknowledged, and reads go on.
// Each check stats every directory (removed or replaced: the databases'
// open files are gone with it, which only a restart mends), reads the free
// space (below Reserve: writes resume once space returns), and, every
// probeEvery-th time, creates, fsyncs and removes a probe file (a
// read-only or failing file system). A
// write or sync error reported with Report counts until the next check
// passes.
//
// The methods of a nil *Health report a healthy disk.
type Health struct {
	cfg    HealthConfig
	ids    []fileID
	mu     sync.Mutex
	err    *StorageError // from the last check, or reported since
	gone   *StorageError // a directory removed or replaced: sticky
	free   uint64        // least free space among the directories
	checks int
}

// probeEvery: a check creates, fsyncs and removes a probe file only every
// probeEvery-th time (every 10 s by default). Nothing else shows an ext4
// that turned itself read-only after an I/O error (its mount flags do not
// change), but each probe is a journal commit, and an SD card wears.
const probeEvery = 5

// NewHealth creates the directories if needed and records which they are.
func NewHealth(cfg HealthConfig) (*Health, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("store: health: Dirs is required")
	}
	if cfg.Reserve == 0 {
		cfg.Reserve = 64 << 20
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Health{cfg: cfg}
	for _, d := range cfg.Dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		id, err := identify(d)
		if err != nil {
			return nil, err
		}
		h.ids = append(h.ids, id)
	}
	h.Check()
	return h, nil
}

// Run checks every Interval until ctx is done.
func (h *Health) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			h.Check()
		}
	}
}

// Check examines every directory once and updates Err.
func (h *Health) Check() {
	if h == nil {
		return
	}
	h.mu.Lock()
	// Probe on the first check, every probeEvery-th after, and while
	// failing (to see the disk come back).
	doProbe := h.checks%probeEvery == 0 || h.err != nil
	h.checks++
	h.mu.Unlock()
	var found *StorageError
	free := ^uint64(0)
	for i, d := range h.cfg.Dirs {
		if e := h.checkGone(d, h.ids[i]); e != nil {
			h.mu.Lock()
			if h.gone == nil {
				h.gone = e
				h.cfg.Logger.Error("storage failed: writes are refused", "err", e)
			}
			h.mu.Unlock()
			continue
		}
		avail, readOnly, err := diskState(d)
		if err != nil {
			found = h.failure(d, fmt.Sprintf("its file system cannot be read (%v)", err), "that the disk is connected, and the kernel log (dmesg) for I/O errors")
			continue
		}
		free = min(free, avail)
		if readOnly {
			found = h.failure(d, "its file system is mounted read-only", "the kernel log (dmesg) for I/O errors, then remount it read-write or replace the disk")
			continue
		}
		if avail < h.cfg.Reserve {
			found = h.failure(d, fmt.Sprintf("the disk is full (%d MiB free, %d MiB needed)", avail>>20, h.cfg.Reserve>>20),
				fmt.Sprintf("free space with df -h %s and delete files or old clips; writing resumes by itself", d))
			continue
		}
		if !doProbe {
			continue
		}
		switch err := probe(d); {
		case errors.Is(err, syscall.EROFS):
			found = h.failure(d, "its file system turned read-only (the kernel does that after an I/O error)", "the kernel log (dmesg) for I/O errors, then repair (fsck) and remount the disk read-write or replace it, and restart the node")
		case err != nil:
			found = h.failure(d, fmt.Sprintf("a test write failed (%v)", err), "that the disk is mounted read-write, that it has free space (df -h), and the kernel log (dmesg) for I/O errors")
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if found != nil && h.err == nil {
		h.cfg.Logger.Error("storage failed: writes are refused", "err", found)
	}
	if found == nil && h.err != nil && h.gone == nil {
		h.cfg.Logger.Info("storage works again: writes resume", "was", h.err.Problem)
	}
	if found != nil && h.err != nil {
		found.Since = h.err.Since
	}
	h.err = found
	if free != ^uint64(0) {
		h.free = free
	}
}

func (h *Health) failure(dir, problem, check string) *StorageError {
	return &StorageError{Dir: dir, Problem: problem, Check: check, Since: h.cfg.Now()}
}

func (h *Health) checkGone(dir string, want fileID) *StorageError {
	id, err := identify(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return h.failure(dir, "the directory is gone (removed, or its disk unplugged or dead)",
			"that the disk is connected and mounted, then restart the node")
	case err != nil:
		return h.failure(dir, fmt.Sprintf("the directory cannot be read (%v)", err),
			"that the disk is connected, and the kernel log (dmesg) for I/O errors, then restart the node")
	case !id.equal(want):
		return h.failure(dir, "the directory was replaced while the node had its database open",
			"that the disk is mounted where it was when the node started, then restart the node")
	}
	return nil
}

// probeName is the file a check creates, fsyncs and removes.
const probeName = ".porchlight-probe"

func probe(dir string) error {
	p := filepath.Join(dir, probeName)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(p); err == nil {
		err = rerr
	}
	return err
}

// Verify checks now that every directory is still the one the databases
// were opened in, and returns Err. A database whose directory was removed
// still takes writes and syncs (into files that no longer have a name, and
// are lost at the next start): call Verify after a sync and before telling
// anyone a write is durable.
func (h *Health) Verify() error {
	if h == nil {
		return nil
	}
	for i, d := range h.cfg.Dirs {
		if e := h.checkGone(d, h.ids[i]); e != nil {
			h.mu.Lock()
			if h.gone == nil {
				h.gone = e
				h.cfg.Logger.Error("storage failed: writes are refused", "err", e)
			}
			h.mu.Unlock()
		}
	}
	return h.Err()
}

// Err is nil while the disk works, else a *StorageError (wrapping
// ErrStorage) saying what failed and what to check.
func (h *Health) Err() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.gone != nil:
		return h.gone
	case h.err != nil:
		return h.err
	}
	return nil
}

// Report records a failed write or sync of dir's database: writes are
// refused until the next check passes. It returns the failure (wrapping
// ErrStorage), or nil for an error that is not the disk's (anything but
// an OS error), which it ignores.
func (h *Health) Report(dir string, err error) error {
	var errno syscall.Errno
	if h == nil || err == nil || !errors.As(err, &errno) {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.err = h.failure(dir, fmt.Sprintf("a write failed (%v)", err), "that the disk is mounted read-write, that it has free space (df -h), and the kernel log (dmesg) for I/O errors")
		h.cfg.Logger.Error("storage failed: writes are refused", "err", h.err)
	}
	return h.err
}

// FreeBytes is the least free space among the directories at the last check.
func (h *Health) FreeBytes() uint64 {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.free
}
