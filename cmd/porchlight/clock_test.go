package main

import (
	"strings"
	"testing"
	"time"
)

// One future-dated record, from one neighbor or a stranger, must not make
// doctor call this clock behind (issue 11 item 18).
func TestJudgeClock(t *testing.T) {
	for _, c := range []struct {
		name                    string
		observed, ahead, behind int
		median                  time.Duration
		status, says            string
	}{
		{"no neighbor seen", 0, 0, 0, 0, checkOK, "not compared yet"},
		{"one neighbor, in agreement", 1, 0, 0, 40 * time.Millisecond, checkOK, "within 5m0s of 1 neighbor"},
		{"the only neighbor is ahead", 1, 1, 0, time.Hour, checkOK, "their clocks are wrong, not this one"},
		{"one of three ahead", 3, 1, 0, 0, checkOK, "1 of them"},
		{"half of four ahead", 4, 2, 0, 0, checkOK, "agrees with most"},
		{"two of three ahead", 3, 2, 0, time.Hour, checkWarn, "this clock is behind"},
		{"all ahead", 5, 5, 0, time.Hour, checkWarn, "5 of 5 neighbors"},
		{"most behind", 3, 0, 3, -time.Hour, checkWarn, "this clock is probably ahead"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, detail, _ := judgeClock(c.observed, c.ahead, c.behind, c.median)
			if status != c.status || !strings.Contains(detail, c.says) {
				t.Fatalf("got %s %q, want %s and %q", status, detail, c.status, c.says)
			}
		})
	}
}
