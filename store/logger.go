package store

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// badgerLogger routes Badger's printf-style logging to slog. Badger's Info
// lines (compactions, flushes) are debug noise for a home node.
type badgerLogger struct{ l *slog.Logger }

// BadgerLogger adapts l to Badger's logger, for other Badger databases of
// a node (package clips keeps its chunks in one of its own): Badger's info
// and debug lines go to l at debug level.
func BadgerLogger(l *slog.Logger) badger.Logger { return badgerLogger{l} }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(msg(f, a), "component", "badger") }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(msg(f, a), "component", "badger") }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(msg(f, a), "component", "badger") }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug(msg(f, a), "component", "badger") }

func msg(f string, a []any) string { return strings.TrimSpace(fmt.Sprintf(f, a...)) }
