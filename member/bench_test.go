package member

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/store"
)

// Membership check per received record vs one Ed25519 verify, and the
// roster of 5,000 members built at start (issue 13; figures in
// docs/benchmarks.md):
//
//	go test -run '^$' -bench 'IsMember|Ed25519Verify|Roster5000' -benchtime 2s ./member/

// bigNeighborhood stores a charter and admissions of n members (the
// founder's 100-use invites) in db, and returns the fixture and members.
func bigNeighborhood(b *testing.B, db *store.DB, n int) (*fixture, []peer.ID) {
	b.Helper()
	f := newFixture(b, InviteByAny)
	docs := []*Doc{f.charter}
	var members []peer.ID
	var inv invite
	for i := 0; i < n; i++ {
		off := time.Duration(i+1) * time.Second
		if i%MaxUses == 0 {
			inv = f.invite(f.founder, off, MaxInviteLife, MaxUses)
		}
		j := newHome(b)
		members = append(members, j.id)
		docs = append(docs, f.admit(f.founder, off+time.Millisecond, inv, j))
	}
	for len(docs) > 0 {
		batch := docs[:min(len(docs), 500)]
		docs = docs[len(batch):]
		err := db.Update(func(tx *store.Txn) error {
			for _, d := range batch {
				if err := tx.Put(store.MemberDocs, d.ID[:], d.Raw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return f, members
}

func BenchmarkIsMember(b *testing.B) {
	db := openDB(b)
	f, members := bigNeighborhood(b, db, 5000)
	s := f.serviceOn(b, db, f.founder, &clock{t: t0.Add(time.Hour)})
	stranger := newHome(b).id
	if !s.IsMember(members[4999]) || s.IsMember(stranger) {
		b.Fatal("the roster is wrong")
	}
	probe := []peer.ID{members[0], members[2500], stranger, members[4999]}
	i := 0
	for b.Loop() {
		s.IsMember(probe[i&3])
		i++
	}
}

// BenchmarkEd25519Verify is one signature check of a record-sized payload,
// what every received record costs anyway.
func BenchmarkEd25519Verify(b *testing.B) {
	key, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 600)
	_, _ = rand.Read(msg)
	sig, err := key.Sign(msg)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _ := pub.Verify(msg, sig); !ok {
			b.Fatal("does not verify")
		}
	}
}

// BenchmarkRoster5000 is New on a database holding a charter and 5,000
// admissions: loading the documents and building the roster at start.
func BenchmarkRoster5000(b *testing.B) {
	db := openDB(b)
	f, members := bigNeighborhood(b, db, 5000)
	for b.Loop() {
		s, err := New(Config{Store: db, Charter: f.charter.ID, Key: f.founder.key, Now: (&clock{t: t0.Add(time.Hour)}).Now, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if !s.IsMember(members[4999]) {
			b.Fatal("the roster is wrong")
		}
	}
}

// BenchmarkIngest5000 is a node that joins a neighborhood of 5,000
// members catching up: IngestDoc of the charter and 5,000 admissions, in
// roster order as DocsNotIn sends them (each admission checks three
// signatures: its own, its invite's and the claim).
func BenchmarkIngest5000(b *testing.B) {
	src := openDB(b)
	f, members := bigNeighborhood(b, src, 5000)
	s0 := f.serviceOn(b, src, f.founder, &clock{t: t0.Add(3 * time.Hour)})
	docs, err := s0.DocsNotIn(nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		s := f.service(b, f.founder, &clock{t: t0.Add(3 * time.Hour)})
		b.StartTimer()
		for _, raw := range docs {
			if _, err := s.IngestDoc(raw); err != nil {
				b.Fatal(err)
			}
		}
		if !s.IsMember(members[4999]) {
			b.Fatal("the roster is wrong")
		}
	}
}

// BenchmarkBuildVoiding5000 is the roster of 5,000 members computed again
// when 20 stewards named by the founder admitted 50 homes each and were
// then removed keeping nothing: each removal voids its target's
// admissions, and costs one more roster computation (see build).
func BenchmarkBuildVoiding5000(b *testing.B) {
	db := openDB(b)
	f, _ := bigNeighborhood(b, db, 5000)
	s := f.serviceOn(b, db, f.founder, &clock{t: t0.Add(10 * time.Hour)})
	var extra []*Doc
	for k := 0; k < 20; k++ {
		st := newHome(b)
		inv := f.invite(f.founder, 2*time.Hour, time.Hour, 1)
		base := 2*time.Hour + time.Duration(k)*time.Minute
		extra = append(extra, f.admit(f.founder, base, inv, st), f.steward(f.founder, base+time.Second, st, true))
		si := f.invite(st, base+2*time.Second, time.Hour, 50)
		for i := 0; i < 50; i++ {
			extra = append(extra, f.admit(st, base+3*time.Second+time.Duration(i)*time.Millisecond, si, newHome(b)))
		}
		extra = append(extra, f.remove(f.founder, 4*time.Hour+time.Duration(k)*time.Second, st))
	}
	ingestAll(b, s, raws(extra...))
	s.mu.RLock()
	es := append([]entry(nil), s.entries...)
	charter := s.charter
	s.mu.RUnlock()
	if n := len(s.Roster()); n != 5001+20 {
		b.Fatalf("roster of %d, want 5,021 (the homes the stewards admitted void)", n)
	}
	for b.Loop() {
		build(charter, es)
	}
}
