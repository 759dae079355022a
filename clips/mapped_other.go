//go:build !linux

package clips

// dropPages is a no-op where the page-table trick of mapped_linux.go is
// not implemented.
func dropPages([]byte, bool) {}

// canDropPages reports whether dropPages does anything here.
const canDropPages = false
