//go:build !linux

package mesh

import "net"

// reusePort is a no-op off Linux: a second responder on the same host then
// fails to bind and discovery falls back to static peers.
func reusePort(uintptr) error { return nil }

// setMulticastAll is Linux-only; elsewhere the arrival interface of each
// packet (a control message) still decides which zone answers.
func setMulticastAll(*net.UDPConn, bool, bool) error { return nil }
