package api_test

import (
	"encoding/json"
	"testing"
)

// TestStatusAgency: a node no trusted credential names is not an agency
// (its UI hides the agency menus); the browser test checks the other side.
func TestStatusAgency(t *testing.T) {
	s := newServer(t)
	code, body, _ := getUI(t, s, "/api/v1/status", nil)
	var st map[string]any
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("status: %d %v", code, err)
	}
	if v, ok := st["agency"]; !ok || v != false {
		t.Fatalf("status agency = %v (present %v), want false", v, ok)
	}
}
