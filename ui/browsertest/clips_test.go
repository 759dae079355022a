package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/internal/sampleclips"
)

// monthClip is one clip of homeMonth.
type monthClip struct {
	id     string
	camera string
	start  time.Time
}

// homeMonth imports a home's month of clips: days×perDay small playable
// clips (variants of the small sample clips), spread evenly back from
// now, cameras in turn. Two importers run at once.
func homeMonth(t *testing.T, n *testNode, days, perDay int, now time.Time, cameras []string) []monthClip {
	t.Helper()
	total := days * perDay
	gap := 24 * time.Hour / time.Duration(perDay)
	out := make([]monthClip, total)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += 2 {
				b, err := sampleclips.Variant(sampleclips.Small[i%len(sampleclips.Small)], uint64(i))
				if err != nil {
					errs <- err
					return
				}
				start := now.Add(-time.Minute - time.Duration(i)*gap).Truncate(time.Second)
				c := cameras[i%len(cameras)]
				m, err := n.Clips().Import(context.Background(), bytes.NewReader(b), clips.ImportMeta{
					Camera: c, Start: start, End: start.Add(8 * time.Second), MediaType: sampleclips.MediaType})
				if err != nil {
					errs <- err
					return
				}
				out[i] = monthClip{m.ClipID().String(), c, start}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClipsAtHomeVolume: a home with 30 days of clips from three cameras
// (1,500) opens My clips with its first page on screen within a second
// of navigating, each clip with a preview frame the browser decoded;
// filters by camera and day; pages on; and in the share flow picks two
// clips through the same filters, watches one inline, sees both play in
// the confirmation, and shares exactly those two.
func TestClipsAtHomeVolume(t *testing.T) {
	b := browser(t)
	s := newAgencySetup(t, 0)
	home := s.home
	cameras := []string{"front-door", "driveway", "back-yard"}
	now := time.Now()
	began := time.Now()
	month := homeMonth(t, home, 30, 50, now, cameras)
	t.Logf("imported %d clips in %v", len(month), time.Since(began).Round(time.Millisecond))

	// A request whose window holds a few of them.
	var created map[string]string
	s.agency.call(t, "POST", "/api/v1/requests", api.NewRequestJSON{Case: "2026-1207", Incident: "Car break-in", Contact: "desk",
		Area: "circle:40.7140,-74.0055,300", From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour)}, &created)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var reqs []api.RequestJSON
		home.call(t, "GET", "/api/v1/requests", nil, &reqs)
		if len(reqs) == 1 && reqs[0].CoversHome {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request did not reach the home")
		}
		time.Sleep(50 * time.Millisecond)
	}

	ctx := tab(t, b)
	home.login(t, ctx)

	// The first page, from a fresh navigation (a new document, so that the
	// page's clock starts at the navigation).
	step(t, ctx, "my clips, freshly loaded", chromedp.Navigate(home.base()+"/?fresh#clips"))
	waitJS(t, ctx, "the first page", "performance.getEntriesByName('clips-first-page').length === 1", 15*time.Second)
	firstPage := eval[float64](t, ctx, "performance.getEntriesByName('clips-first-page')[0].startTime")
	shownN := eval[int](t, ctx, "document.querySelectorAll('#clips .clip').length")
	t.Logf("first page of %d clips rendered %.0f ms after navigation; on the way (ms, start-end): %s", shownN, firstPage,
		eval[string](t, ctx, `[['DOMContentLoaded', 0, performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd],
			...performance.getEntriesByType('resource').map(r => [r.name.replace(location.origin, ''), r.startTime, r.responseEnd])]
			.map(([n, a, b]) => n.slice(0, 40) + ' ' + Math.round(a) + '-' + Math.round(b)).join(', ')`))
	if shownN != clips.DefaultPageSize {
		t.Fatalf("first page shows %d clips, want %d", shownN, clips.DefaultPageSize)
	}
	if firstPage > 1000 {
		t.Errorf("first page rendered %.0f ms after navigation, want at most 1000", firstPage)
	}
	if got := eval[string](t, ctx, "document.querySelector('#clips .clip').dataset.id"); got != month[0].id {
		t.Errorf("first card is clip %s, want the newest %s", got, month[0].id)
	}
	// Grouped by day, then camera.
	if n := eval[int](t, ctx, "document.querySelectorAll('#clips .clip-day').length"); n < 1 || n > 2 {
		t.Errorf("the first 50 clips (a day's worth) fall in %d day groups", n)
	}
	if n := eval[int](t, ctx, "document.querySelectorAll('#clips .clip-day:first-child .clip-camera').length"); n != 3 {
		t.Errorf("the first day has %d camera groups, want 3", n)
	}

	// Preview frames: decoded by the browser, drawn on each card's canvas.
	waitJS(t, ctx, "preview frames", "document.querySelectorAll('#clips canvas.preview[data-preview=shown]').length >= 4", 30*time.Second)
	if !eval[bool](t, ctx, `(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		const seen = new Set(); for (let i = 0; i < d.length; i += 97 * 4) seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]); return seen.size > 3; })(document.querySelector('#clips canvas.preview[data-preview=shown]'))`) {
		t.Error("a preview shown is blank: no frame was drawn")
	}
	labelled(t, ctx, "clips-month")
	shot(t, ctx, "clips-month")

	// Filter by camera, then page on.
	eval[bool](t, ctx, "(s => { s.value = 'driveway'; s.dispatchEvent(new Event('change')); return true; })(document.getElementById('clips-camera'))")
	waitJS(t, ctx, "driveway clips only", "document.querySelectorAll('#clips .clip').length === 50 && [...document.querySelectorAll('#clips .clip-camera')].every(e => e.dataset.camera === 'driveway')", 10*time.Second)
	step(t, ctx, "older clips", chromedp.Click(chromedp.CSS("#main button.more")))
	waitJS(t, ctx, "a second page of driveway clips", "document.querySelectorAll('#clips .clip').length === 100 && [...document.querySelectorAll('#clips .clip-camera')].every(e => e.dataset.camera === 'driveway')", 10*time.Second)
	var wantDrive []string
	for _, c := range month {
		if c.camera == "driveway" && len(wantDrive) < 100 {
			wantDrive = append(wantDrive, c.id)
		}
	}
	if got := eval[[]string](t, ctx, "[...document.querySelectorAll('#clips .clip')].map(e => e.dataset.id)"); !slices.Equal(got, wantDrive) {
		t.Errorf("two pages of driveway clips are not its 100 newest, in order")
	}

	// And by day: three days ago, in the browser's time zone.
	dayOf := func(back int) (value string, from, to time.Time) {
		v := eval[[]float64](t, ctx, fmt.Sprintf(`(d => { const a = new Date(d.getFullYear(), d.getMonth(), d.getDate() - %d);
			const b = new Date(a.getFullYear(), a.getMonth(), a.getDate() + 1); return [a.getFullYear(), a.getMonth() + 1, a.getDate(), a.getTime(), b.getTime()]; })(new Date())`, back))
		return fmt.Sprintf("%04d-%02d-%02d", int(v[0]), int(v[1]), int(v[2])), time.UnixMilli(int64(v[3])), time.UnixMilli(int64(v[4]))
	}
	day, from, to := dayOf(3)
	want := 0
	for _, c := range month {
		if c.camera == "driveway" && !c.start.Before(from) && c.start.Before(to) {
			want++
		}
	}
	eval[bool](t, ctx, fmt.Sprintf("(i => { i.value = %q; i.dispatchEvent(new Event('change')); return true; })(document.getElementById('clips-day'))", day))
	waitJS(t, ctx, "that day's driveway clips", fmt.Sprintf(`document.querySelectorAll('#clips .clip').length === %d && document.querySelectorAll('#clips .clip-day').length === 1 &&
		document.querySelector('#clips .clip-day').dataset.day === %q && [...document.querySelectorAll('#clips .clip-camera')].every(e => e.dataset.camera === 'driveway')`, want, day), 10*time.Second)
	if eval[bool](t, ctx, "!document.querySelector('#main button.more').hidden") {
		t.Error("a day of one camera (under a page) offers older clips")
	}
	waitJS(t, ctx, "previews of the filtered clips", "document.querySelectorAll('#clips canvas.preview[data-preview=shown]').length >= 2", 30*time.Second)
	labelled(t, ctx, "clips-filtered")

	// Share: nothing of the window, two back-yard clips of five days ago.
	step(t, ctx, "the share flow", chromedp.Navigate(home.base()+"/#share/"+created["id"]))
	waitJS(t, ctx, "the share screen", "document.querySelector('main').dataset.screen === 'share' && document.querySelectorAll('#share-window input[name=clip]').length > 0 && document.querySelectorAll('#share-clips .clip').length >= 40", 15*time.Second)
	inWindow := eval[int](t, ctx, "document.querySelectorAll('#share-window input[name=clip]:checked').length")
	if inWindow < 3 || inWindow > 5 {
		t.Errorf("%d clips of the 2-hour window preselected, want about 4", inWindow)
	}
	eval[bool](t, ctx, "([...document.querySelectorAll('#share-window input[name=clip]:checked')].forEach(b => b.click()), true)")
	day5, from5, to5 := dayOf(5)
	eval[bool](t, ctx, "(s => { s.value = 'back-yard'; s.dispatchEvent(new Event('change')); return true; })(document.getElementById('share-camera'))")
	eval[bool](t, ctx, fmt.Sprintf("(i => { i.value = %q; i.dispatchEvent(new Event('change')); return true; })(document.getElementById('share-day'))", day5))
	var yard []string
	for _, c := range month {
		if c.camera == "back-yard" && !c.start.Before(from5) && c.start.Before(to5) {
			yard = append(yard, c.id)
		}
	}
	waitJS(t, ctx, "that day's back-yard clips", fmt.Sprintf("document.querySelectorAll('#share-clips .clip').length === %d && document.querySelector('#share-clips .clip-day').dataset.day === %q", len(yard), day5), 10*time.Second)
	picked := yard[1:3]
	for _, id := range picked {
		eval[bool](t, ctx, fmt.Sprintf("(document.querySelector('#share-clips .clip[data-id=%q] input[name=clip]').click(), true)", id))
	}
	if got := eval[string](t, ctx, "document.getElementById('share-count').textContent"); got != "2 clips chosen." {
		t.Errorf("chosen: %q", got)
	}
	// A candidate plays inline before anything is confirmed.
	step(t, ctx, "watch a candidate", chromedp.Click(chromedp.CSS(fmt.Sprintf("#share-clips .clip[data-id=%q] button.play-inline", picked[0]))))
	waitJS(t, ctx, "the candidate playing in its card", fmt.Sprintf("(v => v && v.currentTime > 0)(document.querySelector('#share-clips .clip[data-id=%q] video'))", picked[0]), 15*time.Second)

	step(t, ctx, "review", chromedp.Click(chromedp.ID("share-review")))
	waitJS(t, ctx, "the confirmation with a player per clip", "document.getElementById('share-confirm') && document.querySelectorAll('#share-list li video').length === 2", 5*time.Second)
	listed := eval[[]string](t, ctx, "[...document.querySelectorAll('#share-list li')].map(li => li.dataset.id)")
	if !sameSet(listed, picked) {
		t.Fatalf("the confirmation lists %v, want %v", listed, picked)
	}
	eval[bool](t, ctx, "(document.querySelectorAll('#share-list video')[1].play(), true)")
	waitJS(t, ctx, "a clip to be shared playing in the confirmation", "document.querySelectorAll('#share-list video')[1].currentTime > 0", 15*time.Second)
	var grants []api.GrantJSON
	home.call(t, "GET", "/api/v1/grants", nil, &grants)
	if len(grants) != 0 {
		t.Fatal("a grant was made before the confirmation")
	}
	labelled(t, ctx, "share-month")
	shot(t, ctx, "share-month")
	step(t, ctx, "confirm", chromedp.Click(chromedp.ID("share-confirm")))
	waitJS(t, ctx, "the share done", `document.querySelector('main .notice') && document.querySelector('main .notice').textContent.includes('Springfield PD')`, 20*time.Second)
	home.call(t, "GET", "/api/v1/grants", nil, &grants)
	if len(grants) != 1 || !sameSet(grants[0].Clips, picked) || grants[0].Grantee != s.agency.ID().String() {
		t.Fatalf("grants after the share = %+v, want one to the agency naming exactly %v", grants, picked)
	}
	home.noToken(t, ctx)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
