package node

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/porchlight-mesh/porchlight/mesh"
)

// ParseHorizon parses a horizon setting (config.toml's horizon, run
// --horizon; see Config.Horizon): "" is mesh.DefaultHorizon, "forever" is
// -1 (no horizon), else days such as "365d" or a Go duration, at least
// mesh.NewcomerWindow (a week: a newcomer's first pass asks for that much).
func ParseHorizon(v string) (time.Duration, error) {
	switch v {
	case "":
		return mesh.DefaultHorizon, nil
	case "forever":
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, errN := strconv.Atoi(days)
		d, err = time.Duration(n)*24*time.Hour, errN
	}
	if err != nil || d < mesh.NewcomerWindow {
		return 0, fmt.Errorf("horizon %q: want days such as 365d, a duration of at least %v (168h), or forever", v, mesh.NewcomerWindow)
	}
	return d, nil
}
