package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/node"
)

func newJoinCmd(g *globals) *cobra.Command {
	var cfg node.Config
	c := &cobra.Command{
		Use:   "join INVITE",
		Short: "Join an invite-only neighborhood with an invite from a member",
		Long: `Join an invite-only neighborhood with an invite string (porchlight:...) that a
member made with "porchlight invite create". It creates the data directory,
ready to run, and claims the invite with the members it names: the home is
then a member. If none of them answers now, the invite is kept and claimed
when the node first reaches any member (the inviter need not be online).
The invite's public addresses (the inviter's, and the anchors it knows) are
kept as anchors (config.toml anchors), so the home reaches the neighborhood
from behind any router.

An expired, revoked, used-up, tampered or garbled invite is refused with the
reason (exit 2), and nothing is created.

On the data directory of an open neighborhood that has adopted a charter
("porchlight neighborhood charter"), join keeps the home's identity and data.`,
		Example: `  porchlight --data ~/.porchlight join porchlight:abcd... --name "14 Maple St" --location 40.7130,-74.0062`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkConfigInput(cfg); err != nil {
				return err
			}
			res, err := node.Join(context.Background(), g.dataDir, cfg, args[0])
			if err != nil {
				if errors.Is(err, node.ErrExists) {
					return err
				}
				return usageError{err}
			}
			out := c.OutOrStdout()
			switch {
			case res.Adopted && res.Admitted:
				fmt.Fprintf(out, "%s joined the neighborhood's charter, keeping its identity and data (admitted by %s); restart the node\n", g.dataDir, res.By)
			case res.Admitted:
				fmt.Fprintf(out, "joined: %s is a member of the neighborhood (admitted by %s)\n", g.dataDir, res.By)
			default:
				fmt.Fprintf(out, "no member answered now: %s keeps the invite and claims it when the node reaches a member\n", g.dataDir)
			}
			if n := len(res.Config.Anchors); n > 0 {
				fmt.Fprintf(out, "%d anchor(s) from the invite let this home reach the neighborhood from behind its router (porchlight anchor ls)\n", n)
			}
			fmt.Fprintf(out, "start the node with: porchlight --data %s run\n", g.dataDir)
			return nil
		},
	}
	c.Flags().StringVar(&cfg.Name, "name", "", "this home's name as every neighbor sees it")
	c.Flags().StringVar(&cfg.Location, "location", "", "home location LAT,LON (never leaves this node)")
	c.Flags().StringVar(&cfg.API, "api", node.DefaultAPIAddr, "local API address (loopback only)")
	c.Flags().StringSliceVar(&cfg.Listen, "listen", nil, "libp2p listen multiaddrs (default /ip4/0.0.0.0/tcp/7781 and /ip6/::/tcp/7781)")
	c.Flags().StringSliceVar(&cfg.Peers, "peer", nil, "more static peers (multiaddr with /p2p/ID)")
	c.Flags().StringSliceVar(&cfg.TrustedIssuers, "trust-issuer", nil, "issuer ID whose agency credentials this home accepts (repeatable)")
	return c
}

func newNeighborhoodCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "neighborhood",
		Short: "Manage the neighborhood itself",
	}
	var name, inviteBy string
	charter := &cobra.Command{
		Use:   "charter",
		Short: "Make this open neighborhood invite-only (this home signs its charter)",
		Long: `Make this home's open neighborhood invite-only. This home signs a charter that
adopts the neighborhood (its ID, posts and requests stay) and becomes its
founder and steward. Stop the node first; restart it afterwards. Then invite
the current members (porchlight invite create); each runs
"porchlight join INVITE" on its own data directory, keeping its data.
Until then they are not let in.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if inviteBy != "any" && inviteBy != "stewards" {
				return usagef("--invite-by %q: want any or stewards", inviteBy)
			}
			cfg, err := node.AdoptCharter(g.dataDir, name, inviteBy)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "the neighborhood %q is now invite-only (charter %s); restart the node, then invite its members\n", cfg.Neighborhood, cfg.Charter)
			return nil
		},
	}
	charter.Flags().StringVar(&name, "name", "", "the neighborhood's name as people know it (default: its ID)")
	charter.Flags().StringVar(&inviteBy, "invite-by", "any", "who may invite: any member or only stewards")
	c.AddCommand(charter)
	return c
}
