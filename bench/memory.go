package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// Memory targets, in MiB of VmRSS.
const (
	targetIdleMiB   = 48
	targetLoadedMiB = 96
)

// runMemory measures the real binary's resident memory: idle after start
// in a fresh data directory, then, restarted with the bench-side source
// node as its static peer, once it holds the whole data set.
func runMemory(ctx context.Context, e *env) (*section, error) {
	bin := e.p.bin // built by needSourceAndBinary unless given
	src, err := e.sourceNode()
	if err != nil {
		return nil, err
	}
	d := e.data
	data := filepath.Join(e.tmp, "child-data")

	progress("memory: idle node, fresh data dir, %s", e.p.idle)
	c, err := startChild(bin, data, nil)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	startup, err := c.waitStatus(ctx, 30*time.Second)
	if err != nil {
		return nil, err
	}
	time.Sleep(e.p.idle)
	idle, err := readProcStatus(c.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	if err := c.stop(); err != nil {
		return nil, fmt.Errorf("stop idle node: %w", err)
	}

	addrs := src.m.Addrs()
	if len(addrs) == 0 {
		return nil, errors.New("source node has no address")
	}
	progress("memory: node restarted with --peer %s, syncing %d posts", addrs[0], len(d.recs))
	c, err = startChild(bin, data, []string{"--peer", addrs[0].String()})
	if err != nil {
		return nil, err
	}
	defer c.stop()
	if _, err := c.waitStatus(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	synced, err := c.waitFeed(ctx, d, 120*time.Second)
	if err != nil {
		return nil, err
	}
	loaded, err := readProcStatus(c.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	if err := c.stop(); err != nil {
		return nil, fmt.Errorf("stop node: %w", err)
	}
	complete, err := countComplete(filepath.Join(data, node.DBDir), d, e.log)
	if err != nil {
		return nil, fmt.Errorf("verify the node's store: %w", err)
	}

	s := &section{title: "Memory"}
	s.add(row{metric: "VmRSS, idle after start", result: mib(idle["VmRSS"]), target: "≤ 48 MiB", met: met(idle["VmRSS"] <= targetIdleMiB<<10)})
	s.add(row{metric: fmt.Sprintf("VmRSS after ingesting %d posts", len(d.recs)), result: mib(loaded["VmRSS"]), target: "≤ 96 MiB",
		met: met(loaded["VmRSS"] <= targetLoadedMiB<<10 && complete == len(d.authors))})
	s.printf("The real binary (`go build ./cmd/porchlight`), as a child process:\n\n")
	s.printf("1. `porchlight --data D run --no-mdns --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0` in a fresh data directory (it initializes itself); wait until `porchlight --data D status --json` answers (%s after exec), idle %s, read `/proc/PID/status`.\n", ms(startup), e.p.idle)
	s.printf("2. Stop it (SIGTERM), start it again on the same directory with `--peer` set to a bench-side node holding the %d posts; poll `GET /api/v1/feed?limit=%d` (bearer token from `D/api.token`) until it lists every author's last post (%.2f s after exec; sync sends each log in order), read `/proc/PID/status` at once. ", len(d.recs), len(d.authors), synced.Seconds())
	s.printf("After it exits, its Badger store is opened and checked: %d of %d authors complete (%d posts each).\n\n", complete, len(d.authors), d.perAuthor)
	s.printf("| | idle | after %d posts |\n|---|---:|---:|\n", len(d.recs))
	for _, k := range []string{"VmRSS", "RssAnon", "RssFile", "VmHWM"} {
		s.printf("| %s | %s | %s |\n", k, mib(idle[k]), mib(loaded[k]))
	}
	s.printf("\nMiB = 1024 KiB. VmHWM is the peak RSS of that process.\n\n")
	return s, nil
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// buildBinary builds cmd/porchlight of the module the bench runs in.
func buildBinary(tmp string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(tmp, "porchlight")
	progress("go build -o %s ./cmd/porchlight", bin)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/porchlight")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/porchlight: %w\n%s", err, b)
	}
	return bin, nil
}

// child is a running `porchlight run`.
type child struct {
	bin, data string
	cmd       *exec.Cmd
	logPath   string
	started   time.Time
	exited    chan error
	stopped   bool
}

func startChild(bin, data string, extra []string) (*child, error) {
	if err := os.MkdirAll(filepath.Dir(data), 0o700); err != nil {
		return nil, err
	}
	logPath := data + fmt.Sprintf("-%d.log", time.Now().UnixNano())
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{"--data", data, "run", "--no-mdns", "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &child{bin: bin, data: data, cmd: cmd, logPath: logPath, started: time.Now(), exited: make(chan error, 1)}
	go func() {
		c.exited <- cmd.Wait()
		logf.Close()
	}()
	return c, nil
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 15 s). It is
// safe to call more than once.
func (c *child) stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		if err != nil {
			return fmt.Errorf("%w%s", err, c.logTail())
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("did not exit 15 s after SIGTERM; killed%s", c.logTail())
	}
}

func (c *child) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return "\nnode log (tail):\n" + strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// waitStatus runs `porchlight status --json` until it answers, and returns
// how long after exec that was.
func (c *child) waitStatus(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.CommandContext(ctx, c.bin, "--data", c.data, "status", "--json").Output()
		if err == nil {
			var st api.Status
			if err := json.Unmarshal(out, &st); err != nil {
				return 0, fmt.Errorf("status --json: %w", err)
			}
			if st.PeerID != "" {
				return time.Since(c.started), nil
			}
		}
		select {
		case err := <-c.exited:
			c.stopped = true
			return 0, fmt.Errorf("node exited before answering status: %v%s", err, c.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("node did not answer status within %s%s", timeout, c.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFeed polls the node's feed until its newest posts are exactly every
// author's last post, and returns how long after exec that was.
func (c *child) waitFeed(ctx context.Context, d *dataset, timeout time.Duration) (time.Duration, error) {
	cl, err := client.FromDataDir(c.data)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(timeout)
	have := 0
	for {
		posts, err := cl.Feed(ctx, len(d.authors))
		if err != nil {
			return 0, fmt.Errorf("GET feed: %w", err)
		}
		have = 0
		for _, p := range posts {
			if id, err := record.ParseID(p.ID); err == nil && d.last[id] {
				have++
			}
		}
		if have == len(d.authors) {
			return time.Since(c.started), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("feed has %d of %d authors' last posts after %s%s", have, len(d.authors), timeout, c.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countComplete opens a stopped node's store and counts the data set's
// authors whose whole log it holds.
func countComplete(dir string, d *dataset, log *slog.Logger) (int, error) {
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: neighborhood, Logger: log})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n := 0
	for _, a := range d.authors {
		h, err := db.Head(a)
		if err != nil {
			return 0, err
		}
		if h.Contig == uint64(d.perAuthor) {
			n++
		}
	}
	return n, nil
}

// readProcStatus returns the kB fields of /proc/PID/status.
func readProcStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	if _, ok := out["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return out, nil
}
