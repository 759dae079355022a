package mqtt

import (
	"fmt"
	"net"
)

// MaxPacket is the largest MQTT packet (its remaining length) the bridge
// accepts from a broker. It only ever receives Home Assistant's birth
// message ("online") and acknowledgements.
const MaxPacket = 64 << 10

// limitConn ends the connection when the broker announces a packet over
// max bytes, before the client library allocates it: it follows the MQTT
// framing (a type byte, a variable-length remaining length of up to four
// bytes, the body) over every byte read.
type limitConn struct {
	net.Conn
	max int

	// Framing state: header is true while the next byte is a packet's
	// type byte; lenBytes counts remaining-length bytes read so far.
	header   bool
	lenBytes int
	length   int
	mult     int
	body     int // body bytes still to come
	err      error
}

func newLimitConn(c net.Conn, max int) *limitConn {
	return &limitConn{Conn: c, max: max, header: true}
}

func (c *limitConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if ferr := c.scan(p[:n]); ferr != nil {
		c.err = ferr
		c.Conn.Close()
		return 0, ferr
	}
	return n, err
}

// scan advances the framing state over b.
func (c *limitConn) scan(b []byte) error {
	for len(b) > 0 {
		switch {
		case c.body > 0:
			k := min(c.body, len(b))
			c.body -= k
			b = b[k:]
		case c.header:
			c.header, c.lenBytes, c.length, c.mult = false, 0, 0, 1
			b = b[1:]
		default:
			x := b[0]
			b = b[1:]
			c.length += int(x&0x7f) * c.mult
			c.mult *= 128
			c.lenBytes++
			if c.length > c.max {
				return fmt.Errorf("the broker sent a packet of over %d bytes (%d or more); the bridge receives only short messages", c.max, c.length)
			}
			if x&0x80 != 0 {
				if c.lenBytes == 4 {
					return fmt.Errorf("the broker sent a malformed packet length")
				}
				continue
			}
			c.body, c.header = c.length, true
		}
	}
	return nil
}
