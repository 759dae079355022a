// Package browsertest drives the embedded web UI in a real headless
// Chromium against real nodes on 127.0.0.1. It holds only tests.
package browsertest
