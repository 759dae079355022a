// Package sampleclips holds six small, license-clean video clips for the
// demo and the browser tests: 8 s, 320x180, 15 fps VP8 WebM without audio,
// drawn by ffmpeg's built-in test sources (see gen.sh, which regenerates
// them), so they contain no third-party footage.
package sampleclips

import (
	"embed"
	"fmt"
)

//go:embed clip*.webm
var files embed.FS

// MediaType is the media type of every sample clip.
const MediaType = "video/webm"

// Count is the number of sample clips.
const Count = 6

// Clip returns sample clip i (1..Count).
func Clip(i int) ([]byte, error) {
	if i < 1 || i > Count {
		return nil, fmt.Errorf("sampleclips: no clip %d (1..%d)", i, Count)
	}
	return files.ReadFile(fmt.Sprintf("clip%d.webm", i))
}
