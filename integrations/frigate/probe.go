package frigate

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Probe asks Frigate's API for its version (GET /api/version), as
// `porchlight doctor` does while no node runs, and returns it.
func Probe(ctx context.Context, frigateURL string) (string, error) {
	u, err := CheckURL(frigateURL)
	if err != nil {
		return "", err
	}
	u.Path += "/api/version"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errUnreachable, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode >= 500 {
		return "", fmt.Errorf("%w: GET %s: %s", errUnreachable, u, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s (is [frigate] url Frigate's API port, 5000?)", u, resp.Status)
	}
	v := strings.TrimSpace(string(b))
	if v == "" || len(v) > 64 || strings.ContainsAny(v, "<{") {
		return "", fmt.Errorf("GET %s: not Frigate's answer (is [frigate] url Frigate's API port, 5000?)", u)
	}
	return v, nil
}
