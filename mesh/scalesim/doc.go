// Package scalesim runs the real mesh (mesh.Mesh with its validators,
// rules, Badger stores and sync) for hundreds of homes in one process, on
// go-libp2p's simulated QUIC network (x/simlibp2p, github.com/marcopolo/simnet)
// inside a testing/synctest bubble, and measures post delivery in simulated
// time (issue 17, section 1). It has tests only: see scalesim_test.go and
// docs/benchmarks.md, "Scale simulation (issue 17)".
package scalesim
