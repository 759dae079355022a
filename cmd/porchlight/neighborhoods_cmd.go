package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
)

func newAgencyNeighborhoodsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "neighborhoods",
		Short: "List the neighborhoods this node serves: its own, then those of [[serve]] in config.toml",
		Long: `List the neighborhoods this node serves, with its connected neighbors in
each: its own neighborhood (home), then the neighborhoods it serves for agency
requests only, listed as [[serve]] tables in config.toml:

  [[serve]]
  neighborhood = "oak-st"
  peers = ["/ip4/10.0.0.7/tcp/7781/p2p/12D3KooW..."]

An agency node serves every neighborhood it is allowed into with one key and
one log: its whole log goes to each, and each home judges locally whether a
request covers it. A served neighborhood gets agency logs and issuer documents
only, never a feed.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			hs, err := cl.Neighborhoods(c.Context())
			if err != nil {
				return err
			}
			type N = api.NeighborhoodJSON
			return printList(c, g, hs,
				col("NEIGHBORHOOD", func(n N) string { return n.Neighborhood }),
				col("ROLE", func(n N) string {
					if n.Home {
						return "home"
					}
					return "requests"
				}),
				col("PEERS", func(n N) string { return strconv.Itoa(len(n.Peers)) }))
		},
	}
	addJSONFlag(c, g)
	return c
}
