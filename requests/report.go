package requests

import (
	"sort"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
)

// Read-only views for reports (package transparency): everything here is
// computed from the signed records this node holds, so any node holding
// the same records reads the same values.

// History returns copies of every request of agency a, in log order (an
// equivocating agency's: every version it signed, see withItems), each with
// its status, notes and yield as its log stands now. It returns nothing,
// and no error, for a peer with no requests.
func (s *Service) History(a peer.ID) ([]Item, error) {
	var out []Item
	err := s.withItems(a, func(items []*Item) {
		out = make([]Item, len(items))
		for i, it := range items {
			out[i] = *it
			out[i].Notes = append([]Note(nil), it.Notes...)
		}
	})
	return out, err
}

// IssuerDocuments returns the stored documents (credentials and
// revocations) of the issuers this node trusts, sorted by ID.
func (s *Service) IssuerDocuments() ([]*record.Doc, error) {
	var out []*record.Doc
	err := s.eachTrustedDoc(func(d *record.Doc) error {
		out = append(out, d)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return string(out[i].ID[:]) < string(out[j].ID[:]) })
	return out, err
}
