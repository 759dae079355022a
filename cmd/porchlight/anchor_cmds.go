package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/node"
)

func newAnchorCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "anchor",
		Short: "Manage the anchors this home knows (neighbors reachable from the internet)",
		Long: `An anchor is a member node reachable from the internet: a home whose router
forwards a port (or maps one by UPnP/NAT-PMP, or has public IPv6), a
neighbor's small VPS, an association's box. It relays for members whose
NATs let no direct connection through, helps them punch holes through their
NATs, and keeps their addresses, so homes behind different routers find
each other. A node becomes one on its own when it learns it is reachable,
or with "porchlight run --anchor".

Invites carry the anchors the inviter knows, so a new home usually needs
nothing here. These commands edit config.toml (anchors = [...]); with the
node running, "anchor add" also dials the anchor at once.`,
	}
	add := &cobra.Command{
		Use:   "add MULTIADDR",
		Short: "Tell this home about an anchor (its multiaddr ending in /p2p/PEER_ID)",
		Example: `  porchlight anchor add /ip4/203.0.113.7/tcp/7781/p2p/12D3KooW...
  porchlight anchor add /dns4/anchor.maple-st.example/udp/7781/quic-v1/p2p/12D3KooW...`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := node.ParseAnchor(args[0]); err != nil {
				return usageError{err}
			}
			out := c.OutOrStdout()
			cl, err := g.client()
			if err == nil {
				var a api.AnchorStatus
				if a, err = cl.AddAnchor(c.Context(), args[0]); err == nil {
					if g.jsonOut {
						return printJSON(c, a)
					}
					fmt.Fprintf(out, "added anchor %s to config.toml; the running node dials it now (porchlight anchor ls shows whether it answers)\n", strings.Join(a.Addrs, " "))
					return nil
				}
			}
			if !errors.Is(err, client.ErrNoNode) {
				return err
			}
			saved, err := node.AddAnchor(g.dataDir, args[0])
			if err != nil {
				return err
			}
			if g.jsonOut {
				ai, _ := node.ParseAnchor(saved)
				return printJSON(c, api.AnchorStatus{PeerID: ai.ID.String(), Addrs: []string{saved}, Configured: true})
			}
			fmt.Fprintf(out, "added anchor %s to config.toml; the node uses it when it starts\n", saved)
			return nil
		},
	}
	addJSONFlag(add, g)
	var probe bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the anchors this home knows and whether they answer",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var list []api.AnchorStatus
			running := true
			cl, err := g.client()
			if err == nil {
				list, err = cl.Anchors(c.Context(), probe)
			}
			if errors.Is(err, client.ErrNoNode) {
				running = false
				if list, err = configuredAnchors(g.dataDir); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			if list == nil {
				list = []api.AnchorStatus{}
			}
			if !g.jsonOut && len(list) == 0 {
				fmt.Fprintln(c.OutOrStdout(), "no anchor known; add one with: porchlight anchor add MULTIADDR")
				return nil
			}
			return printList(c, g, list,
				col("PEER ID", func(a api.AnchorStatus) string { return a.PeerID }),
				col("STATE", func(a api.AnchorStatus) string { return anchorState(a, running) }),
				col("RTT", func(a api.AnchorStatus) string { return rttText(a.RTTMillis) }),
				col("SOURCE", func(a api.AnchorStatus) string {
					if a.Configured {
						return "config"
					}
					return "learned"
				}),
				col("ADDRESSES", func(a api.AnchorStatus) string { return strings.Join(a.Addrs, " ") }))
		},
	}
	ls.Flags().BoolVar(&probe, "probe", false, "dial and ping every anchor first (a few seconds)")
	addJSONFlag(ls, g)
	rm := &cobra.Command{
		Use:   "rm PEER_ID|MULTIADDR",
		Short: "Forget an anchor (every configured address of its peer ID)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := peer.Decode(args[0])
			if err != nil {
				ai, perr := node.ParseAnchor(args[0])
				if perr != nil {
					return usagef("%q is neither a peer ID nor an anchor's multiaddr", args[0])
				}
				id = ai.ID
			}
			out := c.OutOrStdout()
			var removed []string
			cl, err := g.client()
			if err == nil {
				var res api.AnchorRemoved
				if res, err = cl.RemoveAnchor(c.Context(), id.String()); err == nil {
					fmt.Fprintf(out, "removed anchor %s from config.toml; the running node stops using it when it restarts\n", strings.Join(res.Removed, " "))
					return nil
				}
			}
			if !errors.Is(err, client.ErrNoNode) {
				return err
			}
			if removed, err = node.RemoveAnchor(g.dataDir, id.String()); err != nil {
				return err
			}
			fmt.Fprintf(out, "removed anchor %s from config.toml\n", strings.Join(removed, " "))
			return nil
		},
	}
	c.AddCommand(add, ls, rm)
	return c
}

// configuredAnchors lists config.toml's anchors, for `anchor ls` without a
// running node.
func configuredAnchors(dir string) ([]api.AnchorStatus, error) {
	s, err := node.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	var out []api.AnchorStatus
	index := map[peer.ID]int{}
	for _, a := range s.Anchors {
		ai, err := node.ParseAnchor(a)
		if err != nil {
			continue
		}
		i, ok := index[ai.ID]
		if !ok {
			i = len(out)
			index[ai.ID] = i
			out = append(out, api.AnchorStatus{PeerID: ai.ID.String(), Configured: true})
		}
		out[i].Addrs = append(out[i].Addrs, a)
	}
	return out, nil
}

// anchorState is how an anchor answers, in a word or three.
func anchorState(a api.AnchorStatus, running bool) string {
	switch {
	case !running:
		return "node not running"
	case a.Connected && a.Reservation:
		return "connected, relaying for this home"
	case a.Connected:
		return "connected"
	}
	return "not answering"
}

// rttText is a round trip in milliseconds, "-" when not measured.
func rttText(ms float64) string {
	if ms <= 0 {
		return "-"
	}
	if ms < 10 {
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}
