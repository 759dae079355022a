package requests

import (
	"fmt"
	"time"
)

// Limits are the rules' numbers. The zero value of a field means the
// default (Ring's 2021 policy).
type Limits struct {
	MinArea     float64       // square miles; default 0.025
	MaxArea     float64       // square miles; default 0.5
	MinWindow   time.Duration // default 15 min
	MaxWindow   time.Duration // default 12 h
	MaxFuture   time.Duration // how far past the request's time the window may end; default 1 h
	MaxOpen     int           // open requests per agency; default 10
	AllowLooser bool          // permit limits looser than the defaults (logged)
}

// DefaultLimits are Ring's 2021 "Request for Assistance" bounds.
var DefaultLimits = Limits{
	MinArea:   0.025,
	MaxArea:   0.5,
	MinWindow: 15 * time.Minute,
	MaxWindow: 12 * time.Hour,
	MaxFuture: time.Hour,
	MaxOpen:   10,
}

// withDefaults fills zero fields and checks that the limits are at least as
// tight as the defaults, unless AllowLooser. looser lists what was loosened.
func (l Limits) withDefaults() (out Limits, looser []string, err error) {
	d := DefaultLimits
	if l.MinArea == 0 {
		l.MinArea = d.MinArea
	}
	if l.MaxArea == 0 {
		l.MaxArea = d.MaxArea
	}
	if l.MinWindow == 0 {
		l.MinWindow = d.MinWindow
	}
	if l.MaxWindow == 0 {
		l.MaxWindow = d.MaxWindow
	}
	if l.MaxFuture == 0 {
		l.MaxFuture = d.MaxFuture
	}
	if l.MaxOpen == 0 {
		l.MaxOpen = d.MaxOpen
	}
	check := func(loose bool, what string) {
		if loose {
			looser = append(looser, what)
		}
	}
	check(l.MinArea < d.MinArea, fmt.Sprintf("minimum area %.3f sq mi < %.3f", l.MinArea, d.MinArea))
	check(l.MaxArea > d.MaxArea, fmt.Sprintf("maximum area %.3f sq mi > %.3f", l.MaxArea, d.MaxArea))
	check(l.MinWindow < d.MinWindow, fmt.Sprintf("minimum window %s < %s", l.MinWindow, d.MinWindow))
	check(l.MaxWindow > d.MaxWindow, fmt.Sprintf("maximum window %s > %s", l.MaxWindow, d.MaxWindow))
	check(l.MaxFuture > d.MaxFuture, fmt.Sprintf("window end %s ahead > %s", l.MaxFuture, d.MaxFuture))
	check(l.MaxOpen > d.MaxOpen, fmt.Sprintf("open requests %d > %d", l.MaxOpen, d.MaxOpen))
	if len(looser) > 0 && !l.AllowLooser {
		return l, looser, fmt.Errorf("request limits looser than the defaults (%v): a neighborhood may only tighten them, unless allow_looser_limits is set", looser)
	}
	if l.MinArea > l.MaxArea || l.MinWindow > l.MaxWindow {
		return l, looser, fmt.Errorf("request limits: minimum above maximum")
	}
	return l, looser, nil
}
