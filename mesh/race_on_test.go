//go:build race

package mesh_test

// raceEnabled: the race detector slows everything 5 to 10 times, which
// turns the timing figures of the fault tests into noise.
const raceEnabled = true
