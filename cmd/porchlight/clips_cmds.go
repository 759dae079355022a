package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/clips"
)

func newClipsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "clips", Short: "This home's video clips (they stay here unless you share them)"}
	var camera, start, end string
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a clip (prints its ID last)",
		Long: `Import a video file into this node's clip store. The camera and start time
are taken from the flags, else from a file name such as
front-door-2026-11-27T19-42-10Z.mp4, else the file's modification time.`,
		Example: `  porchlight clips import front-door-2026-11-27T19-42-10Z.mp4 --camera front-door`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path := args[0]
			f, err := os.Open(path)
			if err != nil {
				return usageError{err}
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				return usagef("%s is not a regular file", path)
			}
			if fi.Size() == 0 {
				return usagef("%s is empty: nothing to import", path)
			}
			cam, st, ok := clips.ParseFileName(filepath.Base(path))
			if camera != "" {
				cam = camera
			}
			switch {
			case start != "":
				t, err := time.Parse(time.RFC3339, start)
				if err != nil {
					return usagef("--start %q: want an RFC 3339 time", start)
				}
				st = t
			case !ok:
				st = fi.ModTime()
			}
			up := client.Upload{Camera: cam, Start: st, MediaType: mediaTypeOf(path), Size: fi.Size()}
			if end != "" {
				if up.End, err = time.Parse(time.RFC3339, end); err != nil {
					return usagef("--end %q: want an RFC 3339 time", end)
				}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			var finish func()
			up.Progress, finish = progressOn(os.Stderr)
			out, err := cl.UploadClip(c.Context(), f, up)
			finish()
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(c, out)
			}
			fmt.Fprintf(c.OutOrStdout(), "imported %s (%s, %d bytes)\n%s\n", path, out.Camera, out.Size, out.ID)
			return nil
		},
	}
	imp.Flags().StringVar(&camera, "camera", "", "camera name")
	imp.Flags().StringVar(&start, "start", "", "start of the recording (RFC 3339)")
	imp.Flags().StringVar(&end, "end", "", "end of the recording (RFC 3339)")
	addJSONFlag(imp, g)

	ls := &cobra.Command{
		Use:   "ls",
		Short: "List this home's clips, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			out, err := cl.Clips(c.Context())
			if err != nil {
				return err
			}
			return printList(c, g, out,
				col("CAMERA", func(m api.ClipJSON) string { return m.Camera }),
				col("START", func(m api.ClipJSON) string { return m.Start.Local().Format(time.DateTime) }),
				col("SIZE", func(m api.ClipJSON) string { return strconv.FormatUint(m.Size, 10) }),
				col("KEPT UNTIL", func(m api.ClipJSON) string {
					if m.Expires != nil {
						return m.Expires.Local().Format(time.DateOnly)
					}
					return "held (shared)"
				}),
				col("ID", func(m api.ClipJSON) string { return m.ID[:12] }))
		},
	}
	addJSONFlag(ls, g)
	c.AddCommand(imp, ls, newClipsFetchCmd(g))
	return c
}

func mediaTypeOf(path string) string {
	switch filepath.Ext(path) {
	case ".mp4", ".m4v":
		return "video/mp4"
	case ".mov":
		return "video/quicktime"
	case ".mkv":
		return "video/x-matroska"
	case ".webm":
		return "video/webm"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}
