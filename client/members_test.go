package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/api/apitest"
	"github.com/porchlight-mesh/porchlight/client"
)

func TestAPITestFilesAreTheClients(t *testing.T) {
	if apitest.AddrFile != client.AddrFile || apitest.TokenFile != client.TokenFile {
		t.Fatalf("apitest writes %s and %s; the client reads %s and %s", apitest.AddrFile, apitest.TokenFile, client.AddrFile, client.TokenFile)
	}
}

func keyAndID(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id
}

func fromDir(t *testing.T, s *apitest.Server) *client.Client {
	t.Helper()
	c, err := client.FromDataDir(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMembershipCalls drives every membership method against a real API
// over an in-memory neighborhood: a founder, a member and a newcomer.
func TestMembershipCalls(t *testing.T) {
	ctx := ctxFor(t)
	kf, f := keyAndID(t)
	km, m := keyAndID(t)
	kn, n := keyAndID(t)
	nb := apitest.NewNeighborhood("Maple St")
	founder := fromDir(t, apitest.Start(t, apitest.Options{Key: kf, Members: nb.Found(f, "12 Maple St")}))
	member := fromDir(t, apitest.Start(t, apitest.Options{Key: km, Name: "14 Maple St", Members: nb.Admit(m, "14 Maple St", f)}))
	newcomer := fromDir(t, apitest.Start(t, apitest.Options{Key: kn, Name: "16 Maple St", Members: nb.Newcomer(n, "16 Maple St")}))

	st, err := newcomer.Status(ctx)
	if err != nil || st.Policy != "invite" || st.Member || !strings.HasPrefix(st.Membership, "pending") {
		t.Fatalf("newcomer status = %+v, %v", st, err)
	}
	inv, err := founder.CreateInvite(ctx, api.NewInviteJSON{Expires: "24h", Uses: 1})
	if err != nil || !strings.HasPrefix(inv.Invite, "porchlight:") || !strings.HasPrefix(inv.QRSVG, "<svg") {
		t.Fatalf("CreateInvite = %+v, %v", inv, err)
	}
	if _, err := newcomer.Join(ctx, "porchlight:garbled"); !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "garbled") {
		t.Fatalf("Join garbled: %v", err)
	}
	if st, err := newcomer.Join(ctx, inv.Invite); err != nil || !st.Member {
		t.Fatalf("Join = %+v, %v", st, err)
	}
	if _, err := newcomer.Join(ctx, inv.Invite); !errors.Is(err, client.ErrAlreadyMember) {
		t.Fatalf("second Join: %v", err)
	}
	invs, err := founder.Invites(ctx)
	if err != nil || len(invs) != 1 || invs[0].Used != 1 {
		t.Fatalf("Invites = %+v, %v", invs, err)
	}
	if err := founder.RevokeInvite(ctx, invs[0].ID[:8]); err != nil {
		t.Fatal(err)
	}
	if err := founder.RevokeInvite(ctx, strings.Repeat("f", 64)); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}

	if err := member.RemoveMember(ctx, n.String(), "spam"); !errors.Is(err, client.ErrForbidden) || !strings.Contains(err.Error(), "only stewards") {
		t.Fatalf("non-steward RemoveMember: %v", err)
	}
	if err := member.SetSteward(ctx, m.String(), true); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("non-steward SetSteward: %v", err)
	}
	if err := founder.SetSteward(ctx, m.String(), true); err != nil {
		t.Fatal(err)
	}
	if err := member.RemoveMember(ctx, n.String(), "moved away"); err != nil {
		t.Fatal(err)
	}
	roster, err := newcomer.Members(ctx)
	if err != nil || len(roster) != 3 || !roster[1].Steward || !roster[2].Removed || roster[2].Reason != "moved away" || roster[2].RemovedBy != m.String() {
		t.Fatalf("Members = %+v, %v", roster, err)
	}

	if err := member.Mute(ctx, f.String()); err != nil {
		t.Fatal(err)
	}
	if mutes, err := member.Mutes(ctx); err != nil || len(mutes) != 1 || mutes[0] != f.String() {
		t.Fatalf("Mutes = %v, %v", mutes, err)
	}
	if err := member.Unmute(ctx, f.String()); err != nil {
		t.Fatal(err)
	}
	if mutes, err := member.Mutes(ctx); err != nil || len(mutes) != 0 {
		t.Fatalf("Mutes after Unmute = %v, %v", mutes, err)
	}

	open := fromDir(t, apitest.Start(t, apitest.Options{}))
	if _, err := open.Members(context.Background()); !errors.Is(err, client.ErrNoMembership) {
		t.Fatalf("Members on an open neighborhood: %v", err)
	}
}
