package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// fetchProgress draws a progress bar on w for the node's "fetch" events of
// clip until ctx ends. It is only used when w is a terminal.
func fetchProgress(ctx context.Context, cl *client, clip string, w io.Writer) {
	req, err := http.NewRequestWithContext(ctx, "GET", cl.base+"/api/v1/events", nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+cl.token)
	resp, err := cl.stream.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || event != "fetch" {
			continue
		}
		var p struct {
			Clip        string
			Done, Total int64
		}
		if json.Unmarshal([]byte(data), &p) != nil || p.Clip != clip || p.Total <= 0 {
			continue
		}
		fmt.Fprint(w, progressBar(p.Done, p.Total, 30))
	}
}

// progressBar renders "\r[#####.....]  45%  12.3 / 27.0 MiB".
func progressBar(done, total int64, width int) string {
	n := int(done * int64(width) / total)
	return fmt.Sprintf("\r[%s%s] %3d%%  %.1f / %.1f MiB", strings.Repeat("#", n), strings.Repeat(".", width-n),
		done*100/total, float64(done)/(1<<20), float64(total)/(1<<20))
}

// progressReader draws a progress bar on w as r is read, at most every
// 100 ms and once at the end.
type progressReader struct {
	r           io.Reader
	w           io.Writer
	done, total int64
	last        time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || p.done >= p.total {
		p.last = now
		fmt.Fprint(p.w, progressBar(min(p.done, p.total), p.total, 30))
	}
	return n, err
}

// withProgress wraps r (of total bytes) so that reading it draws a progress
// bar on term, when term is a terminal; otherwise it returns r unchanged
// and stays quiet. Call finish when done.
func withProgress(r io.Reader, total int64, term *os.File) (wrapped io.Reader, finish func()) {
	if total <= 0 || !isTerminal(term) {
		return r, func() {}
	}
	p := &progressReader{r: r, w: term, total: total}
	return p, func() {
		if p.done > 0 {
			fmt.Fprintln(term)
		}
	}
}
