package demo_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/porchlight-mesh/porchlight/internal/demo"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestStoryInProcess runs the story in this process, asks for the login
// links, and checks that Close stops every node (goleak) and removes the
// data.
func TestStoryInProcess(t *testing.T) {
	var out bytes.Buffer
	d, err := demo.Run(context.Background(), demo.Config{Out: &out, Logger: quiet, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	links, err := d.LoginLinks(context.Background())
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	if len(links) != 3 || links[2].Name != "Springfield PD" || !strings.HasPrefix(links[0].URL, "http://127.0.0.1:") {
		t.Errorf("links = %+v", links)
	}
	root := d.Root()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Close (stat: %v)", root, err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestFailureNamesTheStep: a story that cannot go on returns a *StepError
// naming the step, having already cleaned up.
func TestFailureNamesTheStep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	d, err := demo.Run(ctx, demo.Config{Out: io.Discard, Logger: quiet, Dir: dir})
	var se *demo.StepError
	if d != nil || !errors.As(err, &se) || se.Step != "a home founds the street and invites its neighbors" || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context = %v, %v; want a StepError for the first step", d, err)
	}
	if !strings.Contains(err.Error(), `"a home founds the street and invites its neighbors"`) {
		t.Errorf("error %q does not name the step", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("a failed run left %d entries in %s", len(left), dir)
	}
}
