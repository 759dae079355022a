package sampleclips

import (
	"bytes"
	"testing"
)

func TestClips(t *testing.T) {
	webm := []byte{0x1a, 0x45, 0xdf, 0xa3} // EBML magic
	for i := 1; i <= Count; i++ {
		b, err := Clip(i)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 1000 || !bytes.HasPrefix(b, webm) {
			t.Errorf("clip %d: %d bytes, not a WebM file", i, len(b))
		}
	}
	if _, err := Clip(0); err == nil {
		t.Error("Clip(0): no error")
	}
	if _, err := Clip(Count + 1); err == nil {
		t.Error("Clip(Count+1): no error")
	}
}
