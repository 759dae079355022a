package member

import (
	"strings"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/member/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

func keeps(d *Doc, id record.ID) bool {
	var keep [][]byte
	if r := d.Payload.GetRemoval(); r != nil {
		keep = r.GetKeep()
	} else {
		keep = d.Payload.GetSteward().GetKeep()
	}
	for _, k := range keep {
		if string(k) == string(id[:]) {
			return true
		}
	}
	return false
}

// TestRemoveKeeps: Remove and SetSteward(false) keep the target's
// documents the node holds, so they stand; a document the node had not
// seen (an honest race, or one backdated after the fact) is void.
func TestRemoveKeeps(t *testing.T) {
	const m = time.Minute
	w := newWorld(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Hour)}
	s := w.started(t, w.founder, clk)
	seen := w.admit(w.a, 9*m, w.invite(w.a, 5*m, time.Hour, 1), w.x)
	mustIngest(t, s, seen)
	rm, err := s.Remove(w.a.id, "moved away")
	if err != nil {
		t.Fatal(err)
	}
	if !keeps(rm, seen.ID) {
		t.Fatal("the removal does not keep a's admission the node held")
	}
	// a admitted y a moment before its removal, and the founder had not
	// seen it: it is void, the price of voiding backdated ones.
	y := newHome(t)
	late := w.admit(w.a, time.Hour-time.Second, w.invite(w.a, 5*m, 2*time.Hour, 1), y)
	mustIngest(t, s, late)
	if !s.IsMember(w.x.id) || s.IsMember(y.id) || s.IsMember(w.a.id) {
		t.Fatalf("x member %v (want true), y member %v (want false), a member %v (want false)", s.IsMember(w.x.id), s.IsMember(y.id), s.IsMember(w.a.id))
	}

	// An unnaming keeps likewise: b, named by the founder, names x; the
	// founder's node holds that when it unnames b, so x stays a steward.
	if _, err := s.SetSteward(w.b.id, true); err != nil {
		t.Fatal(err)
	}
	named := w.steward(w.b, time.Hour+m, w.x, true)
	mustIngest(t, s, named)
	clk.Set(t0.Add(time.Hour + 2*m))
	un, err := s.SetSteward(w.b.id, false)
	if err != nil {
		t.Fatal(err)
	}
	if !keeps(un, named.ID) || !isSteward(s, w.x.id) || isSteward(s, w.b.id) {
		t.Fatalf("unnaming keeps b's naming: %v; x steward %v (want true), b steward %v (want false)", keeps(un, named.ID), isSteward(s, w.x.id), isSteward(s, w.b.id))
	}
	// b's naming of a stranger dated before its unnaming is void.
	z := newHome(t)
	mustIngest(t, s, w.admit(w.founder, time.Hour+30*time.Second, w.invite(w.founder, time.Hour, time.Hour, 1), z))
	mustIngest(t, s, w.steward(w.b, time.Hour+90*time.Second, z, true))
	if isSteward(s, z.id) {
		t.Fatal("a steward named by b, backdated before b's unnaming, is a steward")
	}
}

// TestKeepBound: a removal keeps at most MaxKeep documents, the newest,
// and fewer when its reason leaves no room, and always fits MaxDocSize;
// the older ones are void.
func TestKeepBound(t *testing.T) {
	const m = time.Minute
	w := newWorld(t, InviteByAny)
	clk := &clock{t: t0.Add(time.Hour)}
	s := w.started(t, w.founder, clk)
	mustIngest(t, s, w.steward(w.founder, 3*m, w.a, true))
	var docs []*Doc
	for i := 0; i < MaxKeep+50; i++ {
		var id record.ID
		id[0], id[1] = byte(i), byte(i>>8)
		d := w.revoke(w.a, 5*m+time.Duration(i)*time.Millisecond, id)
		mustIngest(t, s, d)
		docs = append(docs, d)
	}
	for _, c := range []struct {
		name   string
		reason string
		min    int
	}{
		{"no reason", "", MaxKeep},
		{"a reason of 280 four-byte characters", strings.Repeat("𝄞", MaxReason), 150},
	} {
		keep := s.keepOf(w.a.id, len(c.reason))
		if len(keep) < c.min || len(keep) > MaxKeep || string(keep[0]) != string(docs[len(docs)-1].ID[:]) {
			t.Errorf("%s: keeps %d documents (want %d to %d), newest first", c.name, len(keep), c.min, MaxKeep)
		}
		d, err := seal(w.founder.key, w.nb, clk.Now(), func(m *pb.Doc) {
			m.Body = &pb.Doc_Removal{Removal: &pb.Removal{Member: []byte(w.a.id), Reason: c.reason, Keep: keep}}
		})
		if err != nil || len(d.Raw) > MaxDocSize {
			t.Errorf("%s: the removal does not fit: %v", c.name, err)
		}
	}
	rm, err := s.Remove(w.a.id, strings.Repeat("𝄞", MaxReason))
	if err != nil {
		t.Fatal(err)
	}
	if !keeps(rm, docs[len(docs)-1].ID) || keeps(rm, docs[0].ID) {
		t.Fatal("the removal does not keep the newest documents only")
	}
}

// TestCounterReduction: whichever arrives first, a removed steward's
// removal of its remover (dated before or after) and the remover's
// removal are both stored, and give one roster: the remover, senior,
// stays.
func TestCounterReduction(t *testing.T) {
	const m = time.Minute
	w := newWorld(t, InviteByAny)
	name := w.steward(w.founder, 3*m, w.a, true)
	removal := w.remove(w.s, 10*m, w.a)
	for _, counter := range []*Doc{w.remove(w.a, 5*m, w.s), w.remove(w.a, 11*m, w.s)} {
		for _, order := range [][]*Doc{{removal, counter}, {counter, removal}} {
			s := w.started(t, w.founder, &clock{t: t0.Add(time.Hour)})
			mustIngest(t, s, name)
			for _, d := range order {
				mustIngest(t, s, d)
			}
			if !s.IsMember(w.s.id) || s.IsMember(w.a.id) {
				t.Fatalf("counter dated %s: s member %v (want true), a member %v (want false)", counter.Created().Sub(t0), s.IsMember(w.s.id), s.IsMember(w.a.id))
			}
		}
	}
}
