package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The import's equal-work baseline writes exactly the bytes it read, also
// when a file is not a whole number of chunks.
func TestHashCopyFilesCopiesExactly(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i, size := range []int64{0, 1, 4096, 3<<20 + 17} {
		f := filepath.Join(dir, "src", string(rune('a'+i)))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := writeRandomFile(f, size, uint64(i)); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	out := filepath.Join(dir, "out")
	if err := hashCopyFiles(files, out, 1<<20); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: copied %d bytes that differ from the %d read", filepath.Base(f), len(got), len(want))
		}
	}
}

// The SHA-256 receiver counts every byte it hashes.
func TestSHA256WriterCounts(t *testing.T) {
	w := newSHA256Writer()
	for _, n := range []int{0, 1, 1 << 20} {
		if _, err := w.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	if w.n != 1<<20+1 {
		t.Errorf("counted %d bytes, want %d", w.n, 1<<20+1)
	}
}
