package main

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/spf13/cobra"
)

// TestPrintList: the one list printer renders a table under its headings
// (aligned, no heading line when every heading is empty) or, with --json,
// the rows themselves.
func TestPrintList(t *testing.T) {
	type row struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	rows := []row{{"12 Maple St", 3}, {"x", 1200}}
	name := col("NAME", func(r row) string { return r.Name })
	n := col("N", func(r row) string { return strconv.Itoa(r.N) })
	cases := []struct {
		name string
		json bool
		rows []row
		cols []column[row]
		want string
	}{
		{"table", false, rows, []column[row]{name, n}, "NAME         N\n12 Maple St  3\nx            1200\n"},
		{"empty table keeps its headings", false, nil, []column[row]{name, n}, "NAME  N\n"},
		{"no headings: bare lines", false, rows, []column[row]{col("", func(r row) string { return r.Name })}, "12 Maple St\nx\n"},
		{"json", true, rows, []column[row]{name}, "[\n  {\n    \"name\": \"12 Maple St\",\n    \"n\": 3\n  },\n  {\n    \"name\": \"x\",\n    \"n\": 1200\n  }\n]\n"},
		{"json of nothing", true, nil, []column[row]{name}, "null\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			c := &cobra.Command{}
			c.SetOut(&out)
			if err := printList(c, &globals{jsonOut: tc.json}, tc.rows, tc.cols...); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", out.String(), tc.want)
			}
		})
	}
}
