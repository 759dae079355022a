package store_test

import (
	"sort"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/store"
)

// TestHeadsAfterPages: HeadsAfter walks the authors in AuthorLess order from
// any cursor, stored author or not, and the pages cover every head once.
func TestHeadsAfterPages(t *testing.T) {
	db := openDB(t, store.Config{})
	var ids []peer.ID
	for seed := range byte(20) {
		a := newAuthor(t, seed+1)
		mustIngest(t, db, a.post("hello"), added)
		ids = append(ids, a.id)
	}
	sort.Slice(ids, func(i, j int) bool { return store.AuthorLess(ids[i], ids[j]) })

	for _, limit := range []int{1, 3, 7, 20, 100} {
		var got []peer.ID
		after := peer.ID("")
		for {
			page, err := db.HeadsAfter(after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, h := range page {
				got = append(got, h.Author)
				if h.Contig != 1 || h.Max != 1 {
					t.Fatalf("head %+v, want contig 1 and max 1", h)
				}
			}
			after = page[len(page)-1].Author
		}
		if len(got) != len(ids) {
			t.Fatalf("limit %d: walked %d authors, want %d", limit, len(got), len(ids))
		}
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("limit %d: author %d is %s, want %s", limit, i, got[i], ids[i])
			}
		}
	}

	// An ID of stored length that is no author: the last byte of one, plus 1.
	between := []byte(ids[4])
	between[len(between)-1]++
	after := 0
	for _, id := range ids {
		if store.AuthorLess(peer.ID(between), id) {
			after++
		}
	}
	tests := []struct {
		name  string
		after peer.ID
		want  int // heads returned with limit 100
	}{
		{"from the start", "", len(ids)},
		{"after the first", ids[0], len(ids) - 1},
		{"after the last", ids[len(ids)-1], 0},
		{"an ID between stored authors", peer.ID(between), after},
		{"a longer ID sorts after every stored one", ids[4] + "\x00", 0},
		{"a shorter ID sorts before all", peer.ID("x"), len(ids)},
		{"a longer ID sorts after all", ids[0] + "zz", 0},
		{"an ID too long for a key", peer.ID(make([]byte, 300)), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := db.HeadsAfter(tt.after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != tt.want {
				t.Fatalf("HeadsAfter = %d heads, want %d", len(page), tt.want)
			}
		})
	}
}
