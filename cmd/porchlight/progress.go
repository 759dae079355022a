package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/porchlight-mesh/porchlight/client"
)

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// fetchProgress draws a progress bar on w for the node's "fetch" events of
// clip until ctx ends. It is only used when w is a terminal.
func fetchProgress(ctx context.Context, cl *client.Client, clip string, w io.Writer) {
	events, err := cl.Events(ctx)
	if err != nil {
		return
	}
	defer events.Close()
	for {
		ev, err := events.Next()
		if err != nil {
			return
		}
		if ev.Type != "fetch" {
			continue
		}
		var p struct {
			Clip        string
			Done, Total int64
		}
		if json.Unmarshal(ev.Data, &p) != nil || p.Clip != clip || p.Total <= 0 {
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

// barDrawer draws a transfer's progress bar on w, at most every 100 ms
// and once at the end.
type barDrawer struct {
	w     io.Writer
	last  time.Time
	drawn bool
}

func (b *barDrawer) progress(done, total int64) {
	if total <= 0 {
		return
	}
	if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond || done >= total {
		b.last, b.drawn = now, true
		fmt.Fprint(b.w, progressBar(min(done, total), total, 30))
	}
}

// progressOn is a client.Progress that draws a bar on term when term is a
// terminal; otherwise it is nil and nothing is drawn. Call finish when the
// transfer is done.
func progressOn(term *os.File) (fn client.Progress, finish func()) {
	if !isTerminal(term) {
		return nil, func() {}
	}
	b := &barDrawer{w: term}
	return b.progress, func() {
		if b.drawn {
			fmt.Fprintln(term)
		}
	}
}
