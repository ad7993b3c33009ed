package windows

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Window is the half-open time interval [Start, End) in ms since the epoch.
// The global window spans every timestamp.
type Window struct {
	Start, End int64
}

// GlobalWindow is the one window of the global assigner.
var GlobalWindow = Window{Start: math.MinInt64, End: math.MaxInt64}

// MaxTimestamp is the last timestamp inside w: the time at which event-time
// triggers fire it and the timestamp of its output records.
func (w Window) MaxTimestamp() int64 {
	if w.End == math.MaxInt64 {
		return math.MaxInt64
	}
	return w.End - 1
}

// Intersects reports whether w and o share a timestamp. Session windows
// merge when they intersect; windows that only touch ([0,5) and [5,10)) do
// not, so that a record exactly one gap after the previous one starts a new
// session whether or not the previous session already fired.
func (w Window) Intersects(o Window) bool { return w.Start < o.End && o.Start < w.End }

// Cover is the smallest window holding w and o.
func (w Window) Cover(o Window) Window {
	return Window{Start: min(w.Start, o.Start), End: max(w.End, o.End)}
}

func (w Window) String() string {
	if w == GlobalWindow {
		return "global"
	}
	return fmt.Sprintf("[%d, %d)", w.Start, w.End)
}

// NamespaceLen is the length of a window's state namespace.
const NamespaceLen = 16

// ErrBadNamespace is returned for a state or timer namespace that does not
// encode a window (state written by another operator under the same name).
var ErrBadNamespace = errors.New("namespace is not a window")

// AppendNamespace appends w's state namespace: Start and End as big-endian
// integers with the sign bit flipped, so namespaces sort like windows.
func (w Window) AppendNamespace(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(w.Start)^(1<<63))
	return binary.BigEndian.AppendUint64(dst, uint64(w.End)^(1<<63))
}

// WindowOf decodes a namespace written by AppendNamespace.
func WindowOf(ns []byte) (Window, error) {
	if len(ns) != NamespaceLen {
		return Window{}, fmt.Errorf("%w: %d bytes", ErrBadNamespace, len(ns))
	}
	return Window{
		Start: int64(binary.BigEndian.Uint64(ns) ^ (1 << 63)),
		End:   int64(binary.BigEndian.Uint64(ns[8:]) ^ (1 << 63)),
	}, nil
}

// addSat adds without overflowing int64.
func addSat(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}
