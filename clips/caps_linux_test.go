package clips_test

import (
	"runtime"
	"syscall"
	"unsafe"
)

// Linux capability sets (capability(7)), version 3.
type capHeader struct {
	version uint32
	pid     int32
}

type capData struct {
	effective, permitted, inheritable uint32
}

const (
	capVersion3      = 0x20080522
	capDACOverride   = 1
	capDACReadSearch = 2
)

// withFilePermissions runs f on an OS thread without the capabilities that
// let root ignore file permissions, so that a test running as root (as CI
// does) meets a permission error like any user. Capabilities belong to a
// thread; the thread is never unlocked, so it ends with f's goroutine and
// no other code runs on it. It returns a reason to skip when it cannot.
func withFilePermissions(f func()) (skip string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		hdr := capHeader{version: capVersion3}
		var data [2]capData
		if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
			skip = "capget: " + e.Error()
			return
		}
		data[0].effective &^= 1<<capDACOverride | 1<<capDACReadSearch
		if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
			skip = "capset: " + e.Error()
			return
		}
		f()
	}()
	<-done
	return skip
}
