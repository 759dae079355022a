//go:build !linux

package main

import "os"

// isTTY reports whether f is a terminal someone can answer a question on.
// Off Linux it is isTerminal: any character device.
func isTTY(f *os.File) bool { return isTerminal(f) }
