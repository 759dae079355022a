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
