package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/client"
)

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestWatchOutputs: an event's line in text and JSON, and a reader that went
// away (a write error) ends the watch instead of looking like a lost node.
func TestWatchOutputs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": porchlight events\n\nevent: request\ndata: {\"id\":\"ab12\",\"author\":\"12D3\",\"covers_home\":true}\n\n")
	}))
	defer srv.Close()
	cl, err := client.New(client.Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		json bool
		want string
	}{
		{false, "  request    author=12D3 covers_home=true id=ab12\n"},
		{true, `"type":"request","data":{"id":"ab12","author":"12D3","covers_home":true}}` + "\n"},
	} {
		st, err := cl.Events(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		err = printEvents(st, c.json, &out)
		st.Close()
		if err == nil || !strings.HasSuffix(out.String(), c.want) || strings.Count(out.String(), "\n") != 1 {
			t.Errorf("json %v: printed %q (%v), want a line ending %q", c.json, out.String(), err, c.want)
		}
		var we writeError
		if errors.As(err, &we) {
			t.Errorf("json %v: the stream's end taken for a write error: %v", c.json, err)
		}
		st, err = cl.Events(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		err = printEvents(st, c.json, failingWriter{})
		st.Close()
		if !errors.As(err, &we) {
			t.Errorf("json %v: a failed write gave %v, want a writeError", c.json, err)
		}
	}
}
