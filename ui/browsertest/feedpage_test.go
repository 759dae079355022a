package browsertest

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// TestFeedOlderPosts: the feed shows its newest 50 posts and an "Older
// posts" button, which appends the next page (by the API's before
// cursor) and hides at the end of the feed.
func TestFeedOlderPosts(t *testing.T) {
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	var prev []byte
	base := time.Now().Add(-2 * time.Hour)
	for i := 1; i <= 60; i++ {
		created := base.Add(time.Duration(i) * time.Minute)
		e := &pb.Entry{Author: []byte(id), Seq: uint64(i), Prev: prev, Created: created.UnixMilli(), Neighborhood: "maple-st",
			Body: &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: fmt.Sprintf("neighbor post %d", i)}}}
		s, err := record.SealAt(e, key, created)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Store().Ingest(s); err != nil {
			t.Fatal(err)
		}
		prev = s.ID[:]
	}
	ctx := tab(t, browser(t))
	n.login(t, ctx)
	const posts = "document.querySelectorAll('#feed .post').length"
	waitJS(t, ctx, "the newest 50 posts and the button", posts+" === 50 && !document.getElementById('feed-more').hidden", 10*time.Second)
	step(t, ctx, "ask for older posts", chromedp.Click(chromedp.ID("feed-more")))
	waitJS(t, ctx, "all 60 posts, oldest last, and no button",
		posts+" === 60 && document.getElementById('feed-more').hidden && [...document.querySelectorAll('#feed .post')].pop().textContent.includes('neighbor post 1')",
		10*time.Second)
}
