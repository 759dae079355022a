package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Issue 17, part 3: baselines that do the same integrity work as the clip
// protocol, in the same run as the raw ones.
const (
	targetFetchEqualRatio      = 0.9 // Fetch vs HTTPS whose receiver SHA-256s every byte
	targetFetchStoreEqualRatio = 0.6 // FetchAndStore vs the same plus a file write and fsync
	targetImportEqualRatio     = 0.6 // ImportFile vs read + 2 SHA-256 passes + write(2) + fsync
	targetImportCPURatio       = 1.5 // CPU-seconds per GiB, ImportFile vs that baseline
	targetOneCoreMiBps         = 112 // a gigabit home LAN, with one core per side
)

// processCPU is the CPU time (user + system) this process has used, from
// getrusage(RUSAGE_SELF): every thread, both nodes of the bench.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sha256Writer hashes what it is given and counts it: the receiver of an
// HTTPS download that checks every byte, as Fetch checks every chunk.
type sha256Writer struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func newSHA256Writer() *sha256Writer { return &sha256Writer{h: sha256.New()} }

func (w *sha256Writer) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

// getHashed downloads the file over HTTPS and SHA-256s every byte.
func (h *httpsServer) getHashed(ctx context.Context, want int64) error {
	w := newSHA256Writer()
	if err := h.get(ctx, w); err != nil {
		return err
	}
	if w.n != want {
		return fmt.Errorf("https+sha256: got %d of %d bytes", w.n, want)
	}
	_ = w.h.Sum(nil)
	return nil
}

// getHashedToFile downloads the file over HTTPS, SHA-256s every byte,
// writes it to path and fsyncs it: what FetchAndStore does, without the
// chunking or Badger.
func (h *httpsServer) getHashedToFile(ctx context.Context, path string, want int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	w := newSHA256Writer()
	if err := h.get(ctx, io.MultiWriter(w, f)); err != nil {
		f.Close()
		return err
	}
	if w.n != want {
		f.Close()
		return fmt.Errorf("https+sha256+file: got %d of %d bytes", w.n, want)
	}
	_ = w.h.Sum(nil)
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// hashCopyFiles is the import's equal-work baseline: each file read once in
// chunks of chunkSize, every chunk SHA-256'd on its own and fed to a
// whole-file SHA-256 (two passes of SHA-256 over every byte, as ImportFile
// hashes each chunk and the file), written to a new file in dir with
// write(2), then fsync and close. One goroutine, no pipeline.
func hashCopyFiles(files []string, dir string, chunkSize int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	buf := make([]byte, chunkSize)
	for _, src := range files {
		if err := hashCopyFile(src, filepath.Join(dir, filepath.Base(src)), buf); err != nil {
			return err
		}
	}
	return nil
}

func hashCopyFile(src, dst string, buf []byte) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	whole := sha256.New()
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			c := buf[:n]
			_ = sha256.Sum256(c)
			whole.Write(c)
			if _, err := out.Write(c); err != nil { // write(2): *os.File has no buffering
				out.Close()
				return err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			out.Close()
			return rerr
		}
	}
	_ = whole.Sum(nil)
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
