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

func TestVariant(t *testing.T) {
	a, err := Variant(Small[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Variant(Small[0], 2)
	orig, _ := Clip(Small[0])
	if bytes.Equal(a, b) || !bytes.HasPrefix(a, orig) || len(a) != len(orig)+10 {
		t.Errorf("variants of clip %d: not distinct, or not the clip plus a 10-byte Void element", Small[0])
	}
}
