package clips

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// Badger reads and writes its value log through shared memory mappings of
// the log files, so every page of a chunk that a node reads (to serve it)
// or writes (to store it) stays mapped into the process and counts in its
// resident set, until the kernel reclaims it under memory pressure. On a
// home hub that serves or stores a few GB of clips that looks like, and
// competes like, GB of memory in use. dropPages removes the mapping of a
// chunk's pages from the process once the chunk has been copied out or
// written: the pages stay in the page cache (dirty ones are written back
// as usual), and the next access maps them again. The resident set then
// stays around one chunk per transfer, whatever the clip's size.
//
// Safety: MADV_DONTNEED only loses data on private or anonymous memory
// (which reads back as zeros). So dropPages first checks, in
// /proc/self/maps, that v lies in a shared mapping of a Badger value-log
// file (*.vlog), and it must be called inside Badger's Item.Value callback:
// Badger holds the log file's read lock for the callback, and the file is
// only remapped or unmapped under its write lock, so the mapping checked is
// the one advised. It advises only the pages wholly inside v, so nothing
// else shares them. A value shorter than MinChunkSize is never advised:
// only values of at least valueThreshold are in the value log, and there
// is nothing to gain.

// vlogMapping caches the last mapping found to be a shared mapping of a
// value-log file, so that /proc/self/maps is read once per log file
// rather than once per chunk. A value whose address falls in it is in that
// mapping: Badger gives Item.Value callbacks slices of the mapping, never
// a copy, for values in the value log (this database is not encrypted).
var vlogMapping struct {
	sync.Mutex
	lo, hi uintptr
	off    int64 // file offset of lo
	path   string
	file   *os.File // the log file, once a value written to it was seen
}

var pageSize = uintptr(os.Getpagesize())

// canDropPages reports whether dropPages does anything here.
const canDropPages = true

// dropPages drops the pages wholly inside v from the process's page
// tables, if v is a value in a Badger value-log mapping (see above). When
// written is true, v was just written: the first time a value written to
// a log file is seen, the file is preallocated (see preallocate), and the
// disk write of v's pages is started at once (see startWriteback).
func dropPages(v []byte, written bool) {
	if len(v) < MinChunkSize {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	end := start + uintptr(len(v))
	lo := (start + pageSize - 1) &^ (pageSize - 1)
	hi := end &^ (pageSize - 1)
	if hi <= lo {
		return
	}
	m := &vlogMapping
	m.Lock()
	defer m.Unlock()
	if start < m.lo || end > m.hi {
		mlo, mhi, path, off, ok := sharedVlogMapping(start)
		if !ok || end > mhi {
			return
		}
		if m.file != nil {
			m.file.Close()
		}
		m.lo, m.hi, m.off, m.path, m.file = mlo, mhi, off, path, nil
	}
	if written {
		if m.file == nil {
			m.file = preallocate(m.path)
		}
		startWriteback(m.file, m.off+int64(lo-m.lo), int64(hi-lo))
	}
	// An error (EINVAL, EAGAIN) only leaves the pages mapped.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, syscall.MADV_DONTNEED)
}

// preallocate opens the value-log file at path and allocates its disk
// blocks that are still holes. Badger creates each log file sparse, at
// twice the configured size, and writes it through its mapping: then every
// page first written costs the file system a block allocation inside a
// page fault, which made writing a clip several times slower than writing
// the same bytes with write(2). fallocate(2) without flags never changes
// the file's contents or size; holes become allocated blocks that read as
// zeros, as holes do. The blocks past Badger's last entry are given back
// when Badger truncates the file, as it does when it moves to the next
// file and when it closes; until then, at most twice the value-log file
// size (256 MiB for the clip database) is allocated ahead. Failure (a file
// system without fallocate) only leaves the file sparse; nil means the
// file could not be opened.
func preallocate(path string) *os.File {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		_ = syscall.Fallocate(int(f.Fd()), 0, 0, fi.Size())
	}
	return f
}

// startWriteback starts writing a range of a log file to disk without
// waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE), so that the disk
// works while the next chunks are hashed: the sync that ends an import or
// a receive, and Badger's own when it moves to the next log file, then
// find little left to write. The Linux page cache would otherwise hold
// every chunk until that sync (background writeback starts only when a
// tenth of the memory is dirty), making the import's time the sum of its
// CPU time and the disk's instead of the larger of the two.
func startWriteback(f *os.File, off, n int64) {
	if f == nil {
		return
	}
	_ = syscall.SyncFileRange(int(f.Fd()), off, n, 2 /* SYNC_FILE_RANGE_WRITE */)
}

// sharedVlogMapping finds the mapping that holds addr in /proc/self/maps
// and reports its bounds, file and offset in the file if it is a shared
// mapping of a *.vlog file.
func sharedVlogMapping(addr uintptr) (lo, hi uintptr, path string, off int64, ok bool) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0, "", 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		// 7f2c5e600000-7f2c6e600000 rw-s 00000000 fe:01 1234  /data/clips/000001.vlog
		line := sc.Bytes()
		dash := bytes.IndexByte(line, '-')
		sp := bytes.IndexByte(line, ' ')
		if dash < 0 || sp < dash {
			continue
		}
		a, err1 := strconv.ParseUint(string(line[:dash]), 16, 64)
		b, err2 := strconv.ParseUint(string(line[dash+1:sp]), 16, 64)
		if err1 != nil || err2 != nil || addr < uintptr(a) || addr >= uintptr(b) {
			continue
		}
		fields := bytes.Fields(line[sp+1:]) // perms offset dev inode path
		slash := bytes.IndexByte(line, '/') // file paths are absolute; may hold spaces
		if len(fields) < 4 || len(fields[0]) != 4 || fields[0][3] != 's' || slash < 0 || !bytes.HasSuffix(line[slash:], []byte(".vlog")) {
			return 0, 0, "", 0, false
		}
		o, err := strconv.ParseInt(string(fields[1]), 16, 64)
		if err != nil {
			return 0, 0, "", 0, false
		}
		return uintptr(a), uintptr(b), string(line[slash:]), o, true
	}
	return 0, 0, "", 0, false
}
