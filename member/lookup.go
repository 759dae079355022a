package member

import "github.com/libp2p/go-libp2p/core/peer"

// Lookup is p's entry in the roster (current or removed), if it has one;
// a map lookup, for callers that mark many authors.
func (s *Service) Lookup(p peer.ID) (Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if m := s.r.members[p]; m != nil {
		return *m, true
	}
	return Member{}, false
}
