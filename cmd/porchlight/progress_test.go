package main

import "testing"

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
