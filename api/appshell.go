package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"math"
	"path"
	"sort"
	"sync"
)

// The installable app: a web app manifest (ui/manifest.webmanifest), icons
// drawn here, and a service worker (ui/sw.js) that keeps the app shell (the
// files under ui/ and the page) so that the UI opens, and says the node is
// not answering, while the node is stopped. Data never goes through its
// cache: every /api/ request goes to the node.

// iconSizes are the PNG icons the manifest names, as /ui/icon-N.png.
var iconSizes = []int{192, 512}

// workerFile is the service worker's script under ui/; it is served with
// the shell's list and version prepended (see shellWorker).
const workerFile = "sw.js"

var (
	iconOnce  sync.Once
	iconPNGs  map[string][]byte // file name under /ui/ → PNG
	shellOnce sync.Once
	shellJS   []byte
	shellErr  error
)

// generatedIcon returns the PNG for an icon file name, or false.
func generatedIcon(name string) ([]byte, bool) {
	iconOnce.Do(func() {
		iconPNGs = map[string][]byte{}
		for _, n := range iconSizes {
			var buf bytes.Buffer
			if err := png.Encode(&buf, drawIcon(n)); err != nil {
				panic(err) // encoding an in-memory RGBA cannot fail
			}
			iconPNGs[fmt.Sprintf("icon-%d.png", n)] = buf.Bytes()
		}
	})
	b, ok := iconPNGs[name]
	return b, ok
}

// drawIcon draws the logo, the header's amber porch light, on the UI's
// accent brown, n pixels square. The background fills the square (the
// platform masks it to its own shape) and the light stays inside the
// maskable safe zone, the centre circle of 80% of the width.
func drawIcon(n int) *image.RGBA {
	bg := color.RGBA{0x8a, 0x4b, 0x00, 0xff}    // --accent
	light := color.RGBA{0xe8, 0xa3, 0x3d, 0xff} // .logo
	glow := color.RGBA{0xb9, 0x77, 0x1f, 0xff}  // between the two
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	c := float64(n) / 2
	rLight, rGlow := 0.22*float64(n), 0.32*float64(n)
	const ss = 4 // samples per axis, for smooth edges
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			var inLight, inGlow int
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					dx := float64(x) + (float64(sx)+0.5)/ss - c
					dy := float64(y) + (float64(sy)+0.5)/ss - c
					d := math.Hypot(dx, dy)
					switch {
					case d <= rLight:
						inLight++
					case d <= rGlow:
						inGlow++
					}
				}
			}
			const all = ss * ss
			mix := func(a, b, g uint8) uint8 {
				return uint8((int(a)*inLight + int(g)*inGlow + int(b)*(all-inLight-inGlow)) / all)
			}
			img.SetRGBA(x, y, color.RGBA{mix(light.R, bg.R, glow.R), mix(light.G, bg.G, glow.G), mix(light.B, bg.B, glow.B), 0xff})
		}
	}
	return img
}

// shellWorker is the service worker script: ui/sw.js after two constants,
// SHELL (the page and every file the UI serves, so a file added to ui/ is
// kept without editing a list) and VERSION (a hash of them all, so the
// browser installs a new worker, and drops the old cache, when the UI
// changes).
func shellWorker() ([]byte, error) {
	shellOnce.Do(func() {
		shellJS, shellErr = buildShellWorker(ui)
	})
	return shellJS, shellErr
}

func buildShellWorker(files fs.FS) ([]byte, error) {
	worker, err := fs.ReadFile(files, "ui/"+workerFile)
	if err != nil {
		return nil, fmt.Errorf("read the service worker: %w", err)
	}
	names, err := fs.Glob(files, "ui/*")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	h := sha256.New()
	shell := []string{"/"}
	for _, name := range names {
		base := path.Base(name)
		if _, ok := uiTypes[path.Ext(base)]; !ok || base == workerFile {
			continue
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s %d\n", base, len(b))
		h.Write(b)
		shell = append(shell, "/ui/"+base)
	}
	for _, n := range iconSizes {
		shell = append(shell, fmt.Sprintf("/ui/icon-%d.png", n))
	}
	fmt.Fprintf(h, "icons %v\n", iconSizes)
	h.Write(worker)
	list, err := json.Marshal(shell)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "// Written by the node (api/appshell.go): the app shell and its version.\nconst SHELL = %s;\nconst VERSION = %q;\n\n", list, hex.EncodeToString(h.Sum(nil))[:16])
	out.Write(worker)
	return out.Bytes(), nil
}
