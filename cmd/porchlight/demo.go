package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/internal/demo"
)

func newDemoCmd(g *globals) *cobra.Command {
	var exit, mdns bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story in one process: an invite-only street of six homes and an agency on 127.0.0.1",
		Long: `Start a street of six homes and an agency in this process, each a real
node (libp2p on 127.0.0.1, its own Badger store in a fresh temporary
directory), and narrate: the first home founds the invite-only street and
the others join by invites; the agency, not a member, is let in for
requests only (never the feed) by a credential from an issuer's offline
key; then a post, an agency request, local matching, consent (two share,
one declines), evidence verified offline, a forged agency refused by every
home, and the agency's public history.

Then it keeps running and prints login links to two homes' web UIs and the
agency's, until Ctrl-C. Everything is removed at exit.

With --exit it stops after the story and exits 0 only if every step held,
non-zero naming the step that failed. Nodes dial each other directly unless
--mdns is given.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if !c.Flags().Changed("log-level") {
				// The narration is the demo's output; node logs only when something is wrong.
				log, err = g.loggerAt(slog.LevelWarn)
				if err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := c.OutOrStdout()
			d, err := demo.Run(ctx, demo.Config{Out: out, MDNS: mdns, Logger: log})
			if err != nil {
				return err
			}
			defer d.Close()
			fmt.Fprintln(out, "\nEvery step held.")
			if exit {
				return nil
			}
			links, err := d.LoginLinks(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, "\nThe neighborhood keeps running. Open a web UI (each link works once, for two minutes):")
			for _, l := range links {
				fmt.Fprintf(out, "  %-15s %s\n", l.Name, l.URL)
			}
			fmt.Fprintln(out, "Once logged in, each UI's Transparency page (charts of the agency's record, and its CSV) is at:")
			for _, l := range links {
				fmt.Fprintf(out, "  %-15s %s\n", l.Name, transparencyPage(l.URL))
			}
			fmt.Fprintln(out, "For a fresh link, or to use the CLI against a node, pass its data directory:")
			for _, l := range links {
				fmt.Fprintf(out, "  porchlight --data %s ui --print\n", l.DataDir)
			}
			fmt.Fprintln(out, "Press Ctrl-C to stop; every node is closed and its data removed.")
			<-ctx.Done()
			stop() // a second Ctrl-C kills the process if closing hangs
			fmt.Fprintln(out, "\nStopping the demo...")
			return d.Close()
		},
	}
	c.Flags().BoolVar(&exit, "exit", false, "exit after the story: 0 if every step held, else non-zero naming the failed step")
	c.Flags().BoolVar(&mdns, "mdns", false, "discover by mDNS (needs working multicast) instead of dialling directly")
	return c
}

// transparencyPage is the web UI's Transparency page on the node a login
// link logs into: the link's origin and #transparency.
func transparencyPage(login string) string {
	u, err := url.Parse(login)
	if err != nil {
		return login
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/", Fragment: "transparency"}).String()
}
