package windows

import (
	"errors"
	"fmt"
	"time"
)

// AssignerKind is the shape of an Assigner's windows.
type AssignerKind uint8

const (
	// TumblingKind: fixed-size, non-overlapping windows.
	TumblingKind AssignerKind = iota + 1
	// SlidingKind: fixed-size windows that start every slide.
	SlidingKind
	// SessionKind: a window per burst of activity, closed by a gap without records.
	SessionKind
	// GlobalKind: one window per key for all time; needs a trigger other than the default.
	GlobalKind
)

func (k AssignerKind) String() string {
	switch k {
	case TumblingKind:
		return "tumbling"
	case SlidingKind:
		return "sliding"
	case SessionKind:
		return "session"
	case GlobalKind:
		return "global"
	}
	return "unknown"
}

// ErrInvalidAssigner is wrapped by Assigner.Validate errors.
var ErrInvalidAssigner = errors.New("invalid window assigner")

// Assigner puts records into windows. It is an immutable value: the With
// methods return modified copies.
//
//	windows.Tumbling(10 * time.Second)
//	windows.Sliding(time.Hour, time.Second).WithOffset(-30 * time.Minute)
//	windows.Session(5 * time.Minute).InProcessingTime()
type Assigner struct {
	kind                     AssignerKind
	size, slide, offset, gap int64 // ms
	procTime                 bool
}

// Tumbling returns an event-time assigner of windows of the given size,
// aligned to the epoch (plus the offset, see WithOffset).
func Tumbling(size time.Duration) Assigner {
	return Assigner{kind: TumblingKind, size: size.Milliseconds(), slide: size.Milliseconds()}
}

// Sliding returns an event-time assigner of windows of the given size that
// start every slide; a record belongs to size/slide windows.
func Sliding(size, slide time.Duration) Assigner {
	return Assigner{kind: SlidingKind, size: size.Milliseconds(), slide: slide.Milliseconds()}
}

// Session returns an event-time assigner of session windows: records of a
// key closer than gap to each other share a window, which ends gap after
// its last record.
func Session(gap time.Duration) Assigner {
	return Assigner{kind: SessionKind, gap: gap.Milliseconds()}
}

// Global returns the assigner that puts every record of a key into one
// window. Its default trigger never fires: give it a count or continuous trigger.
func Global() Assigner { return Assigner{kind: GlobalKind} }

// WithOffset shifts tumbling and sliding windows by d from the epoch
// (for example -8h for days in UTC+8).
func (a Assigner) WithOffset(d time.Duration) Assigner { a.offset = d.Milliseconds(); return a }

// InProcessingTime makes the assigner use the wall clock at arrival instead
// of the record timestamp.
func (a Assigner) InProcessingTime() Assigner { a.procTime = true; return a }

// Kind is the assigner's kind.
func (a Assigner) Kind() AssignerKind { return a.kind }

// IsEventTime reports whether windows follow record timestamps and watermarks.
func (a Assigner) IsEventTime() bool { return !a.procTime }

// IsMerging reports whether windows merge (sessions).
func (a Assigner) IsMerging() bool { return a.kind == SessionKind }

// Size, Slide, Gap and Offset in ms (0 where they do not apply).
func (a Assigner) Size() int64   { return a.size }
func (a Assigner) Slide() int64  { return a.slide }
func (a Assigner) Gap() int64    { return a.gap }
func (a Assigner) Offset() int64 { return a.offset }

// Validate checks the assigner's durations.
func (a Assigner) Validate() error {
	switch a.kind {
	case TumblingKind, SlidingKind:
		if a.size <= 0 {
			return fmt.Errorf("%w: %s window size %dms must be at least 1ms", ErrInvalidAssigner, a.kind, a.size)
		}
		if a.slide <= 0 {
			return fmt.Errorf("%w: sliding window slide %dms must be at least 1ms", ErrInvalidAssigner, a.slide)
		}
		if a.slide > a.size {
			return fmt.Errorf("%w: slide %dms is larger than size %dms (records between windows would be lost)", ErrInvalidAssigner, a.slide, a.size)
		}
		if abs(a.offset) >= a.slide {
			return fmt.Errorf("%w: offset %dms must be smaller than the slide %dms", ErrInvalidAssigner, a.offset, a.slide)
		}
	case SessionKind:
		if a.gap <= 0 {
			return fmt.Errorf("%w: session gap %dms must be at least 1ms", ErrInvalidAssigner, a.gap)
		}
	case GlobalKind:
	default:
		return fmt.Errorf("%w: no window kind", ErrInvalidAssigner)
	}
	return nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// floorMod is x mod m in [0, m).
func floorMod(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}

// startOf is the start of the window of width every (aligned to offset) holding ts.
func startOf(ts, offset, every int64) int64 { return ts - floorMod(ts-offset, every) }

// Assign appends the windows of a record with timestamp ts (the arrival time
// for processing-time assigners) to dst.
func (a Assigner) Assign(ts int64, dst []Window) []Window {
	switch a.kind {
	case TumblingKind:
		s := startOf(ts, a.offset, a.size)
		return append(dst, Window{s, addSat(s, a.size)})
	case SlidingKind:
		for s := startOf(ts, a.offset, a.slide); s > ts-a.size; s -= a.slide {
			dst = append(dst, Window{s, addSat(s, a.size)})
		}
		return dst
	case SessionKind:
		return append(dst, Window{ts, addSat(ts, a.gap)})
	case GlobalKind:
		return append(dst, GlobalWindow)
	}
	return dst
}

// pane is the width of the slices a sliding window is built from: the
// greatest common divisor of size and slide. 0 when panes do not apply.
func (a Assigner) pane() int64 {
	if a.kind != SlidingKind || a.slide == a.size {
		return 0
	}
	x, y := a.size, a.slide
	for y != 0 {
		x, y = y, x%y
	}
	return x
}

// DefaultTrigger is the trigger windows of a get unless another is set: fire
// at the window's end in the assigner's time, never for global windows.
func (a Assigner) DefaultTrigger() Trigger {
	switch {
	case a.kind == GlobalKind:
		return NeverTrigger()
	case a.procTime:
		return ProcessingTimeTrigger()
	}
	return EventTimeTrigger()
}

func (a Assigner) String() string {
	var s string
	switch a.kind {
	case TumblingKind:
		s = fmt.Sprintf("tumbling(%s)", ms(a.size))
	case SlidingKind:
		s = fmt.Sprintf("sliding(%s, %s)", ms(a.size), ms(a.slide))
	case SessionKind:
		s = fmt.Sprintf("session(%s)", ms(a.gap))
	case GlobalKind:
		return "global"
	default:
		return "none"
	}
	if a.offset != 0 {
		s += fmt.Sprintf(" offset %s", ms(a.offset))
	}
	if a.procTime {
		s += " in processing time"
	}
	return s
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
