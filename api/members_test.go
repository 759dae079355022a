package api_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/api/apitest"
)

// call sends a request with the token (and a JSON body for POST) to an
// apitest server and returns the status and decoded error code.
func call(t *testing.T, s *apitest.Server, method, path string, in, out any) (int, string) {
	t.Helper()
	var body io.Reader
	if in != nil || method == "POST" {
		if in == nil {
			in = struct{}{}
		}
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct{ Error, Code string }
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
			t.Fatalf("%s %s: %d with a body that is not an API error: %s", method, path, resp.StatusCode, b)
		}
		return resp.StatusCode, e.Code
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, ""
}

func newKey(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id
}

// street is a neighborhood of three fake nodes behind real API servers:
// the founder (a steward), a member, and a newcomer not yet admitted.
type street struct {
	nb                         *apitest.Neighborhood
	founder, member, newcomer  *apitest.Server
	founderID, memberID, newID peer.ID
}

func newStreet(t *testing.T) street {
	kf, f := newKey(t)
	km, m := newKey(t)
	kn, n := newKey(t)
	nb := apitest.NewNeighborhood("Maple St")
	return street{nb: nb, founderID: f, memberID: m, newID: n,
		founder:  apitest.Start(t, apitest.Options{Key: kf, Name: "12 Maple St", Members: nb.Found(f, "12 Maple St")}),
		member:   apitest.Start(t, apitest.Options{Key: km, Name: "14 Maple St", Members: nb.Admit(m, "14 Maple St", f)}),
		newcomer: apitest.Start(t, apitest.Options{Key: kn, Name: "16 Maple St", Members: nb.Newcomer(n, "16 Maple St")}),
	}
}

// membersRoutes are the membership routes with a concrete path each.
func membersRoutes(p peer.ID) [][2]string {
	return [][2]string{
		{"GET", "/api/v1/members"},
		{"POST", "/api/v1/members/" + p.String() + "/remove"},
		{"POST", "/api/v1/members/" + p.String() + "/steward"},
		{"POST", "/api/v1/invites"},
		{"GET", "/api/v1/invites"},
		{"POST", "/api/v1/invites/0123456789abcdef/revoke"},
		{"GET", "/api/v1/mutes"},
		{"POST", "/api/v1/mutes/" + p.String()},
		{"DELETE", "/api/v1/mutes/" + p.String()},
		{"POST", "/api/v1/join"},
	}
}

// TestMembersRoutesNeedToken: with membership on, every membership route
// refuses a request without the token or with a foreign Origin, before
// it acts (TestEveryRouteIsGuarded checks the rest of the guard).
func TestMembersRoutesNeedToken(t *testing.T) {
	st := newStreet(t)
	for _, r := range membersRoutes(st.memberID) {
		var body io.Reader
		if r[0] == "POST" {
			body = strings.NewReader(`{"reason":"x","invite":"porchlight:x"}`)
		}
		req, _ := http.NewRequest(r[0], st.founder.URL+r[1], body)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", r[0], r[1], resp.StatusCode)
		}
	}
	if roster := roster(t, st.founder); len(roster) != 2 || roster[1].Removed {
		t.Fatalf("the refused requests changed the roster: %+v", roster)
	}
}

// TestMembersOpenNeighborhood: without Members every membership route
// answers 404 no_membership with a message naming the open policy.
func TestMembersOpenNeighborhood(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	_, p := newKey(t)
	for _, r := range membersRoutes(p) {
		code, c := call(t, s, r[0], r[1], nil, nil)
		if code != 404 || c != "no_membership" {
			t.Errorf("%s %s on an open neighborhood: %d %q, want 404 no_membership", r[0], r[1], code, c)
		}
	}
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/members", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "this node has no membership (open neighborhood)") {
		t.Errorf("message %s does not say the neighborhood is open", b)
	}
	var status api.Status
	if code, _ := call(t, s, "GET", "/api/v1/status", nil, &status); code != 200 || status.Policy != "open" || status.Membership != "open" || status.Member {
		t.Errorf("open status = %+v", status)
	}
}

func roster(t *testing.T, s *apitest.Server) []api.MemberInfo {
	t.Helper()
	var out []api.MemberInfo
	if code, c := call(t, s, "GET", "/api/v1/members", nil, &out); code != 200 {
		t.Fatalf("GET members: %d %s", code, c)
	}
	return out
}

// TestMembersJSON: the roster's JSON carries every field the CLI and UI
// show, with times in UTC; status carries the membership fields.
func TestMembersJSON(t *testing.T) {
	st := newStreet(t)
	var raw []map[string]any
	if code, c := call(t, st.member, "GET", "/api/v1/members", nil, &raw); code != 200 {
		t.Fatalf("%d %s", code, c)
	}
	if len(raw) != 2 {
		t.Fatalf("roster = %v", raw)
	}
	for _, k := range []string{"peer_id", "name", "invited_by", "admitted_by", "joined", "steward", "founder", "removed", "muted"} {
		if _, ok := raw[1][k]; !ok {
			t.Errorf("member JSON lacks %q: %v", k, raw[1])
		}
	}
	if _, ok := raw[1]["removed_at"]; ok {
		t.Errorf("a member not removed has removed_at: %v", raw[1])
	}
	if raw[0]["peer_id"] != st.founderID.String() || raw[0]["founder"] != true || raw[0]["steward"] != true ||
		raw[1]["invited_by"] != st.founderID.String() || raw[1]["name"] != "14 Maple St" {
		t.Errorf("roster = %v", raw)
	}
	if j, _ := raw[1]["joined"].(string); !strings.HasSuffix(j, "Z") {
		t.Errorf("joined %q is not UTC", j)
	}
	for _, c := range []struct {
		s               *apitest.Server
		member, steward bool
		membership      string
	}{
		{st.founder, true, true, "member"},
		{st.member, true, false, "member"},
		{st.newcomer, false, false, "pending: "},
	} {
		var status map[string]any
		call(t, c.s, "GET", "/api/v1/status", nil, &status)
		if status["policy"] != "invite" || status["neighborhood_name"] != "Maple St" || status["member"] != c.member ||
			status["steward"] != c.steward || !strings.HasPrefix(status["membership"].(string), c.membership) || status["neighborhood"] == "" {
			t.Errorf("status of %s = %v", status["name"], status)
		}
	}
}

// TestMembersRemoveAndSteward: only a steward removes or names stewards
// (403 forbidden with the rule); reasons and peer IDs are checked (400);
// an unknown member is 404; a removal shows on every roster.
func TestMembersRemoveAndSteward(t *testing.T) {
	st := newStreet(t)
	remove := func(s *apitest.Server, p string, reason any) (int, string) {
		return call(t, s, "POST", "/api/v1/members/"+p+"/remove", map[string]any{"reason": reason}, nil)
	}
	_, stranger := newKey(t)
	cases := []struct {
		name   string
		s      *apitest.Server
		peer   string
		reason any
		status int
		code   string
	}{
		{"non-steward removes", st.member, st.founderID.String(), "spam", 403, "forbidden"},
		{"steward removes the founder", st.founder, st.founderID.String(), "x", 403, "forbidden"},
		{"no reason", st.founder, st.memberID.String(), "  ", 400, "bad_request"},
		{"reason too long", st.founder, st.memberID.String(), strings.Repeat("é", 281), 400, "bad_request"},
		{"not a peer ID", st.founder, "bob", "spam", 400, "bad_request"},
		{"reason of the wrong type", st.founder, st.memberID.String(), 7, 400, "bad_request"},
		{"not a member", st.founder, stranger.String(), "spam", 404, "not_found"},
	}
	for _, c := range cases {
		if code, ec := remove(c.s, c.peer, c.reason); code != c.status || ec != c.code {
			t.Errorf("%s: %d %q, want %d %q", c.name, code, ec, c.status, c.code)
		}
	}
	if code, ec := call(t, st.member, "POST", "/api/v1/members/"+st.memberID.String()+"/steward", api.StewardJSON{Steward: true}, nil); code != 403 || ec != "forbidden" {
		t.Errorf("non-steward names itself steward: %d %q", code, ec)
	}
	if code, ec := call(t, st.founder, "POST", "/api/v1/members/"+st.founderID.String()+"/steward", api.StewardJSON{Steward: false}, nil); code != 403 {
		t.Errorf("unname the founder: %d %q", code, ec)
	}
	var out map[string]any
	if code, ec := call(t, st.founder, "POST", "/api/v1/members/"+st.memberID.String()+"/steward", api.StewardJSON{Steward: true}, &out); code != 200 || out["steward"] != true {
		t.Fatalf("name a steward: %d %q %v", code, ec, out)
	}
	if r := roster(t, st.member); !r[1].Steward {
		t.Errorf("the new steward is not marked: %+v", r[1])
	}
	if code, ec := remove(st.founder, st.memberID.String(), " moved away "); code != 200 {
		t.Fatalf("steward removes a member: %d %q", code, ec)
	}
	for _, s := range []*apitest.Server{st.founder, st.member, st.newcomer} {
		r := roster(t, s)
		m := r[1]
		if !m.Removed || m.Reason != "moved away" || m.RemovedBy != st.founderID.String() || m.RemovedAt.IsZero() || m.Steward {
			t.Errorf("roster after the removal: %+v", m)
		}
	}
}

// TestInvites: create (bounds checked, QR code drawn), list, revoke by a
// prefix; garbled IDs are 400, unknown ones 404; a newcomer joins with
// the invite and shows on every roster; a used-up or garbled invite is
// 400 with the reason, a second join 409.
func TestInvites(t *testing.T) {
	st := newStreet(t)
	for _, in := range []api.NewInviteJSON{{Expires: "40d"}, {Expires: "-1h"}, {Expires: "soon"}, {Uses: 101}, {Uses: -1}} {
		if code, ec := call(t, st.founder, "POST", "/api/v1/invites", in, nil); code != 400 || ec != "bad_request" {
			t.Errorf("invite %+v: %d %q, want 400", in, code, ec)
		}
	}
	var inv api.InviteCreated
	if code, ec := call(t, st.founder, "POST", "/api/v1/invites", api.NewInviteJSON{}, &inv); code != 201 {
		t.Fatalf("create invite: %d %q", code, ec)
	}
	if !strings.HasPrefix(inv.Invite, "porchlight:") || inv.Uses != 1 || time.Until(inv.Expires) < 71*time.Hour || time.Until(inv.Expires) > 72*time.Hour {
		t.Errorf("invite with defaults = %+v", inv)
	}
	checkQR(t, inv.QRSVG, inv.Invite)

	var two api.InviteCreated
	call(t, st.member, "POST", "/api/v1/invites", api.NewInviteJSON{Expires: "7d", Uses: 2}, &two)
	if two.Uses != 2 || time.Until(two.Expires) < 6*24*time.Hour {
		t.Errorf("invite for 7d, 2 uses = %+v", two)
	}
	var list []api.InviteInfo
	call(t, st.member, "GET", "/api/v1/invites", nil, &list)
	if len(list) != 1 || list[0].ID != two.ID || list[0].Uses != 2 || list[0].Used != 0 || list[0].Revoked {
		t.Errorf("member's invites = %+v", list)
	}
	for _, c := range []struct {
		id     string
		status int
	}{{"xyz", 400}, {"0123", 400}, {strings.Repeat("0", 64), 404}} {
		if code, _ := call(t, st.member, "POST", "/api/v1/invites/"+c.id+"/revoke", nil, nil); code != c.status {
			t.Errorf("revoke %q: %d, want %d", c.id, code, c.status)
		}
	}
	if code, ec := call(t, st.member, "POST", "/api/v1/invites/"+strings.ToUpper(two.ID[:10])+"/revoke", nil, nil); code != 200 {
		t.Fatalf("revoke by prefix: %d %q", code, ec)
	}
	call(t, st.member, "GET", "/api/v1/invites", nil, &list)
	if !list[0].Revoked {
		t.Errorf("after revoke: %+v", list)
	}

	for _, c := range []struct {
		invite string
		status int
	}{{"", 400}, {"hello", 400}, {"porchlight:abc", 400}, {two.Invite, 400}, {strings.Repeat("a", 5000), 400}} {
		if code, ec := call(t, st.newcomer, "POST", "/api/v1/join", api.JoinJSON{Invite: c.invite}, nil); code != c.status || ec != "bad_request" {
			t.Errorf("join with %.20q: %d %q, want %d bad_request", c.invite, code, ec, c.status)
		}
	}
	var status api.Status
	if code, ec := call(t, st.newcomer, "POST", "/api/v1/join", api.JoinJSON{Invite: " " + inv.Invite + "\n"}, &status); code != 200 || !status.Member {
		t.Fatalf("join: %d %q %+v", code, ec, status)
	}
	for _, s := range []*apitest.Server{st.founder, st.member, st.newcomer} {
		r := roster(t, s)
		if len(r) != 3 || r[2].PeerID != st.newID.String() || r[2].InvitedBy != st.founderID.String() {
			t.Errorf("roster after the join: %+v", r)
		}
	}
	if code, ec := call(t, st.newcomer, "POST", "/api/v1/join", api.JoinJSON{Invite: inv.Invite}, nil); code != 409 || ec != "already_member" {
		t.Errorf("second join: %d %q, want 409 already_member", code, ec)
	}
	call(t, st.founder, "GET", "/api/v1/invites", nil, &list)
	if len(list) != 1 || list[0].Used != 1 {
		t.Errorf("founder's invites after the join: %+v", list)
	}
}

// TestMutes: mute and unmute are idempotent, listed, marked on the roster
// of this home only; muting oneself is refused.
func TestMutes(t *testing.T) {
	st := newStreet(t)
	p := st.memberID.String()
	for range 2 {
		var m api.MuteJSON
		if code, ec := call(t, st.founder, "POST", "/api/v1/mutes/"+p, nil, &m); code != 200 || !m.Muted || m.PeerID != p {
			t.Fatalf("mute: %d %q %+v", code, ec, m)
		}
	}
	var muted []string
	call(t, st.founder, "GET", "/api/v1/mutes", nil, &muted)
	if len(muted) != 1 || muted[0] != p {
		t.Errorf("mutes = %v", muted)
	}
	if r := roster(t, st.founder); !r[1].Muted || r[0].Muted {
		t.Errorf("founder's roster = %+v", r)
	}
	if r := roster(t, st.member); r[1].Muted {
		t.Errorf("a mute showed on another home: %+v", r)
	}
	if code, ec := call(t, st.founder, "POST", "/api/v1/mutes/"+st.founderID.String(), nil, nil); code != 400 {
		t.Errorf("mute oneself: %d %q, want 400", code, ec)
	}
	if code, ec := call(t, st.founder, "POST", "/api/v1/mutes/bob", nil, nil); code != 400 {
		t.Errorf("mute a non-ID: %d %q, want 400", code, ec)
	}
	for range 2 {
		var m api.MuteJSON
		if code, _ := call(t, st.founder, "DELETE", "/api/v1/mutes/"+p, nil, &m); code != 200 || m.Muted {
			t.Fatalf("unmute: %d %+v", code, m)
		}
	}
	call(t, st.founder, "GET", "/api/v1/mutes", nil, &muted)
	if len(muted) != 0 {
		t.Errorf("mutes after unmute = %v", muted)
	}
}

// TestMembersErrorMapping: the typed errors of Members become 403 and 400
// with their own message; other errors stay 500 without detail.
func TestMembersErrorMapping(t *testing.T) {
	s := apitest.Start(t, apitest.Options{Members: failing{}})
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v1/invites", 403, "forbidden"},
		{"/api/v1/join", 400, "bad_request"},
		{"/api/v1/invites/0123456789/revoke", 500, "internal"},
	} {
		in := any(nil)
		if c.path == "/api/v1/join" {
			in = api.JoinJSON{Invite: "porchlight:x"}
		}
		if code, ec := call(t, s, "POST", c.path, in, nil); code != c.status || ec != c.code {
			t.Errorf("POST %s: %d %q, want %d %q", c.path, code, ec, c.status, c.code)
		}
	}
}

// failing is a Members whose every method fails in a set way.
type failing struct{ api.Members }

func (failing) CreateInvite(time.Duration, int) (api.InviteCreated, error) {
	return api.InviteCreated{}, &api.ForbiddenError{Err: errors.New("only stewards may invite here")}
}
func (failing) Join(context.Context, string) error {
	return &api.BadRequestError{Err: errors.New("invite is garbled: bad base32")}
}
func (failing) RevokeInvite(string) error { return errors.New("disk on fire") }

// checkQR: the SVG is XML of <rect>s that draw exactly the QR code of
// want (the same modules go-qrcode computes), on a white background.
func checkQR(t *testing.T, svg, want string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	var size, rects int
	var drawn map[[2]int]bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the QR SVG is not XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attr := map[string]string{}
		for _, a := range se.Attr {
			attr[a.Name.Local] = a.Value
		}
		switch se.Name.Local {
		case "svg":
			if se.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("svg namespace %q", se.Name.Space)
			}
			var w, h int
			if _, err := fmt.Sscanf(attr["viewBox"], "0 0 %d %d", &w, &h); err != nil || w != h {
				t.Fatalf("viewBox %q", attr["viewBox"])
			}
			size, drawn = w, map[[2]int]bool{}
		case "rect":
			if attr["fill"] == "#fff" {
				continue
			}
			rects++
			x, err1 := strconv.Atoi(attr["x"])
			y, err2 := strconv.Atoi(attr["y"])
			w, err3 := strconv.Atoi(attr["width"])
			if err := errors.Join(err1, err2, err3); err != nil || attr["height"] != "1" {
				t.Fatalf("rect %v: %v", attr, err)
			}
			for i := x; i < x+w; i++ {
				drawn[[2]int{i, y}] = true
			}
		default:
			if se.Name.Local != "g" {
				t.Errorf("unexpected element <%s> in the QR SVG", se.Name.Local)
			}
		}
	}
	if rects < 50 {
		t.Fatalf("the QR SVG has %d rects", rects)
	}
	q, err := qrcode.New(want, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bm := q.Bitmap()
	if len(bm) != size {
		t.Fatalf("QR SVG is %d modules wide, the code %d", size, len(bm))
	}
	for y, row := range bm {
		for x, dark := range row {
			if drawn[[2]int{x, y}] != dark {
				t.Fatalf("module (%d,%d): drawn %v, want %v", x, y, drawn[[2]int{x, y}], dark)
			}
		}
	}
	if strings.Contains(svg, "http:") && strings.Count(svg, "http://") != 1 || strings.Contains(svg, "href") || strings.Contains(svg, "<script") {
		t.Error("the QR SVG refers to something outside itself")
	}
}

// TestFeedMarksRemovedAndHidesMuted: a removed author's posts stay,
// marked author_removed; a muted author's posts are left out of this
// home's feed only.
func TestFeedMarksRemovedAndHidesMuted(t *testing.T) {
	kf, f := newKey(t)
	km, m := newKey(t)
	nb := apitest.NewNeighborhood("Maple St")
	founder := nb.Found(f, "12 Maple St")
	self := nb.Admit(m, "14 Maple St", f)
	s := apitest.Start(t, apitest.Options{Key: km, Members: self})
	other := apitest.Start(t, apitest.Options{Key: kf, Members: founder})
	if code, ec := call(t, s, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "general", Text: "lost cat"}, nil); code != 201 {
		t.Fatalf("post: %d %q", code, ec)
	}
	feed := func() []map[string]any {
		var out []map[string]any
		if code, ec := call(t, s, "GET", "/api/v1/feed", nil, &out); code != 200 {
			t.Fatalf("feed: %d %q", code, ec)
		}
		return out
	}
	if p := feed(); len(p) != 1 || p[0]["author_removed"] != false {
		t.Fatalf("feed = %v", p)
	}
	if code, ec := call(t, other, "POST", "/api/v1/members/"+m.String()+"/remove", api.RemoveJSON{Reason: "moved away"}, nil); code != 200 {
		t.Fatalf("remove: %d %q", code, ec)
	}
	if p := feed(); len(p) != 1 || p[0]["author_removed"] != true {
		t.Fatalf("feed after the removal = %v", p)
	}
	// The founder's post reaches this home; muting the founder hides it
	// here only.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := other.Mesh.Connect(ctx, peer.AddrInfo{ID: s.Peer, Addrs: s.Mesh.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	if code, ec := call(t, other, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "general", Text: "found keys"}, nil); code != 201 {
		t.Fatalf("founder's post: %d %q", code, ec)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(feed()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the founder's post never arrived: %v", feed())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, ec := call(t, s, "POST", "/api/v1/mutes/"+f.String(), nil, nil); code != 200 && code != 204 {
		t.Fatalf("mute: %d %q", code, ec)
	}
	if p := feed(); len(p) != 1 || p[0]["author"] != m.String() {
		t.Fatalf("feed with the founder muted = %v", p)
	}
}
