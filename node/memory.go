package node

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is the Go runtime's soft memory limit of a node run
// by `porchlight run` unless config.toml's memory_limit or GOMEMLIMIT
// says otherwise.
//
// Why a limit, and why this one (docs/benchmarks.md, "A year of a busy
// street", feedfast): a node idles at 8-35 MiB of Go memory, but a Badger
// compaction of a large LSM (after a bulk load, or the schema migration of
// a year of posts) builds its tables in the Go heap, and without a limit
// the collector let RssAnon reach 745 MiB during that migration and 234
// MiB while the node compacted afterwards; with 96 MiB, 72 and 59 MiB.
// The limit makes the collector work harder near it: ingest of a small
// store ran 5-7 % slower with it (within the noise of a loaded machine),
// the year's migration 3.2 times slower (455 s against 141 s). It is
// soft, so a node whose live memory needs more still gets it (the runtime
// caps the collector's CPU), which is why it is not set near the idle
// figure.
const DefaultMemoryLimit = "96MiB"

// parseMemoryLimit parses memory_limit: "" is DefaultMemoryLimit, "off"
// is 0, otherwise a whole number of bytes with an optional unit (B, KiB,
// MiB, GiB, as GOMEMLIMIT takes them), at least 16 MiB.
func parseMemoryLimit(v string) (int64, error) {
	if v == "" {
		v = DefaultMemoryLimit
	}
	if v == "off" {
		return 0, nil
	}
	num, mult := v, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult || n*mult < 16<<20 {
		return 0, fmt.Errorf("memory_limit %q: want a size of at least 16MiB such as 96MiB or 1GiB, or off", v)
	}
	return n * mult, nil
}

// ApplyMemoryLimit sets the process's Go memory limit from s (see
// DefaultMemoryLimit), unless the GOMEMLIMIT environment variable is set,
// which the runtime has applied already. It is for the process that runs
// one node (`porchlight run`): the limit is the whole process's, so
// node.Start does not set it (tests and simulations run many nodes in one
// process). It returns the limit in force (math.MaxInt64: none).
func ApplyMemoryLimit(s Settings, log *slog.Logger) int64 {
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		limit := debug.SetMemoryLimit(-1)
		log.Debug("memory limit from GOMEMLIMIT, not config.toml", "GOMEMLIMIT", env)
		return limit
	}
	if s.MemoryLimitBytes == 0 {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(s.MemoryLimitBytes)
	return s.MemoryLimitBytes
}
