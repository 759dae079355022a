package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/porchlight-mesh/porchlight/transparency/transparencytest"
)

// TestTransparencyPage: on a home holding an agency's known history (two
// requests in January 2026, none in February, one in March, three in
// April; closed: one of January's, March's, two of April's), the
// Transparency page draws each chart with the right number of bars (one
// per month; two per month for yield, clips and homes per request; none
// for a month without a closed request in time to close), each with an
// accessible name and description and a table view; --since narrows it;
// and the CSV its download link saves is byte for byte what `porchlight
// transparency --format csv` prints.
func TestTransparencyPage(t *testing.T) {
	b := browser(t)
	h, err := transparencytest.New("Springfield PD", "maple-st", time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	at := func(m time.Month, d, hh int) time.Time { return time.Date(2026, m, d, hh, 0, 0, 0, time.UTC) }
	req := func(created time.Time, closeAfter time.Duration) {
		t.Helper()
		r, err := h.Request(created, 2*time.Hour, 300, "C-"+created.Format("0102"))
		if err != nil {
			t.Fatal(err)
		}
		if closeAfter > 0 {
			if _, err := h.Close(r, created.Add(closeAfter), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	req(at(time.January, 10, 18), 90*time.Minute)
	req(at(time.January, 20, 9), 0)
	req(at(time.March, 2, 8), 3*time.Hour)
	req(at(time.April, 2, 8), time.Hour)
	req(at(time.April, 2, 12), 3*time.Hour)
	req(at(time.April, 30, 23), 0)

	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060", trusted: []string{h.Issuer.String()}})
	if err := transparencytest.Load(n.Requests(), n.Store(), h); err != nil {
		t.Fatal(err)
	}
	ctx := tab(t, b)
	n.login(t, ctx)
	step(t, ctx, "the transparency page", chromedp.Navigate(n.base()+"/#transparency"))
	waitJS(t, ctx, "the transparency page with Springfield PD", `document.querySelector('main').dataset.screen === 'transparency' && document.querySelector('.tr-agency h2') && document.querySelector('.tr-agency h2').textContent === 'Springfield PD'`, 15*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('nav a[aria-current="page"]').getAttribute('href')`); got != "#transparency" {
		t.Errorf("the nav marks %q as current", got)
	}

	bars := func(chart string) int {
		return eval[int](t, ctx, `document.querySelectorAll('svg[data-chart="tr-0-`+chart+`"] rect.bar').length`)
	}
	for _, c := range []struct {
		chart string
		bars  int
	}{{"requests", 4}, {"area", 4}, {"yield", 8}, {"close", 3}} {
		if got := bars(c.chart); got != c.bars {
			t.Errorf("chart %s has %d bars, want %d", c.chart, got, c.bars)
		}
		// Named and described for a screen reader, and a table with a row per month.
		named := eval[string](t, ctx, `(() => { const svg = document.querySelector('svg[data-chart="tr-0-`+c.chart+`"]');
		  return svg.getAttribute('role') + '|' + svg.getAttribute('aria-labelledby').split(' ').map(id => document.getElementById(id).textContent).join('|'); })()`)
		if parts := strings.Split(named, "|"); len(parts) != 3 || parts[0] != "img" || parts[1] == "" || !strings.Contains(parts[2], "Springfield PD") || !strings.Contains(parts[2], "2026-01 to 2026-04") {
			t.Errorf("chart %s: role, title and description %q", c.chart, named)
		}
		if rows := eval[int](t, ctx, `document.querySelectorAll('table[data-table="tr-0-`+c.chart+`"] tbody tr').length`); rows != 4 {
			t.Errorf("chart %s: table view has %d rows, want 4", c.chart, rows)
		}
	}
	// The requests bars carry the monthly counts, February's zero included.
	if got := eval[string](t, ctx, `[...document.querySelectorAll('svg[data-chart="tr-0-requests"] rect.bar')].map(r => r.dataset.label + '=' + r.dataset.value).join(' ')`); got != "2026-01=2 2026-02=0 2026-03=1 2026-04=3" {
		t.Errorf("requests bars: %s", got)
	}
	if got := eval[string](t, ctx, `[...document.querySelectorAll('svg[data-chart="tr-0-close"] rect.bar')].map(r => r.dataset.label + '=' + r.dataset.value).join(' ')`); got != "2026-01=1.5 2026-03=3 2026-04=2" {
		t.Errorf("time-to-close bars: %s", got)
	}
	if got := eval[string](t, ctx, `document.getElementById('tr-issuers').textContent`); !strings.Contains(got, h.Issuer.String()) || !strings.Contains(got, "Certified 1: Springfield PD") {
		t.Errorf("issuers section: %q", got)
	}
	labelled(t, ctx, "transparency")
	shot(t, ctx, "transparency")

	// The CSV, downloaded by clicking the page's link, equals the CLI's.
	dl := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID, DownloadPath: dl,
	}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	if href := eval[string](t, ctx, `document.getElementById('tr-csv').getAttribute('href')`); href != "/api/v1/transparency?format=csv" {
		t.Errorf("CSV link %q", href)
	}
	step(t, ctx, "download the CSV", chromedp.Click(chromedp.ID("tr-csv")))
	saved := filepath.Join(dl, "porchlight-transparency.csv")
	var got []byte
	for deadline := time.Now().Add(15 * time.Second); ; {
		if got, err = os.ReadFile(saved); err == nil && len(got) > 0 {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dl)
			t.Fatalf("no CSV downloaded to %s within 15 s (%v; found %v)", dl, err, entries)
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := cliCSV(t, n.dir)
	if !bytes.Equal(got, want) {
		t.Errorf("the UI's CSV differs from the CLI's:\n%q\nCLI:\n%q", got, want)
	}
	if lines := strings.Count(string(got), "\r\n"); lines != 5 {
		t.Errorf("the CSV has %d lines, want a header and 4 months", lines)
	}

	// Since March: two months, and the link follows.
	eval[bool](t, ctx, `(() => { const el = document.getElementById('tr-since'); el.value = '2026-03'; el.dispatchEvent(new Event('change')); return true; })()`)
	waitJS(t, ctx, "two months since March", `document.querySelectorAll('svg[data-chart="tr-0-requests"] rect.bar').length === 2`, 10*time.Second)
	if href := eval[string](t, ctx, `document.getElementById('tr-csv').getAttribute('href')`); href != "/api/v1/transparency?since=2026-03&format=csv" {
		t.Errorf("CSV link after choosing a month: %q", href)
	}

	// On a phone-sized window nothing runs off the side.
	step(t, ctx, "a phone-sized window", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	waitJS(t, ctx, "the page fitting 390 px", "document.documentElement.scrollWidth <= 391", 5*time.Second)
	n.noToken(t, ctx)
}

// cliCSV builds the porchlight binary and runs `porchlight --data DIR
// transparency --format csv` against the running node.
func cliCSV(t *testing.T, dir string) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "porchlight")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/porchlight-mesh/porchlight/cmd/porchlight").CombinedOutput(); err != nil {
		t.Fatalf("build porchlight: %v\n%s", err, out)
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--data", dir, "transparency", "--format", "csv")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("porchlight transparency --format csv: %v\n%s", err, errb.String())
	}
	return out.Bytes()
}
