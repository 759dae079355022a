package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// ProfileEnv names a file to write a CPU profile of this process into,
// from start to exit (`go tool pprof porchlight FILE`): for an operator or
// a benchmark asking where a busy node's time goes. The profile holds
// function names and sample counts only, never data.
const ProfileEnv = "PORCHLIGHT_CPUPROFILE"

// startProfile starts the CPU profile ProfileEnv asks for; the returned
// stop writes it out (call it before exiting).
func startProfile() (stop func()) {
	path := os.Getenv(ProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "porchlight: %s: %v\n", ProfileEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "porchlight: %s: %v\n", ProfileEnv, err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "porchlight: %s: %v\n", ProfileEnv, err)
		}
	}
}
