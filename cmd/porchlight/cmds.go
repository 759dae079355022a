package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
)

// listenUsage is init's and join's --listen help: the mesh's default
// listeners (mesh.Config.ListenAddrs), which QUIC needs for hole punching
// over UDP.
const listenUsage = "libp2p listen multiaddrs (default TCP and QUIC on port 7781, IPv4 and IPv6: /ip4/0.0.0.0/tcp/7781, /ip6/::/tcp/7781, /ip4/0.0.0.0/udp/7781/quic-v1, /ip6/::/udp/7781/quic-v1)"

func newInitCmd(g *globals) *cobra.Command {
	var cfg node.Config
	var found, inviteBy string
	c := &cobra.Command{
		Use:   "init",
		Short: "Create this home's identity, config and API token in the data directory",
		Long: `Create this home's identity, config and API token in the data directory.

With --found NAME the home founds a new invite-only neighborhood: it signs
the neighborhood's charter, is its founder and first steward, and lets
neighbors in with invites (porchlight invite create). Its ID comes from the
charter; nobody gets in by knowing it. To join an existing neighborhood use
"porchlight join INVITE" instead.

With --neighborhood NAME (and no --found) the neighborhood is open: anyone on
the LAN who knows the name may join. Use it for a LAN-only street or the
demo only.

An agency's node (not a member) names the neighborhood's charter with
--charter ID (from a member's "porchlight status --json"): it may publish and read
requests, never the feed.`,
		Example: `  porchlight --data /var/lib/porchlight init --name "12 Maple St" \
      --found "Maple St" --location 40.7128,-74.0060
  porchlight init --name "12 Maple St" --neighborhood maple-st   # open (LAN only)`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if found != "" && (c.Flags().Changed("neighborhood") || cfg.Charter != "") {
				return usagef("--found starts a new neighborhood: leave out --neighborhood and --charter")
			}
			if cfg.Charter != "" && !c.Flags().Changed("neighborhood") {
				cfg.Neighborhood = ""
			}
			if inviteBy != "any" && inviteBy != "stewards" {
				return usagef("--invite-by %q: want any or stewards", inviteBy)
			}
			if err := checkConfigInput(cfg); err != nil {
				return err
			}
			out := c.OutOrStdout()
			if found != "" {
				saved, err := node.Found(g.dataDir, cfg, found, inviteBy)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "initialized %s\nfounded the invite-only neighborhood %q (ID %s); this home is its founder and steward\n", g.dataDir, found, saved.Neighborhood)
				fmt.Fprintf(out, "let neighbors in with: porchlight --data %s invite create\n", g.dataDir)
			} else {
				if err := node.Init(g.dataDir, cfg); err != nil {
					return err
				}
				fmt.Fprintf(out, "initialized %s\n", g.dataDir)
				if cfg.Charter == "" {
					fmt.Fprintf(out, "the neighborhood %q is open: anyone on this LAN who knows its name may join (found an invite-only one with --found NAME)\n", cfg.Neighborhood)
				}
			}
			if cfg.Name == "" {
				saved, err := node.LoadConfig(g.dataDir)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "every neighbor sees this home as %q: a neutral name, not the hostname or an address, so it tells nobody who or where you are (choose another with --name, or in config.toml)\n", saved.Name)
			}
			fmt.Fprintf(out, "start the node with: porchlight --data %s run\n", g.dataDir)
			return nil
		},
	}
	c.Flags().StringVar(&cfg.Name, "name", "", "this home's name as every neighbor sees it (default: \"Neighbor\" and the end of its peer ID; a street address tells every member where you live)")
	c.Flags().StringVar(&found, "found", "", "found a new invite-only neighborhood with this name (this home is its founder and steward)")
	c.Flags().StringVar(&inviteBy, "invite-by", "any", "with --found: who may invite, any member or only stewards")
	c.Flags().StringVar(&cfg.Neighborhood, "neighborhood", "default", "open neighborhood ID (LAN only: anyone who knows it may join)")
	c.Flags().StringVar(&cfg.Charter, "charter", "", "charter ID of an invite-only neighborhood, for an agency's node that is not a member")
	c.Flags().StringVar(&cfg.Location, "location", "", "home location LAT,LON (never leaves this node)")
	c.Flags().StringVar(&cfg.API, "api", node.DefaultAPIAddr, "local API address (loopback only)")
	c.Flags().StringSliceVar(&cfg.Listen, "listen", nil, listenUsage)
	c.Flags().StringSliceVar(&cfg.Peers, "peer", nil, "static peer multiaddr with /p2p/ID (repeatable), for networks without multicast")
	c.Flags().StringSliceVar(&cfg.TrustedIssuers, "trust-issuer", nil, "issuer ID whose agency credentials this home accepts (repeatable)")
	return c
}

// checkConfigInput turns config mistakes into usage errors (exit 2).
func checkConfigInput(cfg node.Config) error {
	if cfg.Neighborhood == "" {
		cfg.Neighborhood = "default"
	}
	if err := cfg.Check(); err != nil {
		return usageError{err}
	}
	return nil
}

// stopTimeout bounds `run`'s shutdown after SIGTERM; service managers
// kill after 10 s or more.
const stopTimeout = 8 * time.Second

func newRunCmd(g *globals) *cobra.Command {
	var opts node.Options
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the node in the foreground (logs to stderr; Ctrl-C stops it)",
		Long: `Run the node in the foreground. On an empty data directory it first
initializes one with defaults (a neutral name, neighborhood "default").

Homes behind different routers reach each other through anchors (see
"porchlight anchor --help"): with --anchor this node is one from the start;
run it so on a node reachable from the internet (TCP and UDP port 7781
open), such as a small VPS or a home whose router forwards the port.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			settings, err := node.LoadConfig(g.dataDir)
			if errors.Is(err, node.ErrNotInitialized) {
				if err := node.Init(g.dataDir, node.Config{}); err != nil {
					return err
				}
				settings, _ = node.LoadConfig(g.dataDir)
				log.Info("initialized a new data directory with defaults; see `porchlight init --help` to choose a name and neighborhood",
					"dir", g.dataDir, "name", settings.Name, "neighborhood", settings.Neighborhood)
			}
			// Before the start: opening the store may migrate and compact.
			// A config.toml that does not parse is node.Start's to report.
			node.ApplyMemoryLimit(settings, log)
			opts.Dir, opts.Logger = g.dataDir, log
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			n, err := node.Start(opts)
			if err != nil {
				return err
			}
			st := n.Status()
			log.Info("node running", "peer_id", st.PeerID, "name", st.Name, "neighborhood", st.Neighborhood, "api", st.API, "addrs", strings.Join(st.Addrs, " "), "anchor", st.Anchor, "anchors", len(st.Anchors))
			if opts.APIAllowRemote {
				log.Warn("the API accepts connections from other computers (--api-allow-remote): anyone who gets the token or a login link can act as this home; keep api.token secret", "api", st.API)
			}
			<-ctx.Done()
			log.Info("shutting down")
			// A stop must end the process whatever the disk does: Close
			// bounds each part, and this bounds the whole (the process
			// exits, abandoning what is still closing).
			closed := make(chan error, 1)
			go func() { closed <- n.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					return fmt.Errorf("shut down: %w", err)
				}
			case <-time.After(stopTimeout):
				return fmt.Errorf("shut down: still closing after %v; exiting anyway (if the disk failed, check that %s exists and is writable)", stopTimeout, g.dataDir)
			}
			log.Info("stopped")
			return nil
		},
	}
	c.Flags().StringSliceVar(&opts.Peers, "peer", nil, "static peer multiaddr with /p2p/ID (repeatable), added to config.toml's")
	c.Flags().StringSliceVar(&opts.Listen, "listen", nil, "libp2p listen multiaddrs (replaces config.toml's)")
	c.Flags().StringVar(&opts.API, "api", "", `local API address (replaces config.toml's; "off" disables it)`)
	c.Flags().BoolVar(&opts.DisableMDNS, "no-mdns", false, "turn mDNS discovery off")
	c.Flags().BoolVar(&opts.Anchor, "anchor", false, "serve the neighborhood as an anchor (relay, NAT checks, peer records for members): for a node reachable from the internet, like config.toml's anchor = true")
	c.Flags().StringVar(&opts.Horizon, "horizon", "", `how long feed posts are kept and how far back they are synced: days such as 365d, a duration of at least 168h, or "forever" (replaces config.toml's horizon; default 365d; agency logs are always kept)`)
	c.Flags().BoolVar(&opts.LAN, "lan", false, "serve the UI to paired devices of the home network over HTTPS (see porchlight pair), as config.toml's lan = true does")
	c.Flags().BoolVar(&opts.APIAllowRemote, "api-allow-remote", false, "let --api name a non-loopback address (needs --api-tls-cert and --api-tls-key; see docs/operations.md)")
	c.Flags().StringVar(&opts.APITLSCert, "api-tls-cert", "", "PEM certificate: the API serves HTTPS")
	c.Flags().StringVar(&opts.APITLSKey, "api-tls-key", "", "PEM private key of --api-tls-cert")
	return c
}

func newPostCmd(g *globals) *cobra.Command {
	var kind, location, replyTo string
	var clipIDs []string
	var yes bool
	c := &cobra.Command{
		Use:   "post TEXT",
		Short: "Write a post to the neighborhood feed (prints its ID last)",
		Long: `Write a post to the neighborhood feed (prints its ID last).

A safety post that describes someone by race or ethnicity with fewer than two
other details (clothing, hair, build, age range, vehicle, behavior) gets the
anti-profiling prompt first: on a terminal it explains why and asks whether to
post anyway; otherwise it prints the advice on stderr and posts. --yes skips it.`,
		Example: `  porchlight post "Lost grey cat near the park" --kind lost-found`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			text := strings.TrimSpace(args[0])
			if text == "" {
				return usagef("empty post: give the text as an argument")
			}
			if n := utf8.RuneCountInString(text); n > record.MaxPostText {
				return usagef("post is %d characters; the limit is %d", n, record.MaxPostText)
			}
			if !validKind(kind) {
				return usagef("unknown kind %q: use one of %s", kind, strings.Join(record.PostKinds, ", "))
			}
			loc, err := node.ParseLocation(location)
			if err != nil {
				return usageError{err}
			}
			if replyTo != "" {
				if _, err := record.ParseID(replyTo); err != nil {
					return usagef("--reply-to: %v", err)
				}
			}
			for _, id := range clipIDs {
				if _, err := record.ParseID(id); err != nil {
					return usagef("--clip: %v", err)
				}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			if !yes {
				if post := describePrompt(c, cl, kind, text); !post {
					return nil
				}
			}
			out, err := cl.Post(c.Context(), api.NewPostJSON{Kind: kind, Text: text, Location: loc, ReplyTo: replyTo, Clips: clipIDs})
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(c, out)
			}
			fmt.Fprintln(c.OutOrStdout(), out.ID)
			return nil
		},
	}
	c.Flags().StringVar(&kind, "kind", "general", "post kind: "+strings.Join(record.PostKinds, ", "))
	c.Flags().StringVar(&location, "location", "", "coarse location LAT,LON to attach")
	c.Flags().StringVar(&replyTo, "reply-to", "", "ID of the post this replies to")
	c.Flags().StringSliceVar(&clipIDs, "clip", nil, "attach one of this home's clips (repeatable): shared with the whole neighborhood for 30 days")
	c.Flags().BoolVar(&yes, "yes", false, "post without the anti-profiling prompt")
	addJSONFlag(c, g)
	return c
}

func validKind(k string) bool {
	for _, v := range record.PostKinds {
		if k == v {
			return true
		}
	}
	return false
}

func newRetractCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "retract POST_ID",
		Short: "Retract one of your posts: every node purges its content",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := record.ParseID(args[0]); err != nil {
				return usageError{err}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			out, err := cl.Retract(c.Context(), args[0])
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(c, out)
			}
			fmt.Fprintln(c.OutOrStdout(), "retracted", args[0])
			return nil
		},
	}
	addJSONFlag(c, g)
	return c
}

func newFeedCmd(g *globals) *cobra.Command {
	var (
		limit  int
		before string
	)
	c := &cobra.Command{
		Use:   "feed",
		Short: "Show the neighborhood feed, newest first",
		Long: `Show the neighborhood feed, newest first, a page of --limit posts. When
older posts remain, the command that shows the next page is printed on
standard error (porchlight feed --before CURSOR).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return usagef("--limit must be from 1 to 1000")
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			page, err := cl.FeedPage(c.Context(), client.FeedQuery{Limit: limit, Before: before})
			if err != nil {
				return err
			}
			posts := page.Posts
			if page.Next != "" {
				defer fmt.Fprintf(c.ErrOrStderr(), "older posts: porchlight feed --limit %d --before %s\n", limit, page.Next)
			}
			return printList(c, g, posts,
				col("WHEN", func(p api.PostJSON) string { return p.Created.Local().Format(time.DateTime) }),
				col("FROM", func(p api.PostJSON) string {
					from := p.AuthorName
					if from == "" {
						from = shortID(p.Author)
					}
					if p.AuthorEquivocated {
						from += " (!equivocated)"
					}
					if p.AuthorRemoved {
						from += " (removed)"
					}
					return from
				}),
				col("KIND", func(p api.PostJSON) string { return p.Kind }),
				col("TEXT", func(p api.PostJSON) string { return oneLine(p.Text, 60) }),
				col("ID", func(p api.PostJSON) string { return p.ID[:12] }))
		},
	}
	c.Flags().IntVar(&limit, "limit", 100, "how many posts")
	c.Flags().StringVar(&before, "before", "", "show the posts older than this position (printed after a full page)")
	addJSONFlag(c, g)
	return c
}

func newPeersCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "peers",
		Short: "List connected neighbors, how each is reached and its round trip",
		Long: `List connected neighbors. PATH is how each is reached: "lan" (this home's
network), "direct" (over the internet, through a forwarded port or a hole
punched in both NATs) or "relayed" (only through an anchor: posts arrive by
sync, and clips only within the anchor's limits). RTT is the latest round
trip.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			peers, err := cl.Peers(c.Context())
			if err != nil {
				return err
			}
			return printList(c, g, peers,
				col("NAME", func(p api.PeerJSON) string {
					if p.Equivocated {
						return p.Name + " (!equivocated)"
					}
					return p.Name
				}),
				col("PEER ID", func(p api.PeerJSON) string { return p.PeerID }),
				col("ADDRESS", func(p api.PeerJSON) string { return strings.Join(p.Addrs, ",") }),
				col("PATH", func(p api.PeerJSON) string { return pathText(p.Path) }),
				col("RTT", func(p api.PeerJSON) string { return rttText(p.RTTMillis) }),
				col("SINCE", func(p api.PeerJSON) string { return p.Since.Local().Format(time.DateTime) }),
				col("SCORE", func(p api.PeerJSON) string { return fmt.Sprintf("%.1f", p.Score) }))
		},
	}
	addJSONFlag(c, g)
	return c
}

func newStatusCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "status",
		Short: "Show this node's identity, neighborhood, peers and how it is reached",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			st, err := cl.Status(c.Context())
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(c, st)
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "name:          %s\npeer ID:       %s\nneighborhood:  %s\npeers:         %d\napi:           %s\n", st.Name, st.PeerID, st.Neighborhood, st.Peers, st.API)
			if st.NeighborhoodName != "" && st.NeighborhoodName != st.Neighborhood {
				fmt.Fprintf(w, "known as:      %s\n", st.NeighborhoodName)
			}
			if st.Policy != "" {
				role := st.Membership
				if st.Steward {
					role += ", steward"
				}
				fmt.Fprintf(w, "policy:        %s (%s)\n", st.Policy, role)
			}
			for _, a := range dialable(st.Addrs) {
				fmt.Fprintf(w, "address:       %s\n", a)
			}
			printNetwork(w, st)
			switch {
			case st.Storage == nil:
			case st.Storage.OK:
				fmt.Fprintf(w, "storage:       ok (%d MiB free)\n", st.Storage.FreeBytes>>20)
			default:
				fmt.Fprintf(w, "storage:       FAILED, writes are refused: %s\n", st.Storage.Error)
			}
			switch m := st.MQTT; {
			case m == nil || !m.Configured:
			case m.Connected:
				fmt.Fprintf(w, "mqtt:          connected to %s\n", m.Broker)
			default:
				fmt.Fprintf(w, "mqtt:          NOT connected to %s: %s\n", m.Broker, m.LastError)
			}
			switch f := st.Frigate; {
			case f == nil || !f.Configured:
			case f.Connected && f.Reachable:
				fmt.Fprintf(w, "frigate:       importing clips from %s (%d imported, %d waiting)\n", f.URL, f.Imported, f.Pending)
			default:
				fmt.Fprintf(w, "frigate:       NOT importing from %s (%d waiting): %s\n", f.URL, f.Pending, f.LastError)
			}
			return nil
		},
	}
	addJSONFlag(c, g)
	return c
}

func shortID(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-8:]
	}
	return id
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// dialable leaves out of addrs, for a person to read, the relay
// transport's own listener, a bare /p2p-circuit (with this node's /p2p/ID
// or not): no one can dial it; the relayed addresses through an anchor,
// /ip4/.../p2p/ANCHOR/p2p-circuit, stay.
func dialable(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if a == "/p2p-circuit" || strings.HasPrefix(a, "/p2p-circuit/") {
			continue
		}
		out = append(out, a)
	}
	return out
}

// printNetwork prints the reachability lines of `porchlight status`.
func printNetwork(w io.Writer, st api.Status) {
	if st.Reachability != "" {
		fmt.Fprintf(w, "reachability:  %s\n", st.Reachability)
	}
	if st.NAT != "" {
		fmt.Fprintf(w, "nat:           %s\n", st.NAT)
	}
	if st.Anchor {
		fmt.Fprintf(w, "anchor:        yes, this node serves its neighborhood as an anchor\n")
	}
	for _, a := range dialable(st.Addresses.Observed) {
		fmt.Fprintf(w, "public:        %s\n", a)
	}
	for _, a := range dialable(st.Addresses.Relay) {
		fmt.Fprintf(w, "relayed:       %s\n", a)
	}
	for _, a := range st.Anchors {
		state := anchorState(a, true)
		if a.RTTMillis > 0 {
			state += ", rtt " + rttText(a.RTTMillis)
		}
		fmt.Fprintf(w, "anchor peer:   %s (%s)\n", a.PeerID, state)
	}
}

// pathText is a peer's path, "-" when unknown.
func pathText(p string) string {
	if p == "" {
		return "-"
	}
	return p
}
