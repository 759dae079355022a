package lab

// Storage faults (issue 11 item 19): a node whose disk fails must notice it,
// refuse writes with a clear error, keep serving reads, stop within 10 s of
// SIGTERM whatever the disk does, and, on a full disk, write again once
// space returns without losing an acknowledged write. Each test runs the
// real binary on a data directory and breaks the disk under it: removing
// the directory needs nothing special; a full or read-only file system is
// a small tmpfs, which needs root (skipped without it, unless
// PORCHLIGHT_REQUIRE_LAB=1).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopDeadline is what the issue requires of SIGTERM on a failed disk.
const stopDeadline = 10 * time.Second

// storageNode is one `porchlight run` on a data directory a test breaks.
type storageNode struct {
	t    *testing.T
	bin  string
	data string
	base string // http://127.0.0.1:PORT
	tok  string

	logMu sync.Mutex
	logs  bytes.Buffer
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
}

func (n *storageNode) Write(p []byte) (int, error) {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return n.logs.Write(p)
}

func (n *storageNode) logTail() string {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return logTail(n.logs.String(), 40)
}

// newStorageNode initializes a node in data (created if needed).
func newStorageNode(t *testing.T, data string) *storageNode {
	t.Helper()
	n := &storageNode{t: t, bin: buildBinary(t, t.TempDir()), data: data}
	out, err := exec.Command(n.bin, "--data", data, "init", "--name", "Storage Home", "--neighborhood", "maple-st",
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0").CombinedOutput()
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	return n
}

// start runs the node and waits for its API.
func (n *storageNode) start() {
	t := n.t
	t.Helper()
	n.cmd = exec.Command(n.bin, "--data", n.data, "run", "--no-mdns")
	n.cmd.Stderr = n
	n.cmd.Stdout = n
	n.done = make(chan struct{})
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, done := n.cmd, n.done
	go func() {
		n.err = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	tok, err := os.ReadFile(filepath.Join(n.data, "api.token"))
	if err != nil {
		t.Fatal(err)
	}
	n.tok = strings.TrimSpace(string(tok))
	poll(t, "the node's API", readyTimeout, 50*time.Millisecond, func() error {
		select {
		case <-done:
			return fmt.Errorf("exited: %v\n%s", n.err, n.logTail())
		default:
		}
		addr, err := os.ReadFile(filepath.Join(n.data, "api.addr"))
		if err != nil {
			return err
		}
		n.base = "http://" + strings.TrimSpace(string(addr))
		status, body := n.call("GET", "/api/v1/status", nil)
		if status != 200 {
			return fmt.Errorf("status %d %s", status, body)
		}
		return nil
	})
}

// call makes an API request; status 0 means the request failed.
func (n *storageNode) call(method, path string, body any) (int, string) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.base+path, r)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post writes a post and returns the HTTP status and the post's ID.
func (n *storageNode) post(text string) (int, string) {
	status, body := n.call("POST", "/api/v1/posts", map[string]string{"text": text, "kind": "general"})
	var p struct{ ID string }
	_ = json.Unmarshal([]byte(body), &p)
	if status == 201 && p.ID == "" {
		n.t.Fatalf("post answered 201 without an ID: %s", body)
	}
	if status != 201 {
		return status, body
	}
	return status, p.ID
}

// storageStatus is the storage part of GET /api/v1/status.
type storageStatus struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

func (n *storageNode) storage() (storageStatus, error) {
	status, body := n.call("GET", "/api/v1/status", nil)
	if status != 200 {
		return storageStatus{}, fmt.Errorf("status: %d %s", status, body)
	}
	var st struct{ Storage *storageStatus }
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return storageStatus{}, err
	}
	if st.Storage == nil {
		return storageStatus{}, fmt.Errorf("status has no storage field: %s", body)
	}
	return *st.Storage, nil
}

// waitStorage waits until the status's storage is ok (or not).
func (n *storageNode) waitStorage(ok bool) storageStatus {
	n.t.Helper()
	var got storageStatus
	poll(n.t, fmt.Sprintf("status storage ok=%v", ok), 20*time.Second, 100*time.Millisecond, func() error {
		var err error
		got, err = n.storage()
		if err != nil {
			return err
		}
		if got.OK != ok {
			return fmt.Errorf("storage %+v", got)
		}
		return nil
	})
	return got
}

// feedHas reports whether the feed (a read) lists every id.
func (n *storageNode) feedHas(ids ...string) error {
	status, body := n.call("GET", "/api/v1/feed?limit=200", nil)
	if status != 200 {
		return fmt.Errorf("feed: %d %s", status, body)
	}
	for _, id := range ids {
		if !strings.Contains(body, id) {
			return fmt.Errorf("feed lacks post %s", id)
		}
	}
	return nil
}

// metric returns the value of an unlabelled metric line on /metrics.
func (n *storageNode) metric(name string) string {
	status, body := n.call("GET", "/metrics", nil)
	if status != 200 {
		return fmt.Sprintf("(metrics: %d)", status)
	}
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return "(absent)"
}

// stop sends SIGTERM and returns how long the process took to exit; it
// fails the test if it takes longer than stopDeadline (then kills it).
func (n *storageNode) stop() (time.Duration, error) {
	n.t.Helper()
	start := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatal(err)
	}
	select {
	case <-n.done:
		return time.Since(start), n.err
	case <-time.After(stopDeadline + 20*time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
		n.t.Fatalf("still running %v after SIGTERM (killed); logs:\n%s", time.Since(start).Round(time.Millisecond), n.logTail())
		return 0, nil
	}
}

// checkRefusesWrites: a post is refused with 503 and a message that says
// the disk failed and what to check; reads still answer.
func (n *storageNode) checkRefusesWrites(t *testing.T, acked ...string) {
	t.Helper()
	status, body := n.post("written while the disk is broken")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "disk") || !strings.Contains(body, "check") {
		t.Errorf("post on a failed disk: %d %s; want 503 saying the disk failed and what to check", status, body)
	}
	if err := n.feedHas(acked...); err != nil {
		t.Errorf("reads on a failed disk: %v", err)
	}
	if v := n.metric("porchlight_storage_ok"); v != "0" {
		t.Errorf("porchlight_storage_ok = %s, want 0", v)
	}
}

// checkStopsInTime: SIGTERM ends the process within stopDeadline.
func (n *storageNode) checkStopsInTime(t *testing.T, what string) {
	t.Helper()
	took, err := n.stop()
	t.Logf("FIGURE %s: exited %v after SIGTERM (%v)", what, took.Round(time.Millisecond), err)
	if took > stopDeadline {
		t.Errorf("%s: exited %v after SIGTERM, want at most %v; logs:\n%s", what, took.Round(time.Millisecond), stopDeadline, n.logTail())
	}
}

// TestStorageDirectoryRemoved: the data directory disappears under a
// running node (as a dead SD card or an unplugged disk does).
func TestStorageDirectoryRemoved(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the storage fault tests run on Linux")
	}
	n := newStorageNode(t, filepath.Join(t.TempDir(), "node"))
	n.start()
	status, acked := n.post("written before the disk fails")
	if status != 201 {
		t.Fatalf("post: %d %s", status, acked)
	}
	if v := n.metric("porchlight_storage_ok"); v != "1" {
		t.Errorf("porchlight_storage_ok on a good disk = %s, want 1", v)
	}
	if err := os.RemoveAll(n.data); err != nil {
		t.Fatal(err)
	}
	st := n.waitStorage(false)
	t.Logf("status says: %s", st.Error)
	n.checkRefusesWrites(t, acked)
	n.checkStopsInTime(t, "directory removed")
}

// requireRoot skips (or fails, with PORCHLIGHT_REQUIRE_LAB=1) without root.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		unavailable(t, "the storage fault tests run on Linux, this is "+runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		unavailable(t, fmt.Sprintf("%s needs root, running as uid %d", why, os.Geteuid()))
	}
}

// tmpfs mounts a tmpfs of size bytes on a new directory, unmounted (lazily,
// so a process still holding files cannot stop it) when the test ends.
func tmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		unavailable(t, "mount a tmpfs: "+err.Error())
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	// The last partial megabyte too.
	for _, n := range []int{64 << 10, 4 << 10, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	return path
}

// TestStorageDiskFull: the data directory's file system fills up. The node
// refuses writes, serves reads, writes again once space returns, and loses
// no acknowledged write across a restart.
func TestStorageDiskFull(t *testing.T) {
	requireRoot(t, "mounting a small tmpfs")
	mnt := tmpfs(t, 160<<20)
	n := newStorageNode(t, filepath.Join(mnt, "node"))
	n.start()
	var acked []string
	status, id := n.post("written before the disk fills")
	if status != 201 {
		t.Fatalf("post: %d %s", status, id)
	}
	acked = append(acked, id)

	filler := fill(t, mnt)
	st := n.waitStorage(false)
	t.Logf("status says: %s", st.Error)
	n.checkRefusesWrites(t, acked...)
	// The CLI shows it too.
	out, _ := exec.Command(n.bin, "--data", n.data, "status", "--json").Output()
	if !strings.Contains(string(out), `"ok": false`) || !strings.Contains(string(out), "full") {
		t.Errorf("status --json on a full disk: %s", out)
	}
	out, err := exec.Command(n.bin, "--data", n.data, "doctor").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "storage") || !strings.Contains(string(out), "full") {
		t.Errorf("doctor on a full disk: %v\n%s", err, out)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	n.waitStorage(true)
	for i := range 3 {
		status, id := n.post(fmt.Sprintf("written after space returned %d", i))
		if status != 201 {
			t.Fatalf("post after space returned: %d %s", status, id)
		}
		acked = append(acked, id)
	}
	if v := n.metric("porchlight_storage_ok"); v != "1" {
		t.Errorf("porchlight_storage_ok after space returned = %s, want 1", v)
	}
	took, err := n.stop()
	if err != nil || took > stopDeadline {
		t.Fatalf("stop: %v after %v; logs:\n%s", err, took, n.logTail())
	}
	n.start()
	if err := n.feedHas(acked...); err != nil {
		t.Errorf("after a restart: %v (an acknowledged write was lost)", err)
	}
	n.checkStopsInTime(t, "disk full, then space returned")
}

// ext4 makes an ext4 file system of size bytes in a loop device, mounted
// with errors=remount-ro on a new directory; all is undone (lazily) when
// the test ends. It returns the mount point and the loop device's name.
func ext4(t *testing.T, size int64) (mnt, dev string) {
	t.Helper()
	for _, c := range []string{"mkfs.ext4", "losetup"} {
		if _, err := exec.LookPath(c); err != nil {
			unavailable(t, c+" is not installed (e2fsprogs, util-linux)")
		}
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		unavailable(t, fmt.Sprintf("no loop device: %v %s", err, out))
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", loop).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", loop, err, out)
		}
	})
	mnt = t.TempDir()
	if err := syscall.Mount(loop, mnt, "ext4", 0, "errors=remount-ro"); err != nil {
		unavailable(t, "mount an ext4 loop device: "+err.Error())
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt, filepath.Base(loop)
}

// TestStorageReadOnly: the data directory's file system turns read-only
// under the running node, as ext4 mounted errors=remount-ro does after an
// I/O error (a failing SD card). A tmpfs cannot be remounted read-only
// while files are open for writing (EBUSY), so this is ext4 on a loop
// device with an error injected through ext4's trigger_fs_error.
func TestStorageReadOnly(t *testing.T) {
	requireRoot(t, "mounting an ext4 loop device")
	mnt, dev := ext4(t, 256<<20)
	trigger := filepath.Join("/sys/fs/ext4", dev, "trigger_fs_error")
	if _, err := os.Stat(trigger); err != nil {
		unavailable(t, "this kernel's ext4 cannot inject an error: "+err.Error())
	}
	n := newStorageNode(t, filepath.Join(mnt, "node"))
	n.start()
	status, acked := n.post("written before the disk turns read-only")
	if status != 201 {
		t.Fatalf("post: %d %s", status, acked)
	}
	if err := os.WriteFile(trigger, []byte("porchlight lab: simulated I/O error"), 0); err != nil {
		t.Fatalf("inject an ext4 error: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o600); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("after the injected error the file system is still writable (%v)", err)
	}
	st := n.waitStorage(false)
	t.Logf("status says: %s", st.Error)
	n.checkRefusesWrites(t, acked)
	n.checkStopsInTime(t, "read-only file system")
}
