// Package demo runs Porchlight's whole story in one process: six homes on a
// street, an issuer and an agency, each a real node (real libp2p on
// 127.0.0.1, its own Badger store in a fresh temporary data directory),
// narrated step by step. `porchlight demo` runs it; every step is checked
// with a deadline, so `porchlight demo --exit` doubles as an end-to-end test.
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
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/internal/sampleclips"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/sharing"
)

// Config configures Run. Zero values mean the default.
type Config struct {
	// Out receives the narration. Default os.Stdout.
	Out io.Writer
	// MDNS makes the nodes find each other by mDNS instead of dialling
	// each other directly. It needs working multicast on this host.
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

// Neighborhood is the demo's neighborhood ID.
const Neighborhood = "maple-st"

// The street runs north from here; homes stand at these distances (meters).
var (
	streetStart = geo.Point{Lat: 40.7128, Lon: -74.0060}
	homeMeters  = []float64{0, 90, 180, 420, 510, 600}
	homeNames   = []string{"2 Maple St", "4 Maple St", "6 Maple St", "8 Maple St", "10 Maple St", "12 Maple St"}
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
	issuer *member
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
		{"homes discover each other", s.discover},
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
	return append(append([]*member{}, d.homes...), d.agency, d.issuer)
}

// story holds what the steps pass on to each other.
type story struct {
	*Demo
	ctx       context.Context
	issuerKey crypto.PrivKey
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

// startNode initializes a fresh data directory and starts a node in it.
func (s *story) startNode(name, location string, trusted []string, api string, peers []string) (*member, error) {
	dir := filepath.Join(s.root, slug(name))
	err := node.Init(dir, node.Config{
		Name: name, Neighborhood: Neighborhood, Location: location,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, API: api,
		TrustedIssuers: trusted, DisableMDNS: !s.cfg.MDNS,
	})
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", name, err)
	}
	n, err := node.Start(node.Options{Dir: dir, Peers: peers, Logger: s.cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	m := &member{name: name, dir: dir, n: n}
	if api != "off" {
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

// discover starts the nodes and waits until every node knows every other.
func (s *story) discover() error {
	var err error
	s.issuerKey, _, err = crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	issuerID, _ := peer.IDFromPrivateKey(s.issuerKey)
	trusted := []string{issuerID.String()}
	if s.cfg.MDNS {
		s.printf("   Discovery: mDNS (--mdns); the nodes find each other by multicast on this host.\n")
	} else {
		s.printf("   Discovery: direct dialling on 127.0.0.1 (mDNS off: multicast is often unusable on a dev machine; try --mdns on a LAN).\n")
	}
	// Without mDNS each node dials those started before it: a full mesh.
	var peers []string
	add := func(m *member) {
		if !s.cfg.MDNS {
			peers = append(peers, addrOf(m))
		}
	}
	for i, name := range homeNames {
		p := north(streetStart, homeMeters[i])
		m, err := s.startNode(name, fmt.Sprintf("%.6f,%.6f", p.Lat, p.Lon), trusted, "127.0.0.1:0", peers)
		if err != nil {
			return err
		}
		s.homes = append(s.homes, m)
		add(m)
	}
	if s.agency, err = s.startNode("Springfield PD", "", trusted, "127.0.0.1:0", peers); err != nil {
		return err
	}
	add(s.agency)
	if s.issuer, err = s.startNode("County Safety Office", "", trusted, "off", peers); err != nil {
		return err
	}
	s.Agency = s.agency.n.ID()
	s.printf("   Started 6 homes along Maple St, an agency (Springfield PD) and an issuer (County Safety Office):\n")
	s.printf("   8 real nodes, each with its own libp2p identity and Badger store under %s.\n", s.root)
	all := s.all()
	if err := s.waitFor("every node connected to the 7 others", func() (bool, error) {
		for _, m := range all {
			if len(m.n.Mesh().Peers()) < len(all)-1 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		if s.cfg.MDNS {
			return fmt.Errorf("%w; multicast may not work on this host (see `porchlight doctor`): run the demo without --mdns", err)
		}
		return err
	}
	names := 0
	_ = s.waitFor("neighbors' names known", func() (bool, error) {
		names = 0
		for _, p := range s.homes[0].n.Mesh().Peers() {
			if p.Name != "" {
				names++
			}
		}
		return names == len(all)-1, nil
	})
	s.printf("   Every node is connected to all 7 others; %s knows %d of them by name.\n", s.homes[0].name, names)
	return nil
}

// post has a neighbor write to the feed and waits until everyone has it.
func (s *story) post() error {
	author := s.homes[4]
	p, err := author.n.Feed().Post(context.Background(), feed.NewPost{Kind: "safety", Text: "Someone was trying car doors on Maple St around 7pm. Lock up tonight!"})
	if err != nil {
		return err
	}
	s.printf("   %s posts (safety): %q\n", author.name, "Someone was trying car doors on Maple St around 7pm. Lock up tonight!")
	if err := s.waitFor("every node has the post", func() (bool, error) {
		for _, m := range s.all() {
			if _, err := m.n.Store().Record(p.ID); err != nil {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	s.printf("   Signed by its author and checked by every node: all 8 have it in their feed.\n")
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

	jurisdiction := requests.Area{Center: streetStart, Radius: 5000}
	cred, err := requests.Certify(s.issuerKey, s.Agency, "Springfield PD", jurisdiction, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		return err
	}
	if err := s.issuer.n.Mesh().PublishDoc(cred.Raw); err != nil {
		return err
	}
	s.printf("   The County Safety Office certifies Springfield PD for 5 km around city hall, for a year.\n")
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

// forged has a self-made "issuer" certify a rogue key, which publishes a
// request; every home must refuse it.
func (s *story) forged() error {
	rogueIssuer, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	rid, _ := peer.IDFromPrivateKey(rogueIssuer)
	before := make([]float64, len(s.homes))
	for i, h := range s.homes {
		before[i] = h.n.Mesh().Rejected(string(record.ReasonUntrusted))
	}
	if s.rogue, err = s.startNode("Totally Real PD", "", []string{rid.String()}, "off", nil); err != nil {
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
	s.printf("   \"Totally Real PD\" certifies itself with a key no home trusts and publishes a request over the same street.\n")
	for _, h := range s.homes {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.StepTimeout)
		err := s.rogue.n.Mesh().Connect(ctx, peer.AddrInfo{ID: h.n.ID(), Addrs: h.n.Mesh().Host().Addrs()})
		cancel()
		if err != nil {
			return fmt.Errorf("connect the rogue to %s: %w", h.name, err)
		}
	}
	for i, h := range s.homes {
		if err := s.waitFor(h.name+" rejects the forged request", func() (bool, error) {
			return h.n.Mesh().Rejected(string(record.ReasonUntrusted)) > before[i], nil
		}); err != nil {
			return err
		}
		if _, err := h.n.Store().Record(fake.ID); err == nil {
			return fmt.Errorf("%s stored the forged request", h.name)
		}
		if l, err := h.n.Requests().List("", 0); err != nil || len(l) != 1 {
			return fmt.Errorf("%s lists %d requests (err %v), want only the certified one", h.name, len(l), err)
		}
	}
	s.printf("   All 6 homes rejected it (%s: its issuer is not trusted); none stored or relayed it.\n", record.ReasonUntrusted)
	return nil
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
