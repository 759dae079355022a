package main

import (
	"fmt"
	"os/exec"

	"github.com/spf13/cobra"
)

func newUICmd(g *globals) *cobra.Command {
	var printOnly bool
	c := &cobra.Command{
		Use:   "ui",
		Short: "Open the node's web UI in a browser (a one-time login link)",
		Long: `Ask the running node for a one-time login link and open it in a browser.
The link works once, for two minutes; the browser then holds an HttpOnly
session cookie. With --print, or when no browser can be started, the link is
only printed.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var out struct{ URL string }
			if err := cl.do(c.Context(), "POST", "/api/v1/login-links", struct{}{}, &out); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), out.URL)
			if printOnly {
				return nil
			}
			if opener, err := exec.LookPath("xdg-open"); err == nil {
				if err := exec.Command(opener, out.URL).Start(); err == nil {
					return nil
				}
			}
			fmt.Fprintln(c.ErrOrStderr(), "no browser could be started; open the link above (it works once)")
			return nil
		},
	}
	c.Flags().BoolVar(&printOnly, "print", false, "only print the link")
	return c
}
