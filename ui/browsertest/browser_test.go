package browsertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/internal/sampleclips"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestLoginLinkAndReload: the one-time link opens the UI, a reload keeps
// the session (the HttpOnly cookie, invisible to the page), and the link
// does not work a second time.
func TestLoginLinkAndReload(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	ctx := tab(t, b)

	var link struct{ URL string }
	n.call(t, "POST", "/api/v1/login-links", struct{}{}, &link)
	step(t, ctx, "open the login link", chromedp.Navigate(link.URL))
	waitJS(t, ctx, "the feed screen", `document.getElementById('who').textContent.includes('12 Maple St') && document.querySelector('main').dataset.screen === 'feed'`, 10*time.Second)
	if loc := eval[string](t, ctx, "location.pathname + location.search"); loc != "/" {
		t.Fatalf("after the login link the page is %q, want / (the code must not stay in the address bar)", loc)
	}
	if c := eval[string](t, ctx, "document.cookie"); c != "" {
		t.Fatalf("the page can read cookies %q; the session cookie must be HttpOnly", c)
	}
	n.noToken(t, ctx)

	step(t, ctx, "reload", chromedp.Reload())
	waitJS(t, ctx, "the UI after a reload", `document.getElementById('who').textContent.includes('12 Maple St') && document.querySelector('main').dataset.screen === 'feed'`, 10*time.Second)
	if !eval[bool](t, ctx, "document.getElementById('banner').hidden") {
		t.Fatalf("after a reload the banner says %q", eval[string](t, ctx, "document.getElementById('banner').textContent"))
	}

	// The link was used up: a second browser opening it gets an error, not a session.
	other := tab(t, b)
	step(t, other, "reuse the login link", chromedp.Navigate(link.URL))
	if body := eval[string](t, other, "document.body.innerText"); !strings.Contains(body, "already used") {
		t.Fatalf("second use of the link shows %q", body)
	}
	step(t, other, "open the UI without a session", chromedp.Navigate(n.base()+"/"))
	if body := eval[string](t, other, "document.body.innerText"); !strings.Contains(body, "unauthorized") {
		t.Fatalf("the UI without a session shows %q", body)
	}
}

// TestLoginFromPrivatePage: the page `porchlight ui` writes (a local file
// that POSTs the one-time code) logs a real browser in: the UI opens at /
// with the session, survives a reload, and the page's code works once.
func TestLoginFromPrivatePage(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	ctx := tab(t, b)

	var link struct{ Login, Code string }
	n.call(t, "POST", "/api/v1/login-links", struct{}{}, &link)
	page := filepath.Join(t.TempDir(), "login.html")
	if err := os.WriteFile(page, []byte(api.LoginPage(link.Login, link.Code)), 0o600); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "open the login page", chromedp.Navigate("file://"+page))
	// The page posts the form and the answer moves on to /: two
	// navigations, during which an evaluation may find no page.
	waitAcrossNavigations(t, ctx, "the UI's origin", `location.protocol === 'http:' && location.pathname === '/'`, 15*time.Second)
	// The answer page's move to / can still be under way when the first
	// predicate holds on it: an evaluation then finds no page, which is
	// not a failure.
	waitAcrossNavigations(t, ctx, "the feed screen", `document.getElementById('who').textContent.includes('12 Maple St') && document.querySelector('main').dataset.screen === 'feed'`, 15*time.Second)
	if loc := eval[string](t, ctx, "location.pathname + location.search"); loc != "/" {
		t.Fatalf("after the login page the address is %q, want /", loc)
	}
	n.noToken(t, ctx)
	step(t, ctx, "reload", chromedp.Reload())
	waitJS(t, ctx, "the UI after a reload", `document.getElementById('who').textContent.includes('12 Maple St') && document.querySelector('main').dataset.screen === 'feed'`, 10*time.Second)

	other := tab(t, b)
	step(t, other, "reuse the login page", chromedp.Navigate("file://"+page))
	waitAcrossNavigations(t, other, "the refusal", `location.protocol === 'http:' && document.body.innerText.includes('already used')`, 10*time.Second)
}

// waitAcrossNavigations polls predicate until it holds, taking an
// evaluation that fails (the page is being replaced) as false.
func waitAcrossNavigations(t testing.TB, ctx context.Context, what, predicate string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool]("!!("+predicate+")"))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href + '\\n' + (document.body ? document.body.innerText : '')"))
	t.Fatalf("waiting for %s (%s): not within %v\n--- the page says:\n%s", what, predicate, timeout, page)
}

// TestPostReachesNeighborLive: a post made in node A's UI appears in node
// B's open UI through the mesh and the event stream, without a reload; the
// author can retract it from the UI, and B's UI drops it, live too.
func TestPostReachesNeighborLive(t *testing.T) {
	b := browser(t)
	a := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	bn := startNode(t, nodeOpts{name: "14 Maple St", location: "40.7150,-74.0062", peers: []string{a.addr()}})
	ta, tb := tab(t, b), tab(t, b)
	a.login(t, ta)
	bn.login(t, tb)
	eval[bool](t, tb, "window.notReloaded = true")

	text := fmt.Sprintf("Lost grey cat near the park (%d)", time.Now().UnixNano())
	step(t, ta, "write and post",
		chromedp.SetValue(chromedp.ID("post-kind"), "lost-found"),
		chromedp.SendKeys(chromedp.ID("post-text"), text),
		chromedp.Click(chromedp.ID("post-submit")),
	)
	has := fmt.Sprintf(`[...document.querySelectorAll('#feed .post')].some(li => li.textContent.includes(%s))`, js(text))
	waitJS(t, ta, "the post in A's own feed", has, 10*time.Second)
	waitJS(t, tb, "the post in B's feed", has, 15*time.Second)
	if !eval[bool](t, tb, "window.notReloaded === true") {
		t.Fatal("B's page was reloaded; the post must arrive live")
	}
	if got := eval[string](t, tb, `document.querySelector('#feed .post .meta').textContent`); !strings.Contains(got, "12 Maple St") || !strings.Contains(got, "lost-found") {
		t.Fatalf("B shows the post's author and kind as %q", got)
	}
	if eval[int](t, tb, `document.querySelectorAll('#feed .post button.danger').length`) != 0 {
		t.Fatal("B is offered to retract A's post")
	}
	labelled(t, tb, "feed")
	shot(t, tb, "feed")

	step(t, ta, "retract", chromedp.Click(chromedp.CSS("#feed .post button.danger")))
	waitJS(t, tb, "the retraction in B's feed", "!("+has+")", 15*time.Second)
}

// agencySetup is an issuer, an agency node with a credential, and a home
// inside its jurisdiction that trusts the issuer, with sample clips
// recorded two hours ago.
type agencySetup struct {
	agency, home *testNode
	clipIDs      []string
}

func newAgencySetup(t *testing.T, clipCount int) agencySetup {
	t.Helper()
	issuerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(issuerKey)
	trusted := []string{issuer.String()}
	ag := startNode(t, nodeOpts{name: "Springfield PD", location: "40.7128,-74.0060", trusted: trusted})
	home := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060", trusted: trusted, peers: []string{ag.addr()}})
	now := time.Now()
	jur, _ := requests.ParseArea("circle:40.7128,-74.0060,5000")
	cred, err := requests.Certify(issuerKey, ag.ID(), "Springfield PD", jur, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Mesh().PublishDoc(cred.Raw); err != nil {
		t.Fatal(err)
	}
	s := agencySetup{agency: ag, home: home}
	for i := 1; i <= clipCount; i++ {
		b, err := sampleclips.Clip(i)
		if err != nil {
			t.Fatal(err)
		}
		m, err := home.Clips().Import(context.Background(), bytes.NewReader(b), clips.ImportMeta{
			Camera: []string{"front-door", "driveway", "back-yard"}[i%3], Start: now.Add(-2*time.Hour + time.Duration(i)*time.Minute),
			End: now.Add(-2*time.Hour + time.Duration(i)*time.Minute + 8*time.Second), MediaType: sampleclips.MediaType})
		if err != nil {
			t.Fatal(err)
		}
		s.clipIDs = append(s.clipIDs, m.ClipID().String())
	}
	// The credential reached the home: the agency is known there.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ags []api.AgencyJSON
		home.call(t, "GET", "/api/v1/agencies", nil, &ags)
		var hs []api.AgencyJSON
		ag.call(t, "GET", "/api/v1/agencies", nil, &hs)
		if len(ags) == 1 && len(hs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the credential did not spread: home knows %d agencies, agency %d", len(ags), len(hs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// TestRequestShareEvidence walks the consent workflow through both UIs:
// the agency's form checks the rules before signing; the request appears
// on the covered home's open UI with its area drawn and the matching clip
// count; the home reviews exactly what goes to whom until when and
// confirms; the agency's UI lists the clips as verified evidence, plays
// one, and offers the bundle. With PORCHLIGHT_SCREENSHOTS set it saves a
// screenshot of each main screen.
func TestRequestShareEvidence(t *testing.T) {
	b := browser(t)
	s := newAgencySetup(t, 3)
	ta, th := tab(t, b), tab(t, b)
	s.agency.login(t, ta)
	s.home.login(t, th)
	step(t, th, "the home's requests screen", chromedp.Navigate(s.home.base()+"/#requests"))
	waitJS(t, th, "the requests screen", "document.querySelector('main').dataset.screen === 'requests'", 10*time.Second)
	eval[bool](t, th, "window.notReloaded = true")

	// The agency's form: limits shown; a too-small area is refused before submit.
	step(t, ta, "the new request form", chromedp.Navigate(s.agency.base()+"/#new-request"))
	waitJS(t, ta, "the rules", "document.getElementById('rq-limits') && document.getElementById('rq-limits').textContent.includes('0.025 to 0.5 square miles')", 10*time.Second)
	step(t, ta, "fill in the request",
		chromedp.SendKeys(chromedp.ID("rq-case"), "2026-1142"),
		chromedp.SendKeys(chromedp.ID("rq-incident"), "Package theft"),
		chromedp.SendKeys(chromedp.ID("rq-description"), "A parcel taken from a porch on Maple St, about 6 pm."),
		chromedp.SendKeys(chromedp.ID("rq-contact"), "Det. Ruiz, desk 555-0142"),
		chromedp.SetValue(chromedp.ID("rq-lat"), "40.7140"),
		chromedp.SetValue(chromedp.ID("rq-lon"), "-74.0055"),
		chromedp.SetValue(chromedp.ID("rq-radius"), ""),
		chromedp.SendKeys(chromedp.ID("rq-radius"), "40"),
	)
	waitJS(t, ta, "the area refused before submit", `document.getElementById('rq-problems') && document.getElementById('rq-problems').textContent.includes('must be 0.025 to 0.5 sq mi') && document.getElementById('rq-submit').disabled`, 5*time.Second)
	labelled(t, ta, "agency-new-request-refused")
	shot(t, ta, "agency-new-request-refused")
	step(t, ta, "a radius within the rules",
		chromedp.SetValue(chromedp.ID("rq-radius"), ""),
		chromedp.SendKeys(chromedp.ID("rq-radius"), "300"),
	)
	waitJS(t, ta, "the form accepting", `!document.getElementById('rq-problems') && !document.getElementById('rq-submit').disabled && document.querySelector('#rq-check .notice')`, 5*time.Second)
	labelled(t, ta, "agency-new-request")
	shot(t, ta, "agency-new-request")
	step(t, ta, "publish", chromedp.Click(chromedp.ID("rq-submit")))
	waitJS(t, ta, "the request published", `document.querySelector('#rq-result .notice') && document.querySelector('#rq-result .notice').textContent.includes('Request published')`, 10*time.Second)

	// The home's open requests screen shows it live, the area drawn around the home.
	waitJS(t, th, "the request on the home's screen with its area drawn",
		`document.querySelector('#requests .request svg.area-map circle.map-area') && document.querySelector('#requests .request svg.area-map circle.map-home')`, 15*time.Second)
	if !eval[bool](t, th, "window.notReloaded === true") {
		t.Fatal("the home's page was reloaded; the request must arrive live")
	}
	if got := eval[string](t, th, "document.querySelector('#requests .request .matching').textContent"); !strings.HasPrefix(got, "3 of your clips") {
		t.Fatalf("matching clips shown as %q, want 3", got)
	}
	if got := eval[string](t, th, "document.querySelector('#requests .request').textContent"); !strings.Contains(got, "Package theft") || !strings.Contains(got, "Springfield PD") || !strings.Contains(got, "covers your home") {
		t.Fatalf("the request card says %q", got)
	}
	labelled(t, th, "requests")
	shot(t, th, "requests")
	// On a phone-sized window nothing runs off the side.
	step(t, th, "a phone-sized window", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	waitJS(t, th, "the page fitting 390 px", "document.documentElement.scrollWidth <= 391", 5*time.Second)
	labelled(t, th, "requests-phone")
	shot(t, th, "requests-phone")
	step(t, th, "a laptop window again", chromedp.EmulateViewport(1100, 820))

	// Share: choose two of the three clips, review, confirm.
	step(t, th, "open the share flow", chromedp.Click(chromedp.CSS("#requests .request a.button")))
	waitJS(t, th, "the share screen", "document.querySelector('main').dataset.screen === 'share' && document.querySelectorAll('input[name=clip]').length === 3", 10*time.Second)
	if n := eval[int](t, th, "document.querySelectorAll('input[name=clip]:checked').length"); n != 3 {
		t.Fatalf("%d clips preselected, want the 3 in the window", n)
	}
	eval[bool](t, th, "(document.querySelectorAll('input[name=clip]')[2].click(), true)")
	step(t, th, "review", chromedp.Click(chromedp.ID("share-review")))
	waitJS(t, th, "the confirmation", "document.getElementById('share-confirm') && document.getElementById('share-list').children.length === 2", 5*time.Second)
	review := eval[string](t, th, "document.querySelector('.confirm').textContent")
	for _, want := range []string{"Springfield PD", s.agency.ID().String(), "2026-1142", "Until"} {
		if !strings.Contains(review, want) {
			t.Fatalf("the confirmation does not name %q: %q", want, review)
		}
	}
	var grants []api.GrantJSON
	s.home.call(t, "GET", "/api/v1/grants", nil, &grants)
	if len(grants) != 0 {
		t.Fatal("a grant was made before the confirmation")
	}
	labelled(t, th, "share-confirm")
	shot(t, th, "share-confirm")
	step(t, th, "confirm", chromedp.Click(chromedp.ID("share-confirm")))
	waitJS(t, th, "the share done", `document.querySelector('main .notice') && document.querySelector('main .notice').textContent.includes('Shared with Springfield PD')`, 20*time.Second)
	s.home.call(t, "GET", "/api/v1/grants", nil, &grants)
	if len(grants) != 1 || len(grants[0].Clips) != 2 || grants[0].Grantee != s.agency.ID().String() {
		t.Fatalf("grants after the share = %+v", grants)
	}

	// The agency's evidence screen lists both, verified, and plays one.
	step(t, ta, "the evidence screen", chromedp.Navigate(s.agency.base()+"/#evidence"))
	waitJS(t, ta, "two verified clips", "document.querySelectorAll('#evidence .evidence .verified').length === 2", 20*time.Second)
	href := eval[string](t, ta, "document.querySelector('#evidence .evidence a[download]').getAttribute('href')")
	if !strings.HasPrefix(href, "/api/v1/evidence/") || !strings.HasSuffix(href, "/bundle") {
		t.Fatalf("export link %q", href)
	}
	step(t, ta, "play evidence", chromedp.Click(chromedp.CSS("#evidence .evidence button.play")))
	waitJS(t, ta, "the evidence playing", "document.getElementById('player').currentTime > 0", 15*time.Second)
	eval[bool](t, ta, "(document.getElementById('player').pause(), true)")
	labelled(t, ta, "agency-evidence")
	shot(t, ta, "agency-evidence")

	// The home's other screens, for the record and the screenshots.
	step(t, th, "grants", chromedp.Navigate(s.home.base()+"/#grants"))
	waitJS(t, th, "the grant listed with a revoke button", "document.querySelectorAll('#grants .grant button.revoke').length === 1", 10*time.Second)
	labelled(t, th, "grants")
	shot(t, th, "grants")
	step(t, th, "access log", chromedp.Navigate(s.home.base()+"/#access"))
	waitJS(t, th, "the agency's downloads in the access log", "document.querySelectorAll('#access tr .tag.good').length >= 2", 10*time.Second)
	labelled(t, th, "access-log")
	shot(t, th, "access-log")
	step(t, th, "agency history", chromedp.Navigate(s.home.base()+"/#agency/"+s.agency.ID().String()))
	waitJS(t, th, "the agency's public history", "document.querySelector('main h1').textContent === 'Springfield PD' && document.querySelectorAll('#agency-requests .request').length === 1 && document.querySelector('.figures')", 10*time.Second)
	if got := eval[string](t, th, "document.querySelector('main').textContent"); !strings.Contains(got, "credential valid") || strings.Contains(got, "equivocation") || strings.Contains(got, "null") || strings.Contains(got, "undefined") {
		t.Fatalf("agency page says %q", got)
	}
	// The yield: the agency's signed count of the 2 clips, on the home's
	// page of the agency; the home's audit finds both counted.
	waitJS(t, th, "the yield on the agency's history", "document.querySelector('#agency-requests .request .yield') && document.querySelector('#agency-requests .request .yield').textContent.includes('2 clip(s) from 1 home(s)') && document.querySelector('.figures').textContent.includes('2clips received')", 15*time.Second)
	step(t, th, "audit the yield", chromedp.Click(chromedp.CSS("#agency-requests .request button.audit-yield")))
	waitJS(t, th, "both clips counted", "document.querySelectorAll('#agency-requests .yield-audit li').length === 2 && [...document.querySelectorAll('#agency-requests .yield-audit li')].every(li => li.textContent.startsWith('included'))", 10*time.Second)
	labelled(t, th, "agency-history")
	shot(t, th, "agency-history")

	// Revoke from the UI: the grant is marked revoked.
	step(t, th, "grants again", chromedp.Navigate(s.home.base()+"/#grants"))
	step(t, th, "revoke", chromedp.Click(chromedp.CSS("#grants .grant button.revoke")))
	waitJS(t, th, "the grant revoked", "document.querySelectorAll('#grants .grant .tag.bad').length === 1 && !document.querySelector('#grants button.revoke')", 10*time.Second)
	s.home.call(t, "GET", "/api/v1/grants", nil, &grants)
	if !grants[0].Revoked {
		t.Fatal("the UI showed the grant revoked, the API does not")
	}

	// The agency closes its request from its UI, with a public note; the
	// home's page of the agency shows it closed, note included.
	step(t, ta, "the agency's requests", chromedp.Navigate(s.agency.base()+"/#requests"))
	waitJS(t, ta, "the close form on the agency's own request", "document.querySelector('#requests .request form.close-request input')", 10*time.Second)
	step(t, ta, "close it",
		chromedp.SendKeys(chromedp.CSS("#requests .request form.close-request input"), "Parcel recovered; thank you"),
		chromedp.Click(chromedp.CSS("#requests .request form.close-request button")),
	)
	waitJS(t, ta, "the request closed on the agency", "!document.querySelector('form.close-request') && document.querySelector('#requests .request').textContent.includes('closed')", 10*time.Second)
	step(t, th, "the agency's page on the home", chromedp.Navigate(s.home.base()+"/#agency/"+s.agency.ID().String()))
	waitJS(t, th, "the request closed, with its note, on the home", "document.querySelector('#agency-requests .request') && document.querySelector('#agency-requests .request').textContent.includes('Parcel recovered; thank you') && document.querySelector('.figures').textContent.includes('1closed')", 15*time.Second)
	if eval[int](t, th, "document.querySelectorAll('form.close-request').length") != 0 {
		t.Fatal("the home is offered to close the agency's request")
	}

	s.home.noToken(t, th)
	s.agency.noToken(t, ta)
}

// TestClipPlaysAndSeeks: a clip added through the UI's upload form plays in
// the page's <video> (range requests) and seeking moves playback there.
func TestClipPlaysAndSeeks(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	ctx := tab(t, b)
	n.login(t, ctx)
	clip, err := sampleclips.Clip(1)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "porch.webm")
	if err := os.WriteFile(file, clip, 0o600); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "my clips", chromedp.Navigate(n.base()+"/#clips"))
	waitJS(t, ctx, "the clips screen", "document.querySelector('main').dataset.screen === 'clips'", 10*time.Second)
	step(t, ctx, "upload a clip",
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{file}),
		chromedp.Click(chromedp.CSS("#main form button[type=submit]")),
	)
	waitJS(t, ctx, "the clip listed", "document.querySelectorAll('#clips .clip').length === 1", 15*time.Second)
	ms, err := n.Clips().List()
	if err != nil || len(ms) != 1 || ms[0].M.GetSize() != uint64(len(clip)) || ms[0].M.GetMediaType() != sampleclips.MediaType {
		t.Fatalf("after the upload the store holds %d clips (%v)", len(ms), err)
	}

	step(t, ctx, "play", chromedp.Click(chromedp.CSS("#clips .clip button.play")))
	waitJS(t, ctx, "playback", "document.getElementById('player').currentTime > 0", 15*time.Second)
	if d := eval[float64](t, ctx, "document.getElementById('player').duration"); d < 7 || d > 9 {
		t.Fatalf("duration %v, want about 8 s", d)
	}
	eval[bool](t, ctx, "(document.getElementById('player').currentTime = 5.5, true)")
	waitJS(t, ctx, "the seek landing and playback going on from there",
		"(p => !p.seeking && p.currentTime > 5.6 && p.readyState >= 2)(document.getElementById('player'))", 15*time.Second)
	// Seek back, too: the whole clip stays reachable.
	eval[bool](t, ctx, "(document.getElementById('player').currentTime = 1, true)")
	waitJS(t, ctx, "a seek backwards", "(p => !p.seeking && p.currentTime >= 1 && p.currentTime < 4)(document.getElementById('player'))", 15*time.Second)
	eval[bool](t, ctx, "(document.getElementById('player').pause(), true)")
	labelled(t, ctx, "clips")
	shot(t, ctx, "clips")
}

// TestErrorWhenNodeStops: when the node stops, the open UI says so in
// words, and stays usable (no blank page).
func TestErrorWhenNodeStops(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	ctx := tab(t, b)
	n.login(t, ctx)
	if !eval[bool](t, ctx, "document.getElementById('banner').hidden") {
		t.Fatal("the error banner shows while the node runs")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the error banner", "!document.getElementById('banner').hidden && document.getElementById('banner').textContent.includes('node is not answering')", 15*time.Second)
	if role := eval[string](t, ctx, "document.getElementById('banner').getAttribute('role')"); role != "alert" {
		t.Fatalf("banner role %q, want alert (screen readers announce it)", role)
	}
	// Navigating while the node is down keeps the banner and the page.
	eval[bool](t, ctx, "(location.hash = '#grants', true)")
	waitJS(t, ctx, "the banner still there", "!document.getElementById('banner').hidden && document.querySelector('nav')", 5*time.Second)
	labelled(t, ctx, "node-stopped")
	shot(t, ctx, "node-stopped")
}

// TestBannerWhenDiskFails: when the disk under the node's database fails
// (here its directory is replaced under the running node), the open UI says
// so in the alert banner: writes are refused, reads go on.
func TestBannerWhenDiskFails(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	ctx := tab(t, b)
	n.login(t, ctx)
	if !eval[bool](t, ctx, "document.getElementById('banner').hidden") {
		t.Fatal("the error banner shows while the disk works")
	}
	db := filepath.Join(n.dir, node.DBDir)
	if err := os.Rename(db, db+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Back in place, so the node closes normally.
		_ = os.RemoveAll(db)
		_ = os.Rename(db+".moved", db)
	})
	waitJS(t, ctx, "the disk banner", "!document.getElementById('banner').hidden && document.getElementById('banner').textContent.includes('disk has failed') && document.getElementById('banner').textContent.includes('restart')", 15*time.Second)
	shot(t, ctx, "disk-failed")
}

// TestAgencyEquivocationWarning: when an agency signs two different records
// for one place in its log, its public page on a home warns in words.
func TestAgencyEquivocationWarning(t *testing.T) {
	b := browser(t)
	s := newAgencySetup(t, 0)
	now := time.Now()
	var created map[string]string
	s.agency.call(t, "POST", "/api/v1/requests", api.NewRequestJSON{Case: "2026-1142", Incident: "package theft", Contact: "desk",
		Area: "circle:40.7140,-74.0055,300", From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour)}, &created)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var reqs []api.RequestJSON
		s.home.call(t, "GET", "/api/v1/requests", nil, &reqs)
		if len(reqs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request did not reach the home")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx := tab(t, b)
	s.home.login(t, ctx)
	step(t, ctx, "the agency's page", chromedp.Navigate(s.home.base()+"/#agency/"+s.agency.ID().String()))
	waitJS(t, ctx, "the page without a warning", "document.querySelector('.figures') && !document.getElementById('equivocation')", 10*time.Second)

	// The agency's key signs a different record for seq 1 (as after a
	// wiped disk); the home receives it.
	key, err := node.LoadKey(s.agency.dir)
	if err != nil {
		t.Fatal(err)
	}
	fork, err := record.Seal(&pb.Entry{Author: []byte(s.agency.ID()), Seq: 1, Created: now.UnixMilli(), Neighborhood: "maple-st",
		Body: &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "a fresh start"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.home.Store().Ingest(fork); err != nil || res.Outcome != store.Equivocation {
		t.Fatalf("ingest the fork: %v %v, want an equivocation", res.Outcome, err)
	}
	step(t, ctx, "reload the agency's page", chromedp.Reload())
	waitJS(t, ctx, "the equivocation warning", "document.getElementById('equivocation') && document.getElementById('equivocation').textContent.includes('signed two different histories')", 10*time.Second)
	labelled(t, ctx, "agency-equivocation")
	shot(t, ctx, "agency-equivocation")
	step(t, ctx, "the agencies list", chromedp.Navigate(s.home.base()+"/#agencies"))
	waitJS(t, ctx, "the equivocation tag in the list", "[...document.querySelectorAll('#agencies .tag.bad')].some(e => e.textContent === 'equivocation')", 10*time.Second)
}

// TestKeyboardOnly: with the keyboard alone a household reaches the post
// form, writes and posts; the focused button shows a focus ring.
func TestKeyboardOnly(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	ctx := tab(t, b)
	n.login(t, ctx)
	tabTo := func(id string) {
		t.Helper()
		for range 30 {
			if eval[string](t, ctx, "document.activeElement ? document.activeElement.id : ''") == id {
				return
			}
			step(t, ctx, "press Tab", chromedp.KeyEvent(kb.Tab))
		}
		t.Fatalf("30 presses of Tab never reached #%s", id)
	}
	tabTo("post-text")
	step(t, ctx, "type", chromedp.KeyEvent("Porch light left on for the late bus"))
	tabTo("post-submit")
	if o := eval[string](t, ctx, "getComputedStyle(document.activeElement).outlineStyle"); o == "none" || o == "" {
		t.Fatalf("the focused Post button has no focus ring (outline-style %q)", o)
	}
	step(t, ctx, "press Enter", chromedp.KeyEvent(kb.Enter))
	waitJS(t, ctx, "the post in the feed", "[...document.querySelectorAll('#feed .post')].some(li => li.textContent.includes('Porch light left on for the late bus'))", 10*time.Second)
	// The screens are links: Tab reaches them, Enter follows them.
	step(t, ctx, "focus the Requests link", chromedp.Focus(chromedp.CSS(`nav a[href="#requests"]`)))
	step(t, ctx, "press Enter", chromedp.KeyEvent(kb.Enter))
	waitJS(t, ctx, "the requests screen", "document.querySelector('main').dataset.screen === 'requests'", 10*time.Second)
	labelled(t, ctx, "requests")
}
