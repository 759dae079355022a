package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

type globals struct {
	dataDir   string
	logLevel  string
	logFormat string
	jsonOut   bool
}

func defaultDataDir() string {
	if d := os.Getenv("PORCHLIGHT_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "porchlight")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "porchlight")
	}
	return "porchlight-data"
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "porchlight",
		Short: "A home's node in a peer-to-peer neighborhood-safety network",
		Long: `Porchlight runs one node per home. Nodes find their neighbors on the local
network (mDNS), and behind other routers through the neighborhood's anchors
("porchlight anchor --help"), share a signed neighborhood feed over libp2p
gossip, and keep everything on the home's own disk.

Start a node with "porchlight run"; the other commands talk to it through its
local API on 127.0.0.1.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data", defaultDataDir(), "data directory (env PORCHLIGHT_DATA)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format on stderr: text or json (one object per line)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newInitCmd(g), newRunCmd(g), newPostCmd(g), newFeedCmd(g), newRetractCmd(g),
		newPeersCmd(g), newStatusCmd(g),
		newIssuerCmd(), newTrustCmd(g), newPublishCmd(g), newAgencyCmd(g),
		newRequestCmd(g), newRequestsCmd(g), newAgenciesCmd(g), newUICmd(g), newClipsCmd(g), newVerifyCmd(g),
		newShareCmd(g), newGrantsCmd(g), newAuditCmd(g), newEvidenceCmd(g),
		newInviteCmd(g), newMembersCmd(g), newMuteCmd(g, true), newMuteCmd(g, false),
		newDemoCmd(g), newVersionCmd(g), newDoctorCmd(g), newDocsCmd(),
		newJoinCmd(g), newNeighborhoodCmd(g), newAnchorCmd(g),
		newTransparencyCmd(g),
		newWatchCmd(g),
		newPairCmd(g), newDevicesCmd(g),
	)
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil && c != root {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("completion: name a shell: bash, zsh, fish or powershell")
			}
			return usagef("completion: no completion for %q; want bash, zsh, fish or powershell", args[0])
		}
	}
	usageArgs(root)
	return root
}

// usageArgs makes every command's argument errors usage errors (exit 2).
func usageArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
	if check := c.Args; check != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
}

// logger builds the logger the --log-level and --log-format flags ask for.
func (g *globals) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToUpper(g.logLevel))); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	return g.loggerAt(lvl)
}

// loggerAt is logger at a fixed level, in the --log-format format.
func (g *globals) loggerAt(lvl slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: lvl}
	switch g.logFormat {
	case "text", "":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", g.logFormat)
}

func addJSONFlag(c *cobra.Command, g *globals) {
	c.Flags().BoolVar(&g.jsonOut, "json", false, "print JSON for scripts")
}

func printJSON(c *cobra.Command, v any) error {
	enc := json.NewEncoder(c.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
