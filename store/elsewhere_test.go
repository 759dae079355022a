package store_test

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestElsewhere: a log whose author Config.Elsewhere names (an agency
// serving several neighborhoods) is stored whole whatever neighborhood its
// records name, but its posts of another neighborhood never enter the
// feed; anyone else's record of another neighborhood is refused.
func TestElsewhere(t *testing.T) {
	agency, home := newAuthor(t, 7), newAuthor(t, 8)
	db := openDB(t, store.Config{Elsewhere: func(a peer.ID) bool { return a == agency.id }})

	profile := agency.next(withProfile("Springfield PD"), inNeighborhood("oak-avenue"))
	post := agency.next(withText("at home"), inNeighborhood("oak-avenue"))
	here := agency.next(withText("here"))
	mustIngest(t, db, profile, added)
	got, err := db.Ingest(post)
	if err != nil || got.Outcome != store.Added || got.Ignored != record.ReasonNeighborhood {
		t.Fatalf("agency's post of another neighborhood: %+v, %v; want added, ignored %s", got, err, record.ReasonNeighborhood)
	}
	mustIngest(t, db, here, added)
	checkHead(t, db, agency.id, 3, 3, here.ID, false)
	checkFeed(t, db, here)
	if name, _ := db.Name(agency.id); name != "Springfield PD" {
		t.Errorf("agency's name = %q", name)
	}

	stranger := home.next(withProfile("Oak Ave 3"), inNeighborhood("oak-avenue"))
	if _, err := db.Ingest(stranger); record.ReasonOf(err) != record.ReasonNeighborhood {
		t.Fatalf("a home's record of another neighborhood: %v, want %s", err, record.ReasonNeighborhood)
	}
	checkHead(t, db, home.id, 0, 0, record.ID{}, false)
}
