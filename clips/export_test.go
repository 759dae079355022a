package clips

import "context"

// Poll makes one look at the folder, for tests that step the watcher.
func (w *Watcher) Poll(ctx context.Context) { w.poll(ctx) }

// SetAfterRead sets a function ImportFile runs between its last read of a
// file and its check that the file did not change.
func SetAfterRead(s *Store, f func(path string)) { s.afterRead = f }
