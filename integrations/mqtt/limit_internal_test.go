package mqtt

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

// pipeConn serves bytes as a connection's reads, n at a time.
type pipeConn struct {
	net.Conn
	r *bytes.Reader
	n int
}

func (p *pipeConn) Read(b []byte) (int, error) {
	if len(b) > p.n {
		b = b[:p.n]
	}
	return p.r.Read(b)
}

func (p *pipeConn) Close() error { return nil }

// remaining encodes an MQTT remaining length.
func remaining(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

func packet(typ byte, body int) []byte {
	return append(append([]byte{typ}, remaining(body)...), make([]byte, body)...)
}

func TestLimitConn(t *testing.T) {
	small := append(packet(0x20, 2), packet(0x30, 300)...) // CONNACK, a PUBLISH
	huge := append([]byte{0x30}, remaining(4<<20)...)
	for _, c := range []struct {
		name string
		in   []byte
		want string // "" : all read
	}{
		{"small packets", small, ""},
		{"empty bodies", append(packet(0xd0, 0), packet(0xd0, 0)...), ""},
		{"at the limit", packet(0x30, MaxPacket), ""},
		{"one over", append([]byte{0x30}, remaining(MaxPacket+1)...), "over"},
		{"huge after small", append(append([]byte{}, small...), huge...), "over"},
		{"five length bytes", []byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}, "malformed"},
	} {
		for _, chunk := range []int{1, 3, 4096} {
			lc := newLimitConn(&pipeConn{r: bytes.NewReader(c.in), n: chunk}, MaxPacket)
			var got bytes.Buffer
			_, err := got.ReadFrom(lc)
			switch {
			case c.want == "" && (err != nil || !bytes.Equal(got.Bytes(), c.in)):
				t.Errorf("%s, chunks of %d: read %d of %d bytes, %v", c.name, chunk, got.Len(), len(c.in), err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s, chunks of %d: err = %v, want %q", c.name, chunk, err, c.want)
			case c.name == "huge after small" && got.Len() >= len(c.in):
				t.Errorf("%s: the huge packet's length was passed on", c.name)
			}
		}
	}
}

// refBad reports whether an MQTT byte stream announces a packet over max
// or a malformed length: the framing read by the book.
func refBad(b []byte, max int) bool {
	for len(b) > 0 {
		b = b[1:] // type
		length, mult := 0, 1
		for i := 0; ; i++ {
			if len(b) == 0 {
				return false
			}
			x := b[0]
			b = b[1:]
			length += int(x&0x7f) * mult
			mult *= 128
			if length > max {
				return true
			}
			if x&0x80 == 0 {
				break
			}
			if i == 3 {
				return true
			}
		}
		if length >= len(b) {
			return false
		}
		b = b[length:]
	}
	return false
}

// FuzzLimitConn: whatever a broker sends, in whatever pieces, limitConn
// passes it all on unchanged when every packet is within the limit and
// refuses it otherwise.
func FuzzLimitConn(f *testing.F) {
	f.Add(packet(0x20, 2), uint8(1))
	f.Add(append(packet(0x30, 40), 0x30, 0xff, 0xff, 0x7f), uint8(3))
	f.Add([]byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}, uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const max = 300
		lc := newLimitConn(&pipeConn{r: bytes.NewReader(in), n: int(chunk)%64 + 1}, max)
		var got bytes.Buffer
		_, err := got.ReadFrom(lc)
		if bad := refBad(in, max); bad != (err != nil) {
			t.Fatalf("refused %v, want %v (%x)", err, bad, in)
		}
		if err == nil && !bytes.Equal(got.Bytes(), in) {
			t.Fatalf("passed %x, want %x", got.Bytes(), in)
		}
	})
}
