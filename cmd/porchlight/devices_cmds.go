package main

import (
	"fmt"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
)

func newPairCmd(g *globals) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "pair",
		Short: "Pair a browser on a laptop or phone of the home network (a one-time link and QR code)",
		Long: `Print a one-time pairing link and its QR code for a browser on another
device of the home network. The link works once, for 10 minutes; the device
then has its own session, listed by "porchlight devices" and revoked by
"porchlight devices revoke ID".

The node serves the UI to paired devices over HTTPS on the LAN (port 7782 by
default) with a certificate it made itself. If it was not serving the LAN,
this turns it on and sets lan = true in config.toml.

The browser warns that the certificate is not trusted: no authority signed
it. Before you go on, open the certificate's details in the browser and
compare its SHA-256 fingerprint with the one printed here (also the fp= part
of the link). If they differ, someone else answered: do not pair.

Anyone who sees the link can use it first: show it only on this screen or
scan the QR code at once.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			link, err := cl.CreatePairLink(c.Context(), name)
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(c, link)
			}
			printPairLink(c, link)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", `the device's name in the list (such as "Ana's laptop"); default "Device N"`)
	addJSONFlag(c, g)
	return c
}

func printPairLink(c *cobra.Command, link api.PairLink) {
	out := c.OutOrStdout()
	fmt.Fprintln(c.ErrOrStderr(), "warning: this link pairs a browser with this home; anyone who sees it can use it before you. It works once, for 10 minutes.")
	fmt.Fprintf(out, "Pairing link for %q (works once, until %s):\n\n  %s\n\n", link.Name, link.Expires.Local().Format(time.Kitchen), link.URL)
	if q, err := qrcode.New(link.URL, qrcode.Low); err == nil {
		fmt.Fprintln(out, q.ToSmallString(false))
	}
	if len(link.Alternatives) > 0 {
		fmt.Fprintln(out, "If the device cannot open it, the same link at this node's other addresses:")
		for _, u := range link.Alternatives {
			fmt.Fprintln(out, "  "+u)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "The browser will warn that the certificate is not trusted (the node made it itself).\nOpen the certificate's details and check that its SHA-256 fingerprint is:\n\n  %s\n\nIf it differs, do not pair.\n", link.Fingerprint)
}

func newDevicesCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "devices",
		Short: "List the paired devices (porchlight pair), or revoke one",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			d, err := cl.Devices(c.Context())
			if err != nil {
				return err
			}
			if g.jsonOut {
				if d.Devices == nil {
					d.Devices = []api.Device{}
				}
				return printJSON(c, d)
			}
			out := c.OutOrStdout()
			if d.LAN.On {
				fmt.Fprintf(out, "serving paired devices at %s (certificate SHA-256 %s)\n", strings.Join(d.LAN.URLs, " "), d.LAN.Fingerprint)
			} else {
				fmt.Fprintln(out, "not serving the LAN; `porchlight pair` turns it on")
			}
			if len(d.Devices) == 0 {
				fmt.Fprintln(out, "no paired device; pair one with: porchlight pair --name NAME")
				return nil
			}
			fmt.Fprintln(out)
			return printList(c, g, d.Devices,
				col("ID", func(v api.Device) string { return v.ID }),
				col("NAME", func(v api.Device) string { return v.Name }),
				col("FIRST SEEN", func(v api.Device) string { return v.FirstSeen.Local().Format("2006-01-02 15:04") }),
				col("LAST SEEN", func(v api.Device) string { return v.LastSeen.Local().Format("2006-01-02 15:04") }))
		},
	}
	addJSONFlag(c, g)
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a paired device: its next request is refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			if err := cl.RevokeDevice(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "revoked device %s: its next request is refused; pair it again with porchlight pair\n", args[0])
			return nil
		},
	}
	c.AddCommand(revoke)
	return c
}
