package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

//go:generate go run . docs --out ../../docs/cli

// newDocsCmd writes the CLI reference. It is hidden: it is for maintainers
// (go generate ./cmd/porchlight), and a test fails when docs/cli is stale.
func newDocsCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:    "docs",
		Short:  "Write the CLI reference as Markdown (for maintainers)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			files, err := cliDocs(c.Root())
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			old, _ := filepath.Glob(filepath.Join(out, "*.md"))
			for _, f := range old {
				if _, keep := files[filepath.Base(f)]; !keep {
					if err := os.Remove(f); err != nil {
						return err
					}
				}
			}
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %d files to %s\n", len(files), out)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "docs/cli", "directory to write to")
	return c
}

// cliDocs renders one Markdown page per visible command, plus README.md
// listing them all. The output is deterministic: machine-dependent flag
// defaults (the data directory) are shown by their rule.
func cliDocs(root *cobra.Command) (map[string][]byte, error) {
	if f := root.PersistentFlags().Lookup("data"); f != nil {
		defer func(v string) { f.DefValue = v }(f.DefValue)
		f.DefValue = "$PORCHLIGHT_DATA, else $XDG_DATA_HOME/porchlight, else ~/.local/share/porchlight"
	}
	files := map[string][]byte{}
	var index bytes.Buffer
	index.WriteString("# porchlight CLI reference\n\n")
	index.WriteString("Generated from the commands' own help by `go generate ./cmd/porchlight`\n")
	index.WriteString("(`porchlight docs --out docs/cli`); a test fails when it is stale. Every command\n")
	index.WriteString("also has `--help`.\n\n| command | what it does |\n|---------|--------------|\n")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		name := docName(c)
		files[name] = commandDoc(c)
		fmt.Fprintf(&index, "| [`%s`](%s) | %s |\n", c.CommandPath(), name, strings.ReplaceAll(c.Short, "|", `\|`))
		subs := c.Commands()
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name() < subs[j].Name() })
		for _, s := range subs {
			walk(s)
		}
	}
	walk(root)
	files["README.md"] = index.Bytes()
	return files, nil
}

func docName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
}

func commandDoc(c *cobra.Command) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", c.CommandPath(), c.Short)
	if c.Long != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(c.Long))
	}
	if c.Runnable() {
		fmt.Fprintf(&b, "```\n%s\n```\n\n", c.UseLine())
	}
	if c.Example != "" {
		fmt.Fprintf(&b, "## Examples\n\n```\n%s\n```\n\n", c.Example)
	}
	flags := func(title string, fs *pflag.FlagSet) {
		if fs.HasAvailableFlags() {
			fmt.Fprintf(&b, "## %s\n\n```\n%s```\n\n", title, fs.FlagUsages())
		}
	}
	flags("Flags", c.NonInheritedFlags())
	flags("Global flags", c.InheritedFlags())
	var subs []*cobra.Command
	for _, s := range c.Commands() {
		if !s.Hidden && s.Name() != "help" {
			subs = append(subs, s)
		}
	}
	if len(subs) > 0 {
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name() < subs[j].Name() })
		b.WriteString("## Commands\n\n")
		for _, s := range subs {
			fmt.Fprintf(&b, "- [%s](%s): %s\n", s.CommandPath(), docName(s), s.Short)
		}
		b.WriteString("\n")
	}
	if c.HasParent() {
		fmt.Fprintf(&b, "See also: [%s](%s), [all commands](README.md).\n", c.Parent().CommandPath(), docName(c.Parent()))
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
