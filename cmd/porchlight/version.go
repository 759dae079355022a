package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what `porchlight version` reports, from the build info the
// Go toolchain embeds in the binary.
type versionInfo struct {
	Module    string `json:"module"`
	Version   string `json:"version"`               // "(devel)" for a build from a checkout
	Commit    string `json:"commit,omitempty"`      // vcs.revision
	CommitAt  string `json:"commit_time,omitempty"` // vcs.time, RFC 3339
	Modified  bool   `json:"modified"`              // vcs.modified: built with uncommitted changes
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func readVersion() versionInfo {
	v := versionInfo{Version: "unknown", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module, v.Version, v.GoVersion = bi.Main.Path, bi.Main.Version, bi.GoVersion
	if v.Version == "" {
		v.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitAt = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func newVersionCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Long: `Print the module version, the commit the binary was built from (with its
time, and whether the checkout had uncommitted changes), the Go version and
the platform. "go run" and "go test" builds carry no commit.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v := readVersion()
			if g.jsonOut {
				return printJSON(c, v)
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "porchlight %s\n", v.Version)
			if v.Commit != "" {
				dirty := ""
				if v.Modified {
					dirty = " (with uncommitted changes)"
				}
				fmt.Fprintf(w, "commit     %s%s\n", v.Commit, dirty)
				if v.CommitAt != "" {
					fmt.Fprintf(w, "committed  %s\n", v.CommitAt)
				}
			} else {
				fmt.Fprintln(w, "commit     unknown (built without VCS information)")
			}
			fmt.Fprintf(w, "go         %s %s\n", v.GoVersion, v.Platform)
			if v.Module != "" {
				fmt.Fprintf(w, "module     %s\n", v.Module)
			}
			return nil
		},
	}
	addJSONFlag(c, g)
	return c
}
