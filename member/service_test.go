package member

import (
	"errors"
	"testing"
	"time"
)

func isUnknown(err error) bool { return errors.Is(err, ErrUnknown) }

// TestFoundInviteAdmit: the founder invites, the invite string round-trips,
// and the founder admits the joiner with its claim.
func TestFoundInviteAdmit(t *testing.T) {
	f := newFixture(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Minute)}
	s := f.service(t, f.founder, clk)
	if _, err := s.IngestDoc(f.charter.Raw); err != nil {
		t.Fatal(err)
	}
	if !s.IsMember(f.founder.id) {
		t.Fatal("the founder is not a member")
	}
	inv, err := s.CreateInvite(0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseInvite(inv.String(), clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if parsed.ID != inv.ID || parsed.Inviter != f.founder.id || parsed.Neighborhood != f.nb || parsed.Uses != 1 {
		t.Fatalf("parsed %+v, made %+v", parsed, inv)
	}
	joiner := newHome(t)
	if _, err := s.Admit(parsed.Doc, parsed.Claim(joiner.id), joiner.id, "14 Maple St"); err != nil {
		t.Fatal(err)
	}
	if !s.IsMember(joiner.id) {
		t.Fatal("the joiner is not a member")
	}
}
