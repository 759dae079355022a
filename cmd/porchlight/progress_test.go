package main

import (
	"bytes"
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

// TestProgressDrawer: a transfer's bar ends at 100%, and nothing is drawn
// on a file that is not a terminal.
func TestProgressDrawer(t *testing.T) {
	var bar bytes.Buffer
	b := &barDrawer{w: &bar}
	const total = 3 << 20
	for done := int64(0); done <= total; done += 64 << 10 {
		b.progress(done, total)
	}
	if !strings.HasSuffix(bar.String(), "\r[##############################] 100%  3.0 / 3.0 MiB") {
		t.Errorf("bar ends %q", bar.String()[max(0, bar.Len()-80):])
	}
	if n := strings.Count(bar.String(), "\r"); n > 3 {
		t.Errorf("%d bars drawn for a transfer of a moment; want at most one per 100 ms and the last", n)
	}

	f, err := os.CreateTemp(t.TempDir(), "not-a-terminal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fn, finish := progressOn(f)
	if fn != nil {
		t.Error("progressOn gave a progress function for a file that is not a terminal")
	}
	finish()
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Errorf("%d bytes drawn on a non-terminal", fi.Size())
	}
}
