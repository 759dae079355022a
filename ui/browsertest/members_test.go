package browsertest

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api/apitest"
	"github.com/porchlight-mesh/porchlight/client"
)

// The browser test with real nodes (issue 13: invite shown with its QR
// code, a second node joins, the member appears on both Members pages) is
// TestInviteJoinRealNodes; it shares loginUI, createInviteInUI and
// memberRow with the tests here.

// fakeHome is a real API server over an in-memory neighborhood
// (apitest): the UI is real, the membership a fake that applies the same
// rules. TestInviteJoinRealNodes is the test against real nodes.
type fakeHome struct {
	*apitest.Server
	name string
}

func startFakeHome(t testing.TB, name string, members func(peer.ID) *apitest.Members) *fakeHome {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return &fakeHome{Server: apitest.Start(t, apitest.Options{Key: k, Name: name, Members: members(id)}), name: name}
}

// loginUI opens a one-time login link of the API at dir in the tab and
// waits for the UI to name the home.
func loginUI(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	c, err := client.FromDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	link, err := c.CreateLoginLink(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "open the login link", chromedp.Navigate(link.URL))
	waitJS(t, ctx, "the UI naming the home", fmt.Sprintf("document.getElementById('who').textContent.includes(%s)", js(name)), 10*time.Second)
}

// createInviteInUI clicks the Members page's Invite button and returns
// the invite string shown, after checking its QR code is drawn.
func createInviteInUI(t testing.TB, ctx context.Context) string {
	t.Helper()
	step(t, ctx, "invite a home", chromedp.Click(chromedp.ID("invite-create")))
	waitJS(t, ctx, "the invite and its QR code", `document.getElementById('invite-string') && document.getElementById('invite-string').value.startsWith('porchlight:') &&
	  document.getElementById('invite-qr') && document.getElementById('invite-qr').complete && document.getElementById('invite-qr').naturalWidth > 100`, 10*time.Second)
	return eval[string](t, ctx, "document.getElementById('invite-string').value")
}

// joinInUI pastes invite on the join screen and submits it.
func joinInUI(t testing.TB, ctx context.Context, invite string) {
	t.Helper()
	waitJS(t, ctx, "the join screen", `document.querySelector('main').dataset.screen === 'join'`, 10*time.Second)
	step(t, ctx, "paste the invite and join",
		chromedp.SetValue(chromedp.ID("join-invite"), invite),
		chromedp.Click(chromedp.ID("join-submit")))
}

// memberRow is a predicate: the Members page shows peer with a row
// containing text.
func memberRow(peer peer.ID, text string) string {
	return fmt.Sprintf(`document.querySelector('main').dataset.screen === 'members' && (r => r && r.textContent.includes(%s))(document.querySelector('#members tr[data-peer=%s]'))`, js(text), js(peer.String()))
}

// TestMembersPageInviteJoinRemove: the founder's Members page makes an
// invite shown as a string and a QR code; a fresh home, shown the join
// screen, joins with it and appears on both Members pages; only the
// steward is offered Remove, which marks the member removed everywhere;
// Mute marks a member on this home only.
func TestMembersPageInviteJoinRemove(t *testing.T) {
	b := browser(t)
	nb := apitest.NewNeighborhood("Maple St")
	founder := startFakeHome(t, "12 Maple St", func(id peer.ID) *apitest.Members { return nb.Found(id, "12 Maple St") })
	fresh := startFakeHome(t, "14 Maple St", func(id peer.ID) *apitest.Members { return nb.Newcomer(id, "14 Maple St") })
	ta, tb := tab(t, b), tab(t, b)
	loginUI(t, ta, founder.Dir, founder.name)
	loginUI(t, tb, fresh.Dir, fresh.name)

	step(t, ta, "the Members page", chromedp.Navigate(founder.URL+"/#members"))
	waitJS(t, ta, "the founder on the roster", memberRow(founder.Peer, "founder"), 10*time.Second)
	if eval[int](t, ta, `document.querySelectorAll('#members button.remove, #members button.mute').length`) != 0 {
		t.Fatal("the founder is offered to remove or mute itself")
	}
	invite := createInviteInUI(t, ta)
	step(t, ta, "copy the invite", chromedp.Click(chromedp.ID("invite-copy")))
	waitJS(t, ta, "the copy confirmed", `document.getElementById('invite-result').textContent.includes('Copied')`, 10*time.Second)
	waitJS(t, ta, "the invite listed", `document.querySelector('#invites tr td') && document.querySelector('#invites').textContent.includes('0 of 1')`, 10*time.Second)
	labelled(t, ta, "members")
	shot(t, ta, "members-invite")

	// The fresh home sees only the join screen, whatever the address.
	joinInUI(t, tb, "porchlight:not-an-invite")
	waitJS(t, tb, "the refusal", `document.getElementById('join-result').textContent.includes('garbled')`, 10*time.Second)
	labelled(t, tb, "join")
	shot(t, tb, "join")
	joinInUI(t, tb, invite)
	waitJS(t, tb, "the new member on its own Members page", memberRow(fresh.Peer, "14 Maple St")+" && "+memberRow(founder.Peer, "steward"), 10*time.Second)
	if !strings.Contains(eval[string](t, tb, `document.querySelector('#members tr[data-peer="`+fresh.Peer.String()+`"]').textContent`), "12 Maple St") {
		t.Error("the new member's row does not name who invited it")
	}
	if eval[int](t, tb, `document.querySelectorAll('#members button.remove').length`) != 0 {
		t.Error("a member who is not a steward is offered Remove")
	}
	waitJS(t, ta, "the new member on the founder's Members page", memberRow(fresh.Peer, "14 Maple St"), 10*time.Second)

	// Mute is local.
	step(t, tb, "mute the founder", chromedp.Click(chromedp.CSS(`#members tr[data-peer="`+founder.Peer.String()+`"] button.mute`)))
	waitJS(t, tb, "the founder marked muted", memberRow(founder.Peer, "muted")+` && document.querySelector('#members tr[data-peer="`+founder.Peer.String()+`"] button.unmute')`, 10*time.Second)
	if eval[bool](t, ta, `document.querySelector('#members tr[data-peer="`+founder.Peer.String()+`"]').textContent.includes('muted')`) {
		t.Error("a mute showed on another home")
	}

	// The steward removes the member, with a reason.
	step(t, ta, "open the remove form", chromedp.Click(chromedp.CSS(`#members tr[data-peer="`+fresh.Peer.String()+`"] button.remove`)))
	step(t, ta, "give a reason and remove",
		chromedp.SendKeys(chromedp.CSS(`#members .remove-form input`), "moved away"),
		chromedp.Click(chromedp.CSS(`#members .remove-form button.danger`)))
	waitJS(t, ta, "the member marked removed", memberRow(fresh.Peer, "moved away")+` && document.querySelector('#members tr[data-peer="`+fresh.Peer.String()+`"]').classList.contains('removed')`, 10*time.Second)
	// The removed home is no member any more: its page goes back to the join screen.
	waitJS(t, tb, "the removed home's join screen", `document.querySelector('main').dataset.screen === 'join' && document.getElementById('join-state').textContent.includes('removed')`, 10*time.Second)
}

// TestMembersPageOpenNeighborhood: an open neighborhood says so in the
// header and on the Members page, and shows no join screen.
func TestMembersPageOpenNeighborhood(t *testing.T) {
	b := browser(t)
	s := apitest.Start(t, apitest.Options{Name: "12 Maple St"})
	ctx := tab(t, b)
	loginUI(t, ctx, s.Dir, "12 Maple St")
	waitJS(t, ctx, "the feed", `document.querySelector('main').dataset.screen === 'feed' && document.getElementById('who').textContent.includes('open neighborhood')`, 10*time.Second)
	step(t, ctx, "the Members page", chromedp.Navigate(s.URL+"/#members"))
	waitJS(t, ctx, "the open notice", `document.querySelector('main').dataset.screen === 'members' && document.querySelector('main').textContent.includes('open neighborhood')`, 10*time.Second)
}
