// Package demo runs Porchlight's whole story in one process: six homes on a
// street, invite-only, and an agency that is not a member, each a real node
// (real libp2p on 127.0.0.1, its own Badger store in a fresh temporary data
// directory), narrated step by step. The first home founds the street and
// the others join by invites; the agency's issuer is an offline key whose
// credential lets the agency in for requests only, never the feed.
// `porchlight demo` runs it; every step is checked with a deadline, so
// `porchlight demo --exit` doubles as an end-to-end test.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/internal/sampleclips"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/sharing"
)

// Config configures Run. Zero values mean the default.
type Config struct {
	// Out receives the narration. Default os.Stdout.
	Out io.Writer
	// MDNS makes the homes find each other by mDNS instead of dialling
	// each other directly (the agency dials them once its credential is
	// published). It needs working multicast on this host.
	MDNS bool
	// StepTimeout bounds each step. Default 45s.
	StepTimeout time.Duration
	// Logger for the nodes. Default: warnings and errors to stderr.
	Logger *slog.Logger
	// Dir is where the temporary data directories are made. Default os.TempDir().
	Dir string
}

// StepError says which step of the story did not hold.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("demo step %q failed: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// streetName is the name of the neighborhood the first home founds.
const streetName = "Maple St"

// The street runs north from here; homes stand at these distances (meters).
var (
	streetStart = geo.Point{Lat: 40.7128, Lon: -74.0060}
	homeMeters  = []float64{0, 90, 180, 420, 510, 600}
	homeNames   = []string{"2 Maple St", "4 Maple St", "6 Maple St", "8 Maple St", "10 Maple St", "12 Maple St"}
	// invitedBy[i] is the home whose invite home i joins with (the first
	// home founds the street). 6 Maple St invites 12 Maple St: any member
	// may invite, not only the founder.
	invitedBy = []int{-1, 0, 0, 0, 0, 2}
)

func north(p geo.Point, m float64) geo.Point {
	return geo.Point{Lat: p.Lat + m/111_195, Lon: p.Lon}
}

// member is one running node of the demo.
type member struct {
	name string
	dir  string
	n    *node.Node
	clip record.ID      // the home's camera clip (homes only)
	cl   *client.Client // its local API, as its web UI and CLI use it (nil: no API)
}

// api is the member's local API client.
func (m *member) api() *client.Client { return m.cl }

// Demo is a finished story whose nodes are still running.
type Demo struct {
	cfg    Config
	root   string
	homes  []*member
	agency *member
	rogue  *member
	Agency peer.ID
}

// Run tells the story and returns the running demo; the caller prints
// login links, waits, and calls Close. On failure every node is already
// closed and the error is a *StepError.
func Run(ctx context.Context, cfg Config) (d *Demo, err error) {
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = 45 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	root, err := os.MkdirTemp(cfg.Dir, "porchlight-demo-")
	if err != nil {
		return nil, &StepError{"start", err}
	}
	d = &Demo{cfg: cfg, root: root}
	defer func() {
		if err != nil {
			d.Close()
			d = nil
		}
	}()
	s := &story{Demo: d, ctx: ctx}
	steps := []struct {
		name string
		run  func() error
	}{
		{"a home founds the street and invites its neighbors", s.found},
		{"a neighbor posts", s.post},
		{"the agency publishes a request", s.request},
		{"covered homes see the request and their clips", s.match},
		{"two homes share, one declines", s.share},
		{"the agency fetches and verifies the evidence", s.evidence},
		{"a forged request is rejected", s.forged},
		{"the agency's public history", s.history},
	}
	for i, st := range steps {
		if err := ctx.Err(); err != nil {
			return d, &StepError{st.name, err}
		}
		s.printf("\n== %d. %s\n", i+1, capitalize(st.name))
		began := time.Now()
		if err := st.run(); err != nil {
			s.printf("   FAILED: %v\n", err)
			return d, &StepError{st.name, err}
		}
		s.printf("   ok (%.1fs)\n", time.Since(began).Seconds())
	}
	return d, nil
}

// Link is a one-time browser login link to one node's web UI.
type Link struct {
	Name, URL, DataDir string
}

// LoginLinks asks two homes and the agency for one-time login links.
func (d *Demo) LoginLinks(ctx context.Context) ([]Link, error) {
	var out []Link
	for _, m := range []*member{d.homes[0], d.homes[3], d.agency} {
		res, err := m.api().CreateLoginLink(ctx)
		if err != nil {
			return nil, fmt.Errorf("login link for %s: %w", m.name, err)
		}
		out = append(out, Link{Name: m.name, URL: res.URL, DataDir: m.dir})
	}
	return out, nil
}

// Root is the temporary directory holding every node's data directory.
func (d *Demo) Root() string { return d.root }

// Close stops every node and removes the temporary data directories.
func (d *Demo) Close() error {
	var errs []error
	for _, m := range d.all() {
		if m != nil && m.n != nil {
			errs = append(errs, m.n.Close())
		}
	}
	if d.rogue != nil && d.rogue.n != nil {
		errs = append(errs, d.rogue.n.Close())
	}
	errs = append(errs, os.RemoveAll(d.root))
	return errors.Join(errs...)
}

func (d *Demo) all() []*member {
	return append(append([]*member{}, d.homes...), d.agency)
}

// story holds what the steps pass on to each other.
type story struct {
	*Demo
	ctx       context.Context
	issuerKey crypto.PrivKey // offline: no node holds it
	trusted   []string       // the issuers the homes trust: the issuer's ID
	charter   string         // the street's charter ID, signed by its first home
	nb        string         // the street's neighborhood ID, derived from the charter
	req       *record.Signed
	from, to  time.Time
	area      requests.Area
	shared    []*member
	declined  *member
}

func (s *story) printf(format string, args ...any) { fmt.Fprintf(s.cfg.Out, format, args...) }

// waitFor polls cond until it holds or the step's deadline passes.
func (s *story) waitFor(what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.StepTimeout)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok && err == nil {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%s: not within %s (last error: %v)", what, s.cfg.StepTimeout, last)
			}
			return fmt.Errorf("%s: not within %s", what, s.cfg.StepTimeout)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// homeConfig is the config of a home or an agency on the street.
func (s *story) homeConfig(name, location string, trusted []string) node.Config {
	return node.Config{
		Name: name, Location: location, Charter: s.charter, Neighborhood: s.nb,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, API: "127.0.0.1:0",
		TrustedIssuers: trusted, DisableMDNS: !s.cfg.MDNS,
	}
}

// initOutsider initializes the data directory of a node that is not a
// member (an agency): it names the street's charter and neighborhood, and
// dials only the peers it is told to (no mDNS: it must not reach a home
// before its credential is published, or the home refuses it for a while).
func (s *story) initOutsider(name string, trusted []string, api string) (string, error) {
	dir := filepath.Join(s.root, slug(name))
	cfg := s.homeConfig(name, "", trusted)
	cfg.API, cfg.DisableMDNS = api, true
	if err := node.Init(dir, cfg); err != nil {
		return "", fmt.Errorf("init %s: %w", name, err)
	}
	return dir, nil
}

// startNode starts a node in an initialized data directory.
func (s *story) startNode(name, dir string, peers []string) (*member, error) {
	n, err := node.Start(node.Options{Dir: dir, Peers: peers, Logger: s.cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	m := &member{name: name, dir: dir, n: n}
	if n.Config.API != "off" {
		if m.cl, err = client.FromDataDir(dir); err != nil {
			n.Close()
			return nil, fmt.Errorf("%s's API: %w", name, err)
		}
	}
	return m, nil
}

// addrOf is the first of a member's dialable addresses, with /p2p/ID.
func addrOf(m *member) string {
	addrs := m.n.Mesh().Addrs()
	if len(addrs) == 0 {
		return ""
	}
	if _, err := addrs[0].ValueForProtocol(ma.P_P2P); err == nil {
		return addrs[0].String()
	}
	return addrs[0].String() + "/p2p/" + m.n.ID().String()
}

// found has the first home found the street and the others join it by
// invites; then the agency, certified by an offline issuer, publishes its
// credential and dials the homes, which let it in for requests only.
func (s *story) found() error {
	var err error
	s.issuerKey, _, err = crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	issuerID, _ := peer.IDFromPrivateKey(s.issuerKey)
	s.trusted = []string{issuerID.String()}
	if s.cfg.MDNS {
		s.printf("   Discovery: mDNS (--mdns); the homes find each other by multicast on this host.\n")
	} else {
		s.printf("   Discovery: direct dialling on 127.0.0.1 (mDNS off: multicast is often unusable on a dev machine; try --mdns on a LAN).\n")
	}
	// Without mDNS each home dials those started before it: a full mesh.
	var peers []string
	for i, name := range homeNames {
		p := north(streetStart, homeMeters[i])
		cfg := s.homeConfig(name, fmt.Sprintf("%.6f,%.6f", p.Lat, p.Lon), s.trusted)
		dir := filepath.Join(s.root, slug(name))
		if i == 0 {
			saved, err := node.Found(dir, cfg, streetName, "any")
			if err != nil {
				return fmt.Errorf("%s founds %s: %w", name, streetName, err)
			}
			s.charter, s.nb = saved.Charter, saved.Neighborhood
		} else if err := s.join(dir, cfg, s.homes[invitedBy[i]]); err != nil {
			return err
		}
		m, err := s.startNode(name, dir, peers)
		if err != nil {
			return err
		}
		s.homes = append(s.homes, m)
		if !s.cfg.MDNS {
			peers = append(peers, addrOf(m))
		}
	}
	s.printf("   %s\n", foundingLine())

	// The agency: not a member. Its credential must be in its node before
	// it dials a home, since the handshake is judged from what it shows.
	dir, err := s.initOutsider("Springfield PD", s.trusted, "127.0.0.1:0")
	if err != nil {
		return err
	}
	if s.agency, err = s.startNode("Springfield PD", dir, nil); err != nil {
		return err
	}
	s.Agency = s.agency.n.ID()
	now := time.Now()
	jurisdiction := requests.Area{Center: streetStart, Radius: 5000}
	cred, err := requests.Certify(s.issuerKey, s.Agency, "Springfield PD", jurisdiction, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		return err
	}
	if err := s.agency.n.Mesh().PublishDoc(cred.Raw); err != nil {
		return err
	}
	for _, h := range s.homes {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.StepTimeout)
		err := s.agency.n.Mesh().Connect(ctx, peer.AddrInfo{ID: h.n.ID(), Addrs: h.n.Mesh().Host().Addrs()})
		cancel()
		if err != nil {
			return fmt.Errorf("connect the agency to %s: %w", h.name, err)
		}
	}
	s.printf("   Started 6 homes and an agency (Springfield PD): 7 real nodes, each with its own libp2p identity and Badger store under %s.\n", s.root)
	s.printf("   The County Safety Office, an offline key every home trusts, certifies Springfield PD for 5 km around city hall, for a year;\n")
	s.printf("   the agency's node publishes the credential, then dials the homes.\n")

	if err := s.waitFor("every home connected to the 5 others and the agency", func() (bool, error) {
		// The agency dialled each home once; on a busy machine a home
		// may have dropped it before its handshake: dial again.
		for _, h := range s.homes {
			if s.agency.n.Mesh().Host().Network().Connectedness(h.n.ID()) != network.Connected {
				go func() {
					ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
					defer cancel()
					_ = s.agency.n.Mesh().Connect(ctx, peer.AddrInfo{ID: h.n.ID(), Addrs: h.n.Mesh().Host().Addrs()})
				}()
			}
		}
		for _, h := range s.homes {
			members, agency := 0, false
			for _, p := range h.n.Mesh().Peers() {
				switch {
				case p.Standing == mesh.Member:
					members++
				case p.ID == s.Agency && p.Standing == mesh.Agency:
					agency = true
				}
			}
			if members < len(s.homes)-1 || !agency {
				return false, nil
			}
		}
		return len(s.agency.n.Mesh().Peers()) == len(s.homes), nil
	}); err != nil {
		if s.cfg.MDNS {
			return fmt.Errorf("%w; multicast may not work on this host (see `porchlight doctor`): run the demo without --mdns", err)
		}
		return err
	}
	// Each home computes the roster from the signed documents it holds;
	// all must reach the same one, naming who invited whom.
	want := make([]string, len(s.homes))
	for i, h := range s.homes {
		want[i] = h.n.ID().String() + " invited by "
		if by := invitedBy[i]; by >= 0 {
			want[i] += s.homes[by].n.ID().String()
		}
	}
	slices.Sort(want)
	if err := s.waitFor("the same roster of 6 members on every home", func() (bool, error) {
		for _, h := range s.homes {
			ms, err := h.api().Members(s.ctx)
			if err != nil {
				return false, err
			}
			got := make([]string, 0, len(ms))
			for _, m := range ms {
				if !m.Removed {
					got = append(got, m.PeerID+" invited by "+m.InvitedBy)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	if st := s.agency.n.Status(); st.Member {
		return fmt.Errorf("the agency is a member of the street (status %q)", st.Membership)
	}
	s.printf("   Springfield PD is not a member: the homes let it in for its credential, for requests only, never the feed.\n")
	names := 0
	_ = s.waitFor("neighbors' names known", func() (bool, error) {
		names = 0
		for _, p := range s.homes[0].n.Mesh().Peers() {
			if p.Name != "" {
				names++
			}
		}
		return names == len(s.homes), nil
	})
	s.printf("   Every home lists the same 6 members and is connected to the 5 others and the agency; %s knows %d of them by name.\n", s.homes[0].name, names)
	return nil
}

// join has a new home join the street with an invite from inviter.
func (s *story) join(dir string, cfg node.Config, inviter *member) error {
	inv, err := inviter.api().CreateInvite(s.ctx, api.NewInviteJSON{Uses: 1, Expires: "1h"})
	if err != nil {
		return fmt.Errorf("%s invites %s: %w", inviter.name, cfg.Name, err)
	}
	res, err := node.Join(s.ctx, dir, cfg, inv.Invite)
	if err != nil {
		return fmt.Errorf("%s joins with %s's invite: %w", cfg.Name, inviter.name, err)
	}
	if !res.Admitted {
		return fmt.Errorf("%s was not admitted with %s's invite: no member answered", cfg.Name, inviter.name)
	}
	return nil
}

// foundingLine says who founded the street and who invited whom.
func foundingLine() string {
	invited := map[int][]string{}
	var inviters []int
	for i, by := range invitedBy[1:] {
		if len(invited[by]) == 0 {
			inviters = append(inviters, by)
		}
		invited[by] = append(invited[by], homeNames[i+1])
	}
	parts := make([]string, len(inviters))
	for j, by := range inviters {
		parts[j] = fmt.Sprintf("%s invited by %s", list(invited[by]), homeNames[by])
	}
	return fmt.Sprintf("%s founds %q, invite-only; the other homes join by invites: %s (any member may invite).",
		homeNames[0], streetName, strings.Join(parts, "; "))
}

// list joins words as "a, b and c".
func list(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// post has a neighbor write to the feed and waits until everyone has it.
func (s *story) post() error {
	author := s.homes[4]
	p, err := author.n.Feed().Post(context.Background(), feed.NewPost{Kind: "safety", Text: "Someone was trying car doors on Maple St around 7pm. Lock up tonight!"})
	if err != nil {
		return err
	}
	s.printf("   %s posts (safety): %q\n", author.name, "Someone was trying car doors on Maple St around 7pm. Lock up tonight!")
	if err := s.waitFor("every home has the post", func() (bool, error) {
		for _, m := range s.homes {
			if _, err := m.n.Store().Record(p.ID); err != nil {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	s.printf("   Signed by its author and checked by every home: all 6 have it in their feed.\n")
	if err := s.agencyHasNoFeed(); err != nil {
		return err
	}
	s.printf("   Springfield PD, not a member, holds no record of any home's log: not the post, not a profile.\n")
	return nil
}

// agencyHasNoFeed checks that the agency's node holds nothing of the
// homes' logs (their posts and profiles): the feed goes to members only.
func (s *story) agencyHasNoFeed() error {
	for _, h := range s.homes {
		head, err := s.agency.n.Store().Head(h.n.ID())
		if err != nil {
			return err
		}
		if head.Max != 0 {
			return fmt.Errorf("the agency, not a member, holds %d records of %s's log", head.Max, h.name)
		}
	}
	return nil
}

// request certifies the agency, imports the homes' camera clips and has the
// agency publish a request for a two-hour window over part of the street.
func (s *story) request() error {
	now := time.Now()
	s.to = now.Add(-time.Hour).Truncate(time.Minute)
	s.from = s.to.Add(-2 * time.Hour)
	for i, h := range s.homes {
		b, err := sampleclips.Clip(i + 1)
		if err != nil {
			return err
		}
		start := s.from.Add(time.Duration(15+15*i) * time.Minute)
		m, err := h.n.Clips().Import(s.ctx, bytes.NewReader(b), clips.ImportMeta{
			Camera: "front-door", Start: start, End: start.Add(8 * time.Second), MediaType: sampleclips.MediaType,
		})
		if err != nil {
			return fmt.Errorf("import a clip at %s: %w", h.name, err)
		}
		h.clip = m.ClipID()
	}
	s.printf("   Each home's front-door camera recorded a short clip between %s and %s (imported locally; nothing sent).\n",
		hm(s.from), hm(s.to))

	if err := s.waitFor("every node holds the agency's credential", func() (bool, error) {
		for _, m := range s.all() {
			a, ok, err := m.n.Requests().Agency(s.Agency, time.Now())
			if err != nil || !ok || a.CredentialStatus != requests.StatusValid {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	s.area = requests.Area{Center: north(streetStart, 90), Radius: 200}
	var err error
	s.req, err = s.agency.n.Requests().Create(requests.NewRequest{
		Case: "2026-1142", Incident: "vehicle break-ins", Contact: "det. desk 555-0100",
		Description: "Car doors tried on Maple St; looking for video of a person on foot.",
		Area:        s.area, From: s.from, To: s.to,
	})
	if err != nil {
		return err
	}
	s.printf("   Springfield PD asks for video: case 2026-1142, %s to %s, a 200 m circle over the south end of the street (%.3f sq mi).\n",
		hm(s.from), hm(s.to), s.area.SquareMiles())
	return s.waitFor("every node has the request", func() (bool, error) {
		for _, m := range s.all() {
			if _, err := m.n.Store().Record(s.req.ID); err != nil {
				return false, nil
			}
		}
		return true, nil
	})
}

// match reads each home's view of the request through its own local API,
// as its web UI does.
func (s *story) match() error {
	s.printf("   Each home computes, on its own node, whether it is covered; its location never leaves it.\n")
	for i, h := range s.homes {
		var got api.RequestJSON
		if err := s.waitFor(h.name+" lists the request", func() (bool, error) {
			list, err := h.api().Requests(s.ctx, client.RequestsQuery{})
			if err != nil {
				return false, err
			}
			for _, r := range list {
				if r.ID == s.req.ID.String() {
					got = r
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return err
		}
		wantCovered := i < 3
		if got.CoversHome != wantCovered {
			return fmt.Errorf("%s: covers_home = %v, want %v", h.name, got.CoversHome, wantCovered)
		}
		if wantCovered && got.MatchingClips != 1 {
			return fmt.Errorf("%s: %d matching clips, want 1", h.name, got.MatchingClips)
		}
		if wantCovered {
			s.printf("   %-12s covered: sees the request and 1 of its clips in the window\n", h.name)
		} else {
			s.printf("   %-12s not covered: sees the request in the public list only\n", h.name)
		}
	}
	return nil
}

// share has two covered homes share their clip and the third do nothing.
func (s *story) share() error {
	s.shared = []*member{s.homes[0], s.homes[1]}
	s.declined = s.homes[2]
	for _, h := range s.shared {
		g, delivered, err := h.n.Sharing().Share(s.ctx, s.Agency, []record.ID{h.clip}, s.req.ID, time.Now().Add(7*24*time.Hour))
		if err != nil {
			return fmt.Errorf("%s shares: %w", h.name, err)
		}
		if !delivered {
			return fmt.Errorf("%s's grant was not delivered to the agency", h.name)
		}
		s.printf("   %-12s shares its clip with Springfield PD for 7 days (signed grant %.12s, sent privately)\n", h.name, g.GrantID())
	}
	s.printf("   %-12s declines: it does nothing, so no message is sent and the agency cannot tell.\n", s.declined.name)
	gs, err := s.declined.n.Sharing().Grants()
	if err != nil {
		return err
	}
	if len(gs) != 0 {
		return fmt.Errorf("%s declined but holds %d grants", s.declined.name, len(gs))
	}
	return nil
}

// evidence waits for the agency to fetch the shared clips, then exports
// and verifies each bundle offline.
func (s *story) evidence() error {
	var es []sharing.EvidenceInfo
	if err := s.waitFor("the agency has both shared clips, verified", func() (bool, error) {
		var err error
		es, err = s.agency.n.Sharing().Evidence()
		if err != nil {
			return false, err
		}
		have := 0
		for _, e := range es {
			if e.Manifest != nil {
				have++
			}
		}
		return have == len(s.shared), nil
	}); err != nil {
		return err
	}
	owners := map[peer.ID]bool{}
	for _, e := range es {
		owners[e.Manifest.Owner] = true
	}
	for _, h := range s.shared {
		if !owners[h.n.ID()] {
			return fmt.Errorf("no evidence from %s", h.name)
		}
		entries, err := h.n.Sharing().Audit(10)
		if err != nil {
			return err
		}
		if len(entries) == 0 || !entries[0].Served || entries[0].Peer != s.Agency {
			return fmt.Errorf("%s's access log does not show the agency's fetch: %+v", h.name, entries)
		}
	}
	if owners[s.declined.n.ID()] {
		return fmt.Errorf("the agency holds a clip of %s, which declined", s.declined.name)
	}
	if entries, err := s.declined.n.Sharing().Audit(10); err != nil || len(entries) != 0 {
		return fmt.Errorf("%s declined, yet its access log has %d entries (err %v)", s.declined.name, len(entries), err)
	}
	s.printf("   The agency fetched both clips over /porchlight/clip/1, checking every chunk against the owner's signed manifest.\n")
	s.printf("   Each owner's access log records the transfer; %s's log is empty.\n", s.declined.name)
	for _, e := range es {
		path := filepath.Join(s.root, fmt.Sprintf("evidence-%.8s.tar", e.Manifest.ClipID()))
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		err = s.agency.n.Sharing().ExportEvidence(f, e.Manifest.ClipID())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("export evidence: %w", err)
		}
		sum, err := verifyFile(path)
		if err != nil {
			return fmt.Errorf("verify %s: %w", path, err)
		}
		if sum.CaseNumber != "2026-1142" || sum.Receiver != s.Agency || sum.AgencyName != "Springfield PD" {
			return fmt.Errorf("bundle %s: summary %+v does not name the case and the agency", path, sum)
		}
		s.printf("   Evidence bundle from %s: verified offline (%d bytes of %s, case %s, owner-signed grant).\n",
			s.nameOf(sum.Owner), sum.Size, sum.MediaType, sum.CaseNumber)
		// One changed byte is caught and named.
		if err := tamperedFails(path); err != nil {
			return err
		}
	}
	s.printf("   Changing one byte of a bundle's video makes verification fail and name the clip file.\n")
	return nil
}

func verifyFile(path string) (clips.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return clips.Summary{}, err
	}
	defer f.Close()
	return clips.VerifyBundle(f)
}

// tamperedFails flips one byte of the clip in a copy of the bundle and
// checks that verification fails.
func tamperedFails(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum, err := clips.VerifyBundle(bytes.NewReader(b))
	if err != nil {
		return err
	}
	// The clip's bytes are the bundle's largest run; its WebM magic marks
	// where they start.
	i := bytes.Index(b, []byte{0x1a, 0x45, 0xdf, 0xa3})
	if i < 0 || sum.Size < 200 {
		return errors.New("cannot find the clip inside the bundle")
	}
	b[i+100] ^= 0x01
	_, err = clips.VerifyBundle(bytes.NewReader(b))
	var ve *clips.VerifyError
	switch {
	case err == nil:
		return errors.New("a bundle with a changed byte still verified")
	case !errors.As(err, &ve) || ve.Member != clips.ClipMemberName(sum.MediaType):
		return fmt.Errorf("a changed byte in the clip was reported as %v, not naming %s", err, clips.ClipMemberName(sum.MediaType))
	}
	return nil
}

// forged has a self-made "issuer" certify a rogue key, whose node
// publishes a request and dials every home with that credential: every
// home must refuse it at the handshake, so the request reaches none.
func (s *story) forged() error {
	rogueIssuer, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	rid, _ := peer.IDFromPrivateKey(rogueIssuer)
	before := make([]float64, len(s.homes))
	for i, h := range s.homes {
		if before[i], err = s.refusedNotMember(h); err != nil {
			return err
		}
	}
	dir, err := s.initOutsider("Totally Real PD", []string{rid.String()}, "off")
	if err != nil {
		return err
	}
	if s.rogue, err = s.startNode("Totally Real PD", dir, nil); err != nil {
		return err
	}
	now := time.Now()
	cred, err := requests.Certify(rogueIssuer, s.rogue.n.ID(), "Totally Real PD", requests.Area{Center: streetStart, Radius: 5000}, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		return err
	}
	if err := s.rogue.n.Mesh().PublishDoc(cred.Raw); err != nil {
		return err
	}
	fake, err := s.rogue.n.Requests().Create(requests.NewRequest{
		Case: "X-1", Incident: "urgent", Contact: "reply with all your video",
		Area: s.area, From: s.from, To: s.to,
	})
	if err != nil {
		return err
	}
	s.printf("   \"Totally Real PD\" certifies itself with a key no home trusts, publishes a request over the same street and dials every home.\n")
	dialErrs := make([]error, len(s.homes))
	for i, h := range s.homes {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.StepTimeout)
		// A home may close the connection while it is being set up: the
		// refusal below is what counts.
		dialErrs[i] = s.rogue.n.Mesh().Connect(ctx, peer.AddrInfo{ID: h.n.ID(), Addrs: h.n.Mesh().Host().Addrs()})
		cancel()
	}
	for i, h := range s.homes {
		if err := s.waitFor(h.name+" refuses the rogue at the handshake", func() (bool, error) {
			n, err := s.refusedNotMember(h)
			if err != nil {
				return false, err
			}
			if n > before[i] && h.n.Mesh().Host().Network().Connectedness(s.rogue.n.ID()) != network.Connected {
				return true, nil
			}
			return false, dialErrs[i] // said if it never happens
		}); err != nil {
			return err
		}
		if h.n.Mesh().IsNeighbor(s.rogue.n.ID()) {
			return fmt.Errorf("%s took the rogue for a neighbor", h.name)
		}
		if _, err := h.n.Store().Record(fake.ID); err == nil {
			return fmt.Errorf("%s stored the forged request", h.name)
		}
		if l, err := h.n.Requests().List("", 0); err != nil || len(l) != 1 {
			return fmt.Errorf("%s lists %d requests (err %v), want only the certified one", h.name, len(l), err)
		}
	}
	s.printf("   All 6 homes refused it at the handshake (not a member, and its credential's issuer is not one they trust); none received its request.\n")
	return nil
}

// refusedNotMember is how many peers h has refused for showing neither a
// membership nor a trusted credential, from its metrics.
func (s *story) refusedNotMember(h *member) (float64, error) {
	const metric = `porchlight_peers_refused_total{reason="not_member"} `
	text, err := h.api().Metrics(s.ctx)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, metric); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil // no peer refused yet
}

// history closes the request and prints the agency's public record as a
// home that was not even covered sees it.
func (s *story) history() error {
	if _, err := s.agency.n.Requests().Close(s.req.ID, "suspect identified; thank you, Maple St"); err != nil {
		return err
	}
	s.printf("   Springfield PD closes the request with a note; requests are never deleted, only closed.\n")
	viewer := s.homes[5]
	var list []requests.Listed
	if err := s.waitFor(viewer.name+" sees the request closed", func() (bool, error) {
		var err error
		list, err = viewer.n.Requests().List(s.Agency, 0)
		return err == nil && len(list) == 1 && list[0].Closed, err
	}); err != nil {
		return err
	}
	a, ok, err := viewer.n.Requests().Agency(s.Agency, time.Now())
	if err != nil || !ok {
		return fmt.Errorf("%s does not know the agency (err %v)", viewer.name, err)
	}
	if a.Requests != 1 || a.Closed != 1 || a.Equivocation {
		return fmt.Errorf("public history %+v: want 1 request, closed, no equivocation", a)
	}
	if err := s.agencyHasNoFeed(); err != nil {
		return err
	}
	s.printf("   Public history of %s, as %s sees it:\n", a.Name, viewer.name)
	s.printf("     credential %s until %s, issuer %.16s...\n", a.CredentialStatus, a.ValidUntil.UTC().Format("2006-01-02"), a.Issuer)
	s.printf("     %d request(s): %d open, %d closed; %.3f sq mi x hours asked for; equivocation: none\n", a.Requests, a.Open, a.Closed, a.AreaHours)
	for _, r := range list {
		status := "open"
		if r.Closed {
			status = "closed"
		}
		s.printf("     case %s (%s): %s, %s to %s, %s", r.Case, r.Incident, status, hm(r.From), hm(r.To), r.Area)
		for _, n := range r.Notes {
			s.printf(", note %q", n.Text)
		}
		s.printf("\n")
		s.printf("     yield: %d clip(s) from %d home(s), as counted by the agency's signed yield records\n", r.Yield.Clips, r.Yield.Homes)
	}
	return s.transparency(viewer)
}

// transparency prints the agency's transparency report as viewer computes
// it, through its local API, from the signed records it holds.
func (s *story) transparency(viewer *member) error {
	rep, err := viewer.api().Transparency(s.ctx, client.TransparencyQuery{Agency: s.Agency.String()})
	if err != nil {
		return fmt.Errorf("transparency report on %s: %w", viewer.name, err)
	}
	if len(rep.Agencies) != 1 || len(rep.Agencies[0].Months) == 0 || rep.Agencies[0].Total.Requests != 1 || rep.Agencies[0].Total.Closed != 1 {
		return fmt.Errorf("transparency report on %s: %+v, want one closed request", viewer.name, rep.Agencies)
	}
	a := rep.Agencies[0]
	s.printf("   Transparency report, as %s computes it from the signed records it holds (`porchlight transparency`, or the web UI's Transparency page, #transparency):\n", viewer.name)
	for _, m := range a.Months {
		med := "-"
		if m.MedianHoursToClose != nil {
			med = strconv.FormatFloat(*m.MedianHoursToClose, 'f', -1, 64)
		}
		s.printf("     %s: requests %d, %.3f sq mi x hours, %d clip(s) from %d home(s), median %s h to close; credential %s, log through seq %d\n",
			m.Month, m.Requests, m.AreaHours, m.Clips, m.Homes, med, a.CredentialStatus, a.LogHead)
	}
	return nil
}

func (s *story) nameOf(id peer.ID) string {
	for _, m := range s.all() {
		if m.n.ID() == id {
			return m.name
		}
	}
	return id.String()
}

func hm(t time.Time) string { return t.Local().Format("15:04 MST") }

func slug(s string) string {
	return strings.ToLower(strings.NewReplacer(" ", "-", ".", "").Replace(s))
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
