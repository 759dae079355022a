package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/porchlight-mesh/porchlight/api"
)

// TestSafetyPostDescriptionPrompt: a safety post that describes someone
// by race alone is not posted at once: the composer explains why and what
// could be added, and the author can edit (a fuller description then
// posts without a prompt) or post anyway. Other kinds are not prompted.
func TestSafetyPostDescriptionPrompt(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	ctx := tab(t, b)
	n.login(t, ctx)
	feedHas := func(text string) int {
		var posts []api.PostJSON
		n.call(t, "GET", "/api/v1/feed", nil, &posts)
		c := 0
		for _, p := range posts {
			if p.Text == text {
				c++
			}
		}
		return c
	}
	write := func(kind, text string) {
		t.Helper()
		eval[bool](t, ctx, fmt.Sprintf("(document.getElementById('post-kind').value = %s, document.getElementById('post-text').value = '', true)", js(kind)))
		step(t, ctx, "write a "+kind+" post",
			chromedp.SendKeys(chromedp.ID("post-text"), text),
			chromedp.Click(chromedp.ID("post-submit")),
		)
	}
	posted := func(text string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('#feed .post')].some(li => li.textContent.includes(%s))`, js(text))
	}

	const raceOnly = "Black man on Elm St just now"
	write("safety", raceOnly)
	waitJS(t, ctx, "the prompt", "document.getElementById('describe-prompt')", 10*time.Second)
	why := eval[string](t, ctx, "document.getElementById('describe-why').textContent")
	if !strings.Contains(why, "can make innocent people suspects") {
		t.Fatalf("the prompt explains %q", why)
	}
	if got := eval[string](t, ctx, "document.getElementById('describe-suggest').textContent"); got != "clothinghairbuildage rangevehiclebehavior" {
		t.Fatalf("the prompt suggests %q", got)
	}
	if eval[string](t, ctx, "document.activeElement.id") != "describe-prompt" {
		t.Fatal("the prompt does not take the focus (a keyboard or screen-reader user would miss it)")
	}
	if feedHas(raceOnly) != 0 {
		t.Fatal("posted before the author chose")
	}
	labelled(t, ctx, "describe-prompt")
	shot(t, ctx, "describe-prompt")

	// Edit: back to the text, and a fuller description posts without a prompt.
	step(t, ctx, "edit", chromedp.Click(chromedp.ID("describe-edit")))
	waitJS(t, ctx, "the prompt gone, the text focused", "!document.getElementById('describe-prompt') && document.activeElement.id === 'post-text'", 5*time.Second)
	step(t, ctx, "add details", chromedp.SendKeys(chromedp.ID("post-text"), ", grey hoodie, trying car doors"))
	step(t, ctx, "post again", chromedp.Click(chromedp.ID("post-submit")))
	full := raceOnly + ", grey hoodie, trying car doors"
	waitJS(t, ctx, "the fuller post in the feed", posted(full), 10*time.Second)
	if eval[bool](t, ctx, "!!document.getElementById('describe-prompt')") {
		t.Fatal("a post with two more details was prompted")
	}

	// Post anyway.
	const second = "Hispanic guy near the school"
	write("safety", second)
	waitJS(t, ctx, "the prompt again", "document.getElementById('describe-prompt')", 10*time.Second)
	step(t, ctx, "post anyway", chromedp.Click(chromedp.ID("describe-anyway")))
	waitJS(t, ctx, "the post in the feed", posted(second), 10*time.Second)
	if feedHas(second) != 1 {
		t.Fatal("post anyway did not post exactly once")
	}

	// Another kind: no prompt.
	const general = "White van parked on Elm for a week, whose is it?"
	write("general", general)
	waitJS(t, ctx, "the general post in the feed", posted(general), 10*time.Second)
	if feedHas(raceOnly) != 0 {
		t.Fatal("the first draft was posted after all")
	}
}

// notificationRecorder runs before the app in every page of the tab: it
// keeps every notification the page shows, and every permission request,
// where the test can read them.
const notificationRecorder = `(() => {
  const N = window.Notification;
  window.shownNotifications = [];
  window.permissionAsks = 0;
  function Recorded(title, opts) {
    window.shownNotifications.push({ title, body: (opts && opts.body) || "", tag: (opts && opts.tag) || "" });
    return new N(title, opts);
  }
  Object.defineProperty(Recorded, "permission", { get: () => N.permission });
  Recorded.requestPermission = (...a) => { window.permissionAsks++; return N.requestPermission(...a); };
  Recorded.prototype = N.prototype;
  window.Notification = Recorded;
})();`

// recordNotifications installs notificationRecorder in the tab.
func recordNotifications(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "record notifications", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: notificationRecorder})
		return chromedp.Void{}, err
	})
}

// grantNotifications grants the notification permission to origin in the
// tab's browser context, as a household clicking Allow would.
func grantNotifications(t *testing.T, ctx context.Context, origin string) {
	t.Helper()
	c := chromedp.FromContext(ctx)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cdp.Call(cctx, c.Browser, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted,
		Origin: origin, BrowserContextID: c.BrowserContextID,
	}); err != nil {
		t.Fatalf("grant the notification permission: %v", err)
	}
}

// TestNotificationsForRequestAndFetch: the UI asks for the notification
// permission only when the household clicks the header's button, then
// notifies when a request covering this home arrives (not for one that
// does not cover it) and when one of the home's clips is fetched.
func TestNotificationsForRequestAndFetch(t *testing.T) {
	b := browser(t)
	s := newAgencySetup(t, 1)
	ctx := tab(t, b)
	recordNotifications(t, ctx)
	grantNotifications(t, ctx, s.home.base())
	s.home.login(t, ctx)
	notes := func() string {
		return eval[string](t, ctx, "JSON.stringify(window.shownNotifications)")
	}
	waitJS(t, ctx, "the notifications button", "document.getElementById('notify-toggle') && document.getElementById('notify-toggle').textContent === 'Turn on notifications'", 5*time.Second)
	if n := eval[int](t, ctx, "window.permissionAsks"); n != 0 {
		t.Fatalf("the page asked for the permission %d times before any click", n)
	}

	now := time.Now()
	newRequest := func(incident, area string) string {
		var created map[string]string
		s.agency.call(t, "POST", "/api/v1/requests", api.NewRequestJSON{Case: "2026-" + incident[:4], Incident: incident, Contact: "desk",
			Area: area, From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour)}, &created)
		return created["id"]
	}
	// Before the household turns them on: no notification, even though
	// the browser would allow one.
	newRequest("bike theft", "circle:40.7140,-74.0055,300")
	step(t, ctx, "the requests screen", chromedp.Navigate(s.home.base()+"/#requests"))
	waitJS(t, ctx, "the first request on the home", "[...document.querySelectorAll('#requests .request')].some(li => li.textContent.includes('bike theft'))", 15*time.Second)
	if got := notes(); got != "[]" {
		t.Fatalf("notifications before the household turned them on: %s", got)
	}

	step(t, ctx, "turn notifications on", chromedp.Click(chromedp.ID("notify-toggle")))
	waitJS(t, ctx, "notifications on", "document.getElementById('notify-toggle').textContent === 'Turn off notifications' && document.getElementById('notify-state').textContent.includes('when a request covers your home')", 5*time.Second)
	if n := eval[int](t, ctx, "window.permissionAsks"); n != 1 {
		t.Fatalf("the click asked for the permission %d times, want 1", n)
	}
	labelled(t, ctx, "notifications-on")

	// A request that does not cover the home, then one that does: one
	// notification, for the second.
	newRequest("graffiti on Oak", "circle:40.7300,-74.0060,300")
	covering := newRequest("package theft", "circle:40.7140,-74.0055,300")
	waitJS(t, ctx, "a notification for the covering request", "window.shownNotifications.some(n => n.body.includes('package theft'))", 15*time.Second)
	got := notes()
	if strings.Contains(got, "graffiti") || strings.Count(got, `"title"`) != 1 || !strings.Contains(got, "covers your home") || !strings.Contains(got, "Springfield PD") {
		t.Fatalf("notifications after the requests: %s", got)
	}

	// The home shares its clip with the agency; the agency's node fetches
	// it: a notification names the agency.
	var g api.GrantJSON
	s.home.call(t, "POST", "/api/v1/grants", api.NewGrantJSON{Request: covering, Clips: s.clipIDs, Expires: "7d"}, &g)
	waitJS(t, ctx, "a notification for the fetched clip", "window.shownNotifications.some(n => n.title.includes('clips was fetched'))", 20*time.Second)
	got = notes()
	if !strings.Contains(got, "Springfield PD fetched your") || strings.Count(got, "clips was fetched") != 1 {
		t.Fatalf("notifications after the fetch: %s", got)
	}
	shot(t, ctx, "notifications-on")

	// Off again: nothing more.
	step(t, ctx, "turn notifications off", chromedp.Click(chromedp.ID("notify-toggle")))
	waitJS(t, ctx, "notifications off", "document.getElementById('notify-toggle').textContent === 'Turn on notifications'", 5*time.Second)
	newRequest("car break-in", "circle:40.7140,-74.0055,300")
	waitJS(t, ctx, "the last request on the home", "[...document.querySelectorAll('#requests .request')].some(li => li.textContent.includes('car break-in'))", 15*time.Second)
	if got := notes(); strings.Contains(got, "car break-in") {
		t.Fatalf("a notification after the household turned them off: %s", got)
	}
}
