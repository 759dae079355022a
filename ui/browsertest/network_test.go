package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/internal/sampleclips"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
)

// netPeerRow is a predicate: the Network screen lists peer id in its
// neighbors table.
func netPeerRow(id string) string {
	return fmt.Sprintf(`document.querySelector('main').dataset.screen === 'network' && !!document.querySelector('#net-peers tr[data-peer=%s]')`, js(id))
}

// TestNetworkPanelRealNodes (issue 14): on a real node connected to a
// neighbor over loopback, the Network screen shows what status and peers
// say: reachability, NAT kind and anchor role in words, the addresses and
// anchors, and the neighbor with its path ("LAN": loopback is this home's
// own network) and round trip; it drops the neighbor live when it stops.
func TestNetworkPanelRealNodes(t *testing.T) {
	b := browser(t)
	a := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	bn := startNode(t, nodeOpts{name: "14 Maple St", location: "40.7150,-74.0062", peers: []string{a.addr()}})
	ctx := tab(t, b)
	a.login(t, ctx)
	step(t, ctx, "the Network screen", chromedp.Click(chromedp.CSS(`nav a[href="#network"]`)))
	id := bn.ID().String()
	waitJS(t, ctx, "the neighbor on the Network screen", netPeerRow(id)+
		` && document.querySelector('#net-peers tr[data-peer=`+js(id)+`]').textContent.includes('14 Maple St')`, 15*time.Second)
	if cur := eval[string](t, ctx, `document.querySelector('nav a[aria-current="page"]').getAttribute('href')`); cur != "#network" {
		t.Errorf("the nav marks %q as the current screen, want #network", cur)
	}

	// The path: what the API says, in words; on loopback it is the LAN.
	// (Until the mesh reports paths, the int branch's stub says "" for
	// every peer; the panel then says "not known yet".)
	var peers []api.PeerJSON
	a.call(t, "GET", "/api/v1/peers", nil, &peers)
	if len(peers) != 1 || peers[0].PeerID != id {
		t.Fatalf("A's peers = %+v, want only B", peers)
	}
	row := `document.querySelector('#net-peers tr[data-peer=` + js(id) + `]')`
	if a.Mesh().PathTo(bn.ID()) != "" {
		waitJS(t, ctx, "path LAN", row+`.querySelector('td.path').dataset.path === 'lan' && `+row+`.querySelector('td.path').textContent.startsWith('LAN')`, 15*time.Second)
		if p := a.Mesh().PathTo(bn.ID()); p != mesh.PathLAN {
			t.Errorf("the mesh says path %q over loopback, want lan", p)
		}
	} else {
		t.Log("the mesh does not report paths yet (PathTo stub): checking the panel says so")
		waitJS(t, ctx, "path not known", row+`.querySelector('td.path').textContent === 'not known yet'`, 5*time.Second)
	}
	if got := eval[string](t, ctx, row+`.querySelector('td.rtt').textContent`); !strings.HasSuffix(got, " ms") && got != "not measured yet" {
		t.Errorf("round trip shown as %q", got)
	}

	// The status fields, each shown.
	var st api.Status
	a.call(t, "GET", "/api/v1/status", nil, &st)
	orUnknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	for _, c := range []struct{ el, want string }{
		{"net-reachability", orUnknown(st.Reachability)},
		{"net-nat", orUnknown(st.NAT)},
		{"net-anchor", fmt.Sprint(st.Anchor)},
	} {
		if got := eval[string](t, ctx, `document.getElementById(`+js(c.el)+`).dataset.value`); got != c.want {
			t.Errorf("#%s shows %q, the API says %q", c.el, got, c.want)
		}
		if txt := eval[string](t, ctx, `document.getElementById(`+js(c.el)+`).textContent`); len(txt) < 10 {
			t.Errorf("#%s says %q: want plain words", c.el, txt)
		}
	}
	for list, addrs := range map[string][]string{"net-listen": st.Addresses.Listen, "net-observed": st.Addresses.Observed, "net-relay": st.Addresses.Relay} {
		for _, ad := range addrs {
			if ad == "/p2p-circuit" {
				continue // the relay transport's listener, shown by its relay addresses
			}
			if !eval[bool](t, ctx, `document.getElementById(`+js(list)+`).textContent.includes(`+js(ad)+`)`) {
				t.Errorf("#%s lacks %s", list, ad)
			}
		}
	}
	for _, an := range st.Anchors {
		if !eval[bool](t, ctx, `!!document.querySelector('#net-anchors tr[data-peer=`+js(an.PeerID)+`]')`) {
			t.Errorf("anchor %s not listed", an.PeerID)
		}
	}
	if len(st.Anchors) == 0 && !eval[bool](t, ctx, `document.getElementById('net-anchors').textContent.includes('porchlight anchor add')`) {
		t.Error("with no anchor known the anchors table does not say how to add one")
	}
	if !eval[bool](t, ctx, `document.getElementById('net-todo').children.length > 0`) {
		t.Error("no advice under What to do")
	}
	// Tables with column headers, each table named by its heading.
	if bad := eval[int](t, ctx, `[...document.querySelectorAll('main table')].filter(t => !t.getAttribute('aria-labelledby') || t.querySelectorAll('thead th[scope=col]').length !== 5).length`); bad != 0 {
		t.Errorf("%d tables lack a name or column headers", bad)
	}
	labelled(t, ctx, "network")

	// The neighbor stops: the peers event redraws the table.
	bn.Close()
	waitJS(t, ctx, "the stopped neighbor gone", `!document.querySelector('#net-peers tr[data-peer=`+js(id)+`]') && document.getElementById('net-peers').textContent.includes('No neighbor is connected')`, 15*time.Second)
}

// TestNetworkWords checks the plain words and the advice the Network
// screen gives for each kind of status, as the page computes them.
func TestNetworkWords(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	ctx := tab(t, b)
	n.login(t, ctx)
	type words struct {
		ReachText, NATText, AnchorText string
		Todo                           []string
	}
	const anchor = `{peer_id: "12D3KooWAnchor", addrs: ["/ip4/203.0.113.7/tcp/7781"], configured: true, connected: %v, reservation: false, rtt_ms: 12}`
	for _, c := range []struct {
		name, status      string
		reach, nat, todo  []string // substrings each of the fields must contain
		noTodo, anchorSay string
	}{
		{name: "public", status: `{reachability: "public", nat: "unknown", anchor: false, anchors: []}`,
			reach: []string{"Reachable from the internet"}, nat: []string{"No NAT"}, todo: []string{"Nothing to do"}, noTodo: "anchor add"},
		{name: "behind a NAT that hole-punches, no anchor", status: `{reachability: "private", nat: "endpoint-independent", anchors: []}`,
			reach: []string{"Not reachable from the internet"}, nat: []string{"Behind a NAT that allows direct connections"},
			todo: []string{"forward TCP and UDP port 7781", "UPnP", "porchlight anchor add"}},
		{name: "symmetric NAT, anchor down", status: `{reachability: "private", nat: "endpoint-dependent", anchors: [` + fmt.Sprintf(anchor, false) + `]}`,
			reach: []string{"Not reachable"}, nat: []string{"Behind a symmetric NAT: only relayed paths"},
			todo: []string{"only through an anchor", "carrier-grade NAT", "None of your anchors answers"}},
		{name: "symmetric NAT, anchor answering", status: `{reachability: "private", nat: "endpoint-dependent", anchors: [` + fmt.Sprintf(anchor, true) + `]}`,
			nat: []string{"symmetric NAT"}, todo: []string{"only through an anchor"}, noTodo: "None of your anchors answers"},
		{name: "not known yet (fields empty)", status: `{}`,
			reach: []string{"Not known yet"}, nat: []string{"not known yet"}, todo: []string{"a minute or so"}},
		{name: "an anchor", status: `{reachability: "public", anchor: true, anchors: []}`,
			todo: []string{"This home is an anchor", "TCP and UDP port 7781"}, anchorSay: "This home is an anchor for its neighborhood", noTodo: "anchor add"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := eval[words](t, ctx, `(w => ({ReachText: w.reachText, NATText: w.natText, AnchorText: w.anchorText, Todo: w.todo.map(x => x.text + (x.cmd || ""))}))(networkWords(`+c.status+`))`)
			todo := strings.Join(w.Todo, "\n")
			for _, s := range c.reach {
				if !strings.Contains(w.ReachText, s) {
					t.Errorf("reachability says %q, want %q in it", w.ReachText, s)
				}
			}
			for _, s := range c.nat {
				if !strings.Contains(w.NATText, s) {
					t.Errorf("NAT says %q, want %q in it", w.NATText, s)
				}
			}
			for _, s := range c.todo {
				if !strings.Contains(todo, s) {
					t.Errorf("what to do says %q, want %q in it", todo, s)
				}
			}
			if c.noTodo != "" && strings.Contains(todo, c.noTodo) {
				t.Errorf("what to do says %q, which should not mention %q", todo, c.noTodo)
			}
			if c.anchorSay != "" && w.AnchorText != c.anchorSay {
				t.Errorf("anchor says %q, want %q", w.AnchorText, c.anchorSay)
			}
		})
	}
}

// TestNetworkPanelShowsEveryField: the Network screen draws every field of
// status and peers: here a home behind a symmetric NAT with a relay
// address, one anchor answering with a reservation and one silent, and
// neighbors over a direct and a relayed path. The node's answers are
// rewritten in the page (the mesh of this branch reports no NAT or
// anchors yet); TestNetworkPanelRealNodes checks the real answers.
func TestNetworkPanelShowsEveryField(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	ctx := tab(t, b)
	n.login(t, ctx)
	eval[bool](t, ctx, `(() => {
	  const network = {peers: 2, reachability: "private", nat: "endpoint-dependent", anchor: false,
	    addresses: {listen: ["/p2p-circuit", "/ip4/0.0.0.0/tcp/7781", "/ip4/0.0.0.0/udp/7781/quic-v1"], observed: ["/ip4/198.51.100.7/tcp/40001"],
	      relay: ["/ip4/203.0.113.10/tcp/7781/p2p/12D3KooWAnchorA/p2p-circuit"]},
	    anchors: [
	      {peer_id: "12D3KooWAnchorA", addrs: ["/ip4/203.0.113.10/tcp/7781"], configured: true, connected: true, reservation: true, rtt_ms: 23.4},
	      {peer_id: "12D3KooWAnchorB", addrs: ["/ip4/203.0.113.20/udp/7781/quic-v1"], configured: false, connected: false, reservation: false, rtt_ms: 0}]};
	  const peers = [
	    {peer_id: "12D3KooWDirect", name: "14 Maple St", addrs: [], since: new Date().toISOString(), path: "direct", rtt_ms: 7.25},
	    {peer_id: "12D3KooWRelayed", name: "16 Maple St", addrs: [], since: new Date().toISOString(), path: "relayed", rtt_ms: 48.2}];
	  const real = window.fetch;
	  window.fetch = async (url, opts) => {
	    const r = await real(url, opts);
	    const json = v => new Response(JSON.stringify(v), {status: 200, headers: {"Content-Type": "application/json"}});
	    if (String(url).startsWith("/api/v1/status")) return json(Object.assign(await r.json(), network));
	    if (String(url).startsWith("/api/v1/peers")) return json(peers);
	    return r;
	  };
	  loadStatus(); // the header too
	  location.hash = "#network";
	  return true;
	})()`)
	row := func(id string) string { return `document.querySelector('tr[data-peer=` + js(id) + `]')` }
	waitJS(t, ctx, "the rewritten answers drawn", netPeerRow("12D3KooWRelayed")+` && `+row("12D3KooWAnchorB")+
		` && document.getElementById('who').textContent.includes('2 neighbors connected')`, 10*time.Second)
	for _, c := range []struct{ what, expr, want string }{
		{"reachability", `document.getElementById('net-reachability').textContent`, "Not reachable from the internet: behind a router (NAT) or a firewall"},
		{"NAT", `document.getElementById('net-nat').textContent`, "Behind a symmetric NAT: only relayed paths, through an anchor"},
		{"anchor role", `document.getElementById('net-anchor').textContent`, "This home is not an anchor"},
		{"direct path", row("12D3KooWDirect") + `.querySelector('td.path').dataset.path`, "direct"},
		{"direct round trip", row("12D3KooWDirect") + `.querySelector('td.rtt').textContent`, "7.3 ms"},
		{"relayed path", row("12D3KooWRelayed") + `.querySelector('td.path .tag').textContent`, "relayed"},
		{"relayed round trip", row("12D3KooWRelayed") + `.querySelector('td.rtt').textContent`, "48 ms"},
		{"anchor A answers", row("12D3KooWAnchorA") + `.querySelector('td.answers').textContent`, "yes"},
		{"anchor A", row("12D3KooWAnchorA") + `.textContent`, "12D3KooWAnch…/ip4/203.0.113.10/tcp/7781your configurationyesheld23 ms"},
		{"anchor B", row("12D3KooWAnchorB") + `.textContent`, "12D3KooWAnch…/ip4/203.0.113.20/udp/7781/quic-v1neighbors and invitesnonone—"},
		{"listen", `document.getElementById('net-listen').textContent`, "/ip4/0.0.0.0/tcp/7781/ip4/0.0.0.0/udp/7781/quic-v1"},
		{"observed", `document.getElementById('net-observed').textContent`, "/ip4/198.51.100.7/tcp/40001"},
		{"relay", `document.getElementById('net-relay').textContent`, "/ip4/203.0.113.10/tcp/7781/p2p/12D3KooWAnchorA/p2p-circuit"},
	} {
		if got := eval[string](t, ctx, c.expr); got != c.want {
			t.Errorf("%s: shown %q, want %q", c.what, got, c.want)
		}
	}
	todo := eval[string](t, ctx, `document.getElementById('net-todo').textContent`)
	if !strings.Contains(todo, "only through an anchor") || strings.Contains(todo, "None of your anchors answers") {
		t.Errorf("what to do says %q", todo)
	}
	labelled(t, ctx, "network, every field")
	shot(t, ctx, "network")
}

// TestFetchClipShowsAPIError: a neighbor's UI fetches a clip attached to
// a post (verified, then in its store); when the fetch fails, the UI
// shows the node's error text exactly as the API gives it (the node's
// errors say why and what to do, e.g. "no direct path to 12 Maple St;
// ..."), not a generic failure.
func TestFetchClipShowsAPIError(t *testing.T) {
	b := browser(t)
	owner := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	nb := startNode(t, nodeOpts{name: "14 Maple St", location: "40.7150,-74.0062", peers: []string{owner.addr()}})
	var ids []string
	for i := 1; i <= 2; i++ {
		clip, err := sampleclips.Clip(i)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		m, err := owner.Clips().Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{
			Camera: "front-door", Start: now.Add(-time.Hour), End: now.Add(-time.Hour + 8*time.Second), MediaType: sampleclips.MediaType})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ClipID().String())
	}
	owner.call(t, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "safety", Text: "Someone tried car doors on our drive", Clips: ids[:1]}, nil)
	owner.call(t, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "safety", Text: "And again an hour later", Clips: ids[1:]}, nil)

	ctx := tab(t, b)
	nb.login(t, ctx)
	fetchBtn := func(clip string) string {
		return `document.querySelector('#feed .clip-fetch[data-clip=` + js(clip) + `] button.fetch')`
	}
	result := func(clip string) string {
		return `document.querySelector('#feed .clip-fetch[data-clip=` + js(clip) + `] .fetch-result')`
	}
	waitJS(t, ctx, "both posts with a fetch button", fetchBtn(ids[0])+" && "+fetchBtn(ids[1]), 15*time.Second)
	if n := eval[int](t, ctx, `document.querySelectorAll('#feed .clip-fetch').length`); n != 2 {
		t.Errorf("%d fetch buttons, want one per attached clip", n)
	}

	// The first fetch works: verified, and stored on the neighbor's node.
	eval[bool](t, ctx, "("+fetchBtn(ids[0])+".click(), true)")
	waitJS(t, ctx, "the clip fetched", result(ids[0])+`.textContent.includes('Fetched and verified')`, 30*time.Second)
	if _, err := nb.Clips().Manifest(mustID(t, ids[0])); err != nil {
		t.Fatalf("the neighbor's store lacks the fetched clip: %v", err)
	}

	// The owner revokes the second post's grant: the fetch is refused,
	// and the page says what the API says, word for word.
	var grants []api.GrantJSON
	owner.call(t, "GET", "/api/v1/grants", nil, &grants)
	revoked := false
	for _, g := range grants {
		if len(g.Clips) == 1 && g.Clips[0] == ids[1] {
			owner.call(t, "POST", "/api/v1/grants/"+g.ID+"/revoke", struct{}{}, nil)
			revoked = true
		}
	}
	if !revoked {
		t.Fatalf("no grant of the owner's for the second clip among %+v", grants)
	}
	c, err := client.FromDataDir(nb.dir)
	if err != nil {
		t.Fatal(err)
	}
	apiError := func() string {
		t.Helper()
		_, err := c.Fetch(context.Background(), owner.ID().String(), ids[1])
		var ce *client.Error
		if !errors.As(err, &ce) {
			t.Fatalf("fetch of a revoked clip through the API: %v, want an API error", err)
		}
		return ce.Message
	}
	// The revocation may still be on its way to the neighbor: wait until
	// the answer settles.
	want := apiError()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		again := apiError()
		if again == want || time.Now().After(deadline) {
			want = again
			break
		}
		want = again
	}
	if strings.Contains(want, "internal error") {
		t.Fatalf("the API answers a revoked clip's fetch with %q: want the reason", want)
	}
	eval[bool](t, ctx, "("+fetchBtn(ids[1])+".click(), true)")
	waitJS(t, ctx, "the fetch's error shown", result(ids[1])+` && `+result(ids[1])+`.querySelector('.error')`, 30*time.Second)
	got := eval[string](t, ctx, result(ids[1])+`.querySelector('.error').textContent`)
	if got != want {
		t.Errorf("the page shows %q; the API's error is %q", got, want)
	}
	t.Logf("the page shows the API's error: %q", got)
	if role := eval[string](t, ctx, result(ids[1])+`.querySelector('.error').getAttribute('role')`); role != "alert" {
		t.Errorf("the error has role %q, want alert", role)
	}
	// A redraw (a new post's event) keeps what came of each fetch.
	owner.call(t, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "general", Text: "All quiet now"}, nil)
	waitJS(t, ctx, "the new post", `document.getElementById('feed').textContent.includes('All quiet now')`, 15*time.Second)
	if got := eval[string](t, ctx, result(ids[1])+`.textContent`); got != want {
		t.Errorf("after a redraw the error reads %q, want %q", got, want)
	}
	if !eval[bool](t, ctx, result(ids[0])+`.textContent.includes('Fetched and verified')`) {
		t.Error("after a redraw the first fetch's result is gone")
	}
	labelled(t, ctx, "feed with fetches")
	shot(t, ctx, "feed-fetch")
}

func mustID(t testing.TB, s string) record.ID {
	t.Helper()
	id, err := record.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
