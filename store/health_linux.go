package store

import (
	"fmt"
	"syscall"
)

type fileID struct{ dev, ino uint64 }

func (a fileID) equal(b fileID) bool { return a == b }

func identify(dir string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return fileID{}, fmt.Errorf("stat database directory: %w", err)
	}
	return fileID{st.Dev, st.Ino}, nil
}

// stRdonly is statfs(2)'s ST_RDONLY.
const stRdonly = 0x1

// diskState is the free space (for an unprivileged user) of the file
// system holding dir, and whether it is mounted read-only.
func diskState(dir string) (avail uint64, readOnly bool, err error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, false, err
	}
	return fs.Bavail * uint64(fs.Bsize), fs.Flags&stRdonly != 0, nil
}
