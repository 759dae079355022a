package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/client"
)

// watchRetry bounds the wait between attempts to reach the node again.
const watchRetry = 5 * time.Second

func newWatchCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "watch",
		Short: "Print the node's events as they happen, one line each (Ctrl-C stops)",
		Long: `Print the node's live events (GET /api/v1/events: posts, requests, shares,
clip fetches, ...; the types are listed in docs/protocol.md, "Local API events"),
one line per event: the time, the type and the event's fields. With --json,
one JSON object per line: {"time", "type", "data"}, for scripts.

When the node stops or restarts, watch says so on stderr and reconnects by
itself (events in between are missed: re-read the lists). Ctrl-C ends it.`,
		Example: `  porchlight watch
  porchlight watch --json | jq -c 'select(.type == "request" and .data.covers_home)'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return watch(ctx, g, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	addJSONFlag(c, g)
	return c
}

// watch prints events until ctx ends. The first connection must succeed
// (so that a wrong data directory is an error); after that, a lost stream
// is reopened, with the node's address read again (a restarted node may
// listen on another port).
func watch(ctx context.Context, g *globals, out, errw io.Writer) error {
	st, err := openEvents(ctx, g)
	if err != nil {
		return err
	}
	for {
		err := printEvents(st, g.jsonOut, out)
		st.Close()
		if ctx.Err() != nil {
			return nil
		}
		var we writeError
		if errors.As(err, &we) {
			return we.error // the reader went away: nothing to reconnect for
		}
		fmt.Fprintf(errw, "porchlight: lost the node's events (%v); reconnecting\n", reason(err))
		wait := 250 * time.Millisecond
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			if st, err = openEvents(ctx, g); err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			wait = min(2*wait, watchRetry)
		}
		fmt.Fprintln(errw, "porchlight: reconnected; events from while the node was away are not shown")
	}
}

func reason(err error) string {
	if errors.Is(err, io.EOF) {
		return "the node closed the stream"
	}
	return err.Error()
}

func openEvents(ctx context.Context, g *globals) (*client.EventStream, error) {
	cl, err := g.client()
	if err != nil {
		return nil, err
	}
	return cl.Events(ctx)
}

// writeError is a failure to write an event out, as opposed to reading it.
type writeError struct{ error }

// printEvents prints the stream's events until it ends, and returns why.
func printEvents(st *client.EventStream, asJSON bool, out io.Writer) error {
	for {
		ev, err := st.Next()
		if err != nil {
			return err
		}
		now := time.Now()
		if asJSON {
			data := ev.Data
			if !json.Valid(data) {
				data, _ = json.Marshal(string(ev.Data))
			}
			line, err := json.Marshal(struct {
				Time time.Time       `json:"time"`
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}{now.UTC(), ev.Type, data})
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(out, "%s\n", line); err != nil {
				return writeError{err}
			}
			continue
		}
		if _, err := fmt.Fprintf(out, "%s  %-10s %s\n", now.Format("15:04:05"), ev.Type, eventFields(ev.Data)); err != nil {
			return writeError{err}
		}
	}
}

// eventFields renders an event's JSON object as key=value pairs, sorted by
// key; anything else as it came.
func eventFields(data json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return string(data)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		v := m[k]
		var s string
		if json.Unmarshal(v, &s) == nil && s != "" && !strings.ContainsAny(s, " \t\n\"=") {
			fmt.Fprintf(&b, "%s=%s", k, s)
		} else {
			fmt.Fprintf(&b, "%s=%s", k, bytes.TrimSpace(v))
		}
	}
	return b.String()
}
