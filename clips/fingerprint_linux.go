package clips

import (
	"encoding/binary"
	"io/fs"
	"syscall"
)

// sysFingerprint adds the inode and the change time, which no ordinary
// write leaves as they were (a file replaced by rename has a new inode;
// touching the modification time back sets the change time).
func sysFingerprint(fi fs.FileInfo) []byte {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(st.Dev))
	b = binary.BigEndian.AppendUint64(b, st.Ino)
	sec, nsec := st.Ctim.Unix()
	return binary.BigEndian.AppendUint64(b, uint64(sec)*1e9+uint64(nsec))
}
