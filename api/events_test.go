package api_test

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// notShownByUI are the events the web UI does not listen for, and why.
var notShownByUI = map[string]string{
	"fetch": "a fetch's progress is for the client that started it (the CLI's progress bar); the UI's evidence screen polls",
}

// TestUIListensToEveryPublishedEvent checks that the web UI listens for
// every event the node publishes (or notShownByUI says why not), and that
// every event it listens for is published: a name in package events that
// code outside the clients (cmd, internal, bench, lab) refers to.
func TestUIListensToEveryPublishedEvent(t *testing.T) {
	names := eventNames(t)          // constant name -> event type
	published := publishedEvents(t) // constant names referred to
	js, err := os.ReadFile("ui/app.js")
	if err != nil {
		t.Fatal(err)
	}
	listened := uiListeners(t, string(js))

	for c, typ := range names {
		_, exempt := notShownByUI[typ]
		switch {
		case !published[c]:
			t.Errorf("event %q (events.%s) is published nowhere: publish it, or drop it from package events and the UI", typ, c)
		case !listened[typ] && !exempt:
			t.Errorf("event %q is published but the web UI does not listen for it: add it to connectEvents in ui/app.js, or to notShownByUI with the reason", typ)
		case listened[typ] && exempt:
			t.Errorf("event %q is in notShownByUI but the web UI listens for it", typ)
		}
	}
	types := map[string]bool{}
	for _, typ := range names {
		types[typ] = true
	}
	for typ := range listened {
		if !types[typ] {
			t.Errorf("the web UI listens for %q, which is no event of package events", typ)
		}
	}
	for typ := range notShownByUI {
		if !types[typ] {
			t.Errorf("notShownByUI names %q, which is no event of package events", typ)
		}
	}
}

// eventNames reads the constants of package events.
func eventNames(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(gotoken.NewFileSet(), "../events/events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != gotoken.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != gotoken.STRING {
					t.Fatalf("events.%s is not a string literal", n.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				out[n.Name] = v
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no constants in package events")
	}
	return out
}

// publishedEvents is the set of events.X constants that the module's
// non-test code refers to, outside package events itself and the clients.
func publishedEvents(t *testing.T) map[string]bool {
	t.Helper()
	const path = "github.com/porchlight-mesh/porchlight/events"
	skip := []string{"cmd", "internal", "bench", "lab", "events", "testdata"}
	out := map[string]bool{}
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != ".." && (strings.HasPrefix(d.Name(), ".") || slices.Contains(skip, d.Name()) && filepath.Dir(p) == "..") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(gotoken.NewFileSet(), p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		local := ""
		for _, im := range f.Imports {
			if v, _ := strconv.Unquote(im.Path.Value); v == path {
				local = "events"
				if im.Name != nil {
					local = im.Name.Name
				}
			}
		}
		if local == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == local {
					out[sel.Sel.Name] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// uiListeners is the set of event types connectEvents in app.js listens for.
func uiListeners(t *testing.T, js string) map[string]bool {
	t.Helper()
	i := strings.Index(js, "function connectEvents(")
	if i < 0 {
		t.Fatal("ui/app.js has no connectEvents")
	}
	body := js[i:]
	if j := strings.Index(body, "\n}\n"); j >= 0 {
		body = body[:j]
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`\[([^\]]*)\]\.forEach\(\s*(\w+)\s*=>\s*es\.addEventListener\(\s*(\w+)`).FindAllStringSubmatch(body, -1) {
		for _, s := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(m[1], -1) {
			out[s[1]] = true
		}
	}
	for _, m := range regexp.MustCompile(`es\.addEventListener\(\s*"([^"]+)"`).FindAllStringSubmatch(body, -1) {
		out[m[1]] = true
	}
	if len(out) == 0 {
		t.Fatal("found no event listeners in connectEvents")
	}
	return out
}
