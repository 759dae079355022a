package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

func TestProgressBar(t *testing.T) {
	cases := []struct {
		done, total int64
		want        string
	}{
		{0, 4 << 20, "\r[..........]   0%  0.0 / 4.0 MiB"},
		{1 << 20, 4 << 20, "\r[##........]  25%  1.0 / 4.0 MiB"},
		{4 << 20, 4 << 20, "\r[##########] 100%  4.0 / 4.0 MiB"},
	}
	for _, c := range cases {
		if got := progressBar(c.done, c.total, 10); got != c.want {
			t.Errorf("progressBar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}

func TestProgressReader(t *testing.T) {
	src := bytes.Repeat([]byte("x"), 3<<20)
	var bar bytes.Buffer
	p := &progressReader{r: bytes.NewReader(src), w: &bar, total: int64(len(src))}
	got, err := io.ReadAll(p)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if !strings.HasSuffix(bar.String(), "\r[##############################] 100%  3.0 / 3.0 MiB") {
		t.Errorf("bar ends %q", bar.String()[max(0, bar.Len()-80):])
	}

	// Not a terminal: the reader is returned as is, and nothing is drawn.
	f, err := os.CreateTemp(t.TempDir(), "not-a-terminal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bytes.NewReader(src)
	if w, finish := withProgress(r, int64(len(src)), f); w != io.Reader(r) {
		t.Error("withProgress wrapped a reader for a file that is not a terminal")
	} else {
		finish()
	}
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Errorf("%d bytes drawn on a non-terminal", fi.Size())
	}
}
