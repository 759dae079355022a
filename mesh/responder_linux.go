package mesh

import (
	"net"

	"golang.org/x/sys/unix"
)

func reusePort(fd uintptr) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}

// setMulticastAll sets IP_MULTICAST_ALL (IPV6_MULTICAST_ALL for v6): with
// it off, a socket receives only the groups it joined itself.
func setMulticastAll(c *net.UDPConn, v6, on bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	v := 0
	if on {
		v = 1
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, v)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, v)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
