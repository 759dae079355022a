package main

import (
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/client"
)

// client is the typed client of the node running on the data directory
// (see package client: it reads the API's address, token and pinned
// certificate from there).
func (g *globals) client() (*client.Client, error) {
	return client.FromDataDir(g.dataDir)
}

// column is one column of a listing: its heading and how a row reads in
// it.
type column[T any] struct {
	head string
	cell func(T) string
}

func col[T any](head string, cell func(T) string) column[T] { return column[T]{head, cell} }

// printList prints a command's list result: as JSON with --json, else as
// a table of cols, headed by their headings (no heading line when every
// heading is empty).
func printList[T any](c *cobra.Command, g *globals, rows []T, cols ...column[T]) error {
	if g.jsonOut {
		return printJSON(c, rows)
	}
	tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
	line := make([]byte, 0, 128)
	emit := func(cell func(i int) string) {
		line = line[:0]
		for i := range cols {
			if i > 0 {
				line = append(line, '\t')
			}
			line = append(line, cell(i)...)
		}
		line = append(line, '\n')
		tw.Write(line)
	}
	for _, cl := range cols {
		if cl.head != "" {
			emit(func(i int) string { return cols[i].head })
			break
		}
	}
	for _, r := range rows {
		emit(func(i int) string { return cols[i].cell(r) })
	}
	return tw.Flush()
}
