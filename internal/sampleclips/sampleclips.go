// Package sampleclips holds six small, license-clean video clips for the
// demo and the browser tests: 8 s, 320x180, 15 fps VP8 WebM without audio,
// drawn by ffmpeg's built-in test sources (see gen.sh, which regenerates
// them), so they contain no third-party footage.
package sampleclips

import (
	"embed"
	"encoding/binary"
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

// Small are the smallest sample clips (a few to 25 kB), the bases of
// Variant.
var Small = []int{2, 5}

// Variant returns sample clip i made distinct by n: the clip followed by
// an EBML Void element (ID 0xEC) holding n, which players skip. Every
// variant is a clip of its own (its own SHA-256, so its own clip ID) that
// plays like clip i: the tests that need a home's month of clips
// (thousands) generate them instead of committing them.
func Variant(i int, n uint64) ([]byte, error) {
	b, err := Clip(i)
	if err != nil {
		return nil, err
	}
	b = append(b, 0xEC, 0x80|8) // Void, 8 bytes
	return binary.BigEndian.AppendUint64(b, n), nil
}
