package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/api/apitest"
)

func newPeerKey(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id
}

// oneLineError fails unless the command exited with code and printed one
// line on stderr mentioning want.
func oneLineError(t *testing.T, what string, stderr string, code, wantCode int, want string) {
	t.Helper()
	if code != wantCode || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("%s: exit %d, stderr %q; want exit %d and one line mentioning %q", what, code, stderr, wantCode, want)
	}
}

// TestMembershipCLI runs the membership commands of the built binary
// against real API servers over an in-memory neighborhood (package node
// tests the real membership): a founder and a member.
func TestMembershipCLI(t *testing.T) {
	kf, f := newPeerKey(t)
	km, m := newPeerKey(t)
	nb := apitest.NewNeighborhood("Maple St")
	founder := apitest.Start(t, apitest.Options{Key: kf, Name: "12 Maple St", Members: nb.Found(f, "12 Maple St")}).Dir
	member := apitest.Start(t, apitest.Options{Key: km, Name: "14 Maple St", Members: nb.Admit(m, "14 Maple St", f)}).Dir

	// invite create: details, then the invite string as the last line; no
	// QR code when stdout is not a terminal.
	out, stderr, code := cli(t, "--data", founder, "invite", "create", "--expires", "24h", "--uses", "2")
	if code != 0 {
		t.Fatalf("invite create: exit %d %s", code, stderr)
	}
	inv := lastLine(out)
	if !strings.HasPrefix(inv, "porchlight:") || !strings.Contains(out, "admits 2 homes") || strings.ContainsAny(out, "█▀▄") {
		t.Errorf("invite create printed %q", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--expires", "40d"}, "--expires"},
		{[]string{"--expires", "soon"}, "--expires"},
		{[]string{"--uses", "0"}, "--uses"},
		{[]string{"--uses", "101"}, "--uses"},
	} {
		_, stderr, code := cli(t, append([]string{"--data", founder, "invite", "create"}, c.args...)...)
		oneLineError(t, "invite create "+strings.Join(c.args, " "), stderr, code, 2, c.want)
	}

	out, _, code = cli(t, "--data", founder, "invite", "ls", "--json")
	var invs []api.InviteInfo
	if err := json.Unmarshal([]byte(out), &invs); code != 0 || err != nil || len(invs) != 1 || invs[0].Uses != 2 {
		t.Fatalf("invite ls --json: exit %d %v %q", code, err, out)
	}
	if out, _, _ := cli(t, "--data", founder, "invite", "ls"); !strings.Contains(out, invs[0].ID[:12]) || !strings.Contains(out, "0 of 2") || !strings.Contains(out, "active") {
		t.Errorf("invite ls: %q", out)
	}
	_, stderr, code = cli(t, "--data", founder, "invite", "revoke", "abc")
	oneLineError(t, "revoke a short ID", stderr, code, 2, "at least its first 8")
	_, stderr, code = cli(t, "--data", founder, "invite", "revoke", strings.Repeat("0", 16))
	oneLineError(t, "revoke an unknown invite", stderr, code, 2, "no invite")
	if out, stderr, code := cli(t, "--data", founder, "invite", "revoke", invs[0].ID[:8]); code != 0 || !strings.Contains(out, "revoked invite") {
		t.Fatalf("invite revoke: exit %d %q %q", code, out, stderr)
	}
	if out, _, _ := cli(t, "--data", founder, "invite", "ls"); !strings.Contains(out, "revoked") {
		t.Errorf("invite ls after revoke: %q", out)
	}

	// members --json: the fields scripts rely on.
	out, _, code = cli(t, "--data", member, "members", "--json")
	var raw []map[string]any
	if err := json.Unmarshal([]byte(out), &raw); code != 0 || err != nil || len(raw) != 2 {
		t.Fatalf("members --json: exit %d %v %q", code, err, out)
	}
	for _, k := range []string{"peer_id", "name", "invited_by", "joined", "steward", "removed"} {
		if _, ok := raw[1][k]; !ok {
			t.Errorf("members --json lacks %q: %v", k, raw[1])
		}
	}
	if raw[1]["invited_by"] != f.String() || raw[0]["steward"] != true || raw[1]["steward"] != false {
		t.Errorf("members --json = %v", raw)
	}

	// Refusals are one line, exit 2.
	_, stderr, code = cli(t, "--data", member, "members", "remove", f.String(), "--reason", "x")
	oneLineError(t, "a member removes the founder", stderr, code, 2, "only stewards")
	_, stderr, code = cli(t, "--data", member, "members", "steward", "add", m.String())
	oneLineError(t, "a member names itself steward", stderr, code, 2, "only stewards")
	_, stderr, code = cli(t, "--data", founder, "members", "remove", m.String())
	oneLineError(t, "remove without a reason", stderr, code, 2, "--reason")
	_, stderr, code = cli(t, "--data", founder, "members", "remove", "bob", "--reason", "x")
	oneLineError(t, "remove a non-ID", stderr, code, 2, "not a peer ID")
	_, stderr, code = cli(t, "--data", founder, "mute", "bob")
	oneLineError(t, "mute a non-ID", stderr, code, 2, "not a peer ID")

	if out, stderr, code := cli(t, "--data", founder, "members", "steward", "add", m.String()); code != 0 || !strings.Contains(out, "is now a steward") {
		t.Fatalf("steward add: exit %d %q %q", code, out, stderr)
	}
	if out, _, _ := cli(t, "--data", founder, "members"); !strings.Contains(out, "14 Maple St") || strings.Count(out, "steward") != 2 || !strings.Contains(out, "(founder)") {
		t.Errorf("members after steward add:\n%s", out)
	}
	if _, stderr, code := cli(t, "--data", founder, "members", "steward", "remove", m.String()); code != 0 {
		t.Fatalf("steward remove: %s", stderr)
	}
	if out, stderr, code := cli(t, "--data", founder, "mute", m.String()); code != 0 || !strings.Contains(out, "muted") {
		t.Fatalf("mute: exit %d %q %q", code, out, stderr)
	}
	if out, _, _ := cli(t, "--data", founder, "members"); !strings.Contains(out, "muted") {
		t.Errorf("members after mute:\n%s", out)
	}
	if out, stderr, code := cli(t, "--data", founder, "unmute", m.String()); code != 0 || !strings.Contains(out, "unmuted") {
		t.Fatalf("unmute: exit %d %q %q", code, out, stderr)
	}
	if out, stderr, code := cli(t, "--data", founder, "members", "remove", m.String(), "--reason", "moved away"); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("remove: exit %d %q %q", code, out, stderr)
	}
	out, _, _ = cli(t, "--data", member, "members")
	if !strings.Contains(out, "removed "+time.Now().Format(time.DateOnly)+": moved away") {
		t.Errorf("members after the removal:\n%s", out)
	}
}

// TestMembershipCLIOpenNeighborhood: in an open neighborhood every
// membership command is refused with one line that says so, exit 2.
func TestMembershipCLIOpenNeighborhood(t *testing.T) {
	dir := apitest.Start(t, apitest.Options{}).Dir
	_, p := newPeerKey(t)
	for _, args := range [][]string{
		{"members"}, {"invite", "create"}, {"invite", "ls"}, {"invite", "revoke", "0123456789"},
		{"members", "remove", p.String(), "--reason", "x"}, {"members", "steward", "add", p.String()},
		{"mute", p.String()}, {"unmute", p.String()},
	} {
		_, stderr, code := cli(t, append([]string{"--data", dir}, args...)...)
		oneLineError(t, strings.Join(args, " "), stderr, code, 2, "open neighborhood")
	}
}

// TestPrintInviteQR: on a terminal the invite is drawn as a QR code
// between the details and the invite string, which stays the last line.
func TestPrintInviteQR(t *testing.T) {
	inv := api.InviteCreated{ID: strings.Repeat("ab", 32), Invite: "porchlight:" + strings.Repeat("abcdefgh", 50), Expires: time.Now().Add(time.Hour), Uses: 1}
	var b bytes.Buffer
	printInvite(&b, inv, true)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if lines[len(lines)-1] != inv.Invite {
		t.Fatalf("last line %q, want the invite", lines[len(lines)-1])
	}
	if len(lines) < 20 || !strings.ContainsAny(b.String(), "█▀▄") || !strings.Contains(lines[0], "admits 1 home") {
		t.Errorf("no QR code drawn:\n%s", b.String())
	}
}

// TestStatusShowsMembership: status names the neighborhood, its policy and
// this home's standing.
func TestStatusShowsMembership(t *testing.T) {
	k, id := newPeerKey(t)
	nb := apitest.NewNeighborhood("Maple St")
	dir := apitest.Start(t, apitest.Options{Key: k, Members: nb.Found(id, "12 Maple St")}).Dir
	out, stderr, code := cli(t, "--data", dir, "status")
	if code != 0 || !strings.Contains(out, "known as:      Maple St") || !strings.Contains(out, "policy:        invite (member, steward)") {
		t.Errorf("status: exit %d %q\n%s", code, stderr, out)
	}
	out, _, _ = cli(t, "--data", dir, "status", "--json")
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil || st["policy"] != "invite" || st["steward"] != true || st["neighborhood_name"] != "Maple St" {
		t.Errorf("status --json = %v (%v)", st, err)
	}
}
