package freshet

import (
	"fmt"

	"github.com/freshet/freshet/sdk-go/internal/abi"
)

// Context is what a function can do while it handles one input: emit
// records, read the key and time, use timers and side outputs. It is valid
// only during the call that received it.
type Context struct {
	entry   uint32
	rec     *Record // the input record; nil for timers and windows
	key     []byte
	ts      int64
	scratch []byte
}

// Key is the key of the record (or timer, or window) being handled.
func (c *Context) Key() []byte { return c.key }

// Timestamp is the event time of the record being handled (the timer's
// time in OnTimer, the window's max timestamp in a window function).
func (c *Context) Timestamp() int64 { return c.ts }

// Emit emits a record with the input's timestamp and no headers.
func (c *Context) Emit(key, value []byte) { c.EmitAt(key, value, c.ts) }

// EmitAt emits a record with timestamp ts.
func (c *Context) EmitAt(key, value []byte, ts int64) {
	writeEntry(abi.EntryOutput, 0, key, value, ts, 0, nil)
}

// EmitWithHeaders emits a record with headers.
func (c *Context) EmitWithHeaders(key, value []byte, ts int64, headers ...Header) {
	c.scratch = encodeHeaders(c.scratch[:0], headers)
	writeEntry(abi.EntryOutput, 0, key, value, ts, len(headers), c.scratch)
}

// Forward emits the input record unchanged, without copying it. It does
// nothing for timers and windows.
func (c *Context) Forward() {
	if c.rec != nil {
		writeRef(abi.EntryForward, c.entry)
	}
}

var sideTags = map[string]int32{}

// EmitSide emits a record with the input's timestamp to the side output tag.
func (c *Context) EmitSide(tag string, key, value []byte) error {
	h, ok := sideTags[tag]
	if !ok {
		h = abi.SideOutputTag(ptr([]byte(tag)), int32(len(tag)))
		if h < 0 {
			return fmt.Errorf("side output %q: %w", tag, statusError(h))
		}
		sideTags[tag] = h
	}
	writeEntry(abi.EntrySideOutput, uint32(h), key, value, c.ts, 0, nil)
	return nil
}

// Watermark is the operator's current watermark (math.MinInt64 before the first).
func (c *Context) Watermark() int64 { return abi.Watermark() }

// ProcessingTime is the host's processing time in ms since the epoch.
func (c *Context) ProcessingTime() int64 { return abi.ProcessingTime() }

// RegisterEventTimer sets an event-time timer at ts for the current key
// (keyed process functions only). It fires once the watermark passes ts.
func (c *Context) RegisterEventTimer(ts int64) error {
	return check("registering event-time timer", abi.TimerRegister(int32(abi.DomainEventTime), ts))
}

// DeleteEventTimer deletes an event-time timer of the current key.
func (c *Context) DeleteEventTimer(ts int64) error {
	return check("deleting event-time timer", abi.TimerDelete(int32(abi.DomainEventTime), ts))
}

// RegisterProcessingTimer sets a processing-time timer at ts (ms).
func (c *Context) RegisterProcessingTimer(ts int64) error {
	return check("registering processing-time timer", abi.TimerRegister(int32(abi.DomainProcessingTime), ts))
}

// DeleteProcessingTimer deletes a processing-time timer of the current key.
func (c *Context) DeleteProcessingTimer(ts int64) error {
	return check("deleting processing-time timer", abi.TimerDelete(int32(abi.DomainProcessingTime), ts))
}

// StatusError is a failure status returned by the host.
type StatusError int32

func (s StatusError) Error() string { return "host returned " + abi.Status(s).String() }

func statusError(st int32) error { return StatusError(st) }

func check(what string, st int32) error {
	if st == int32(abi.StatusOK) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, StatusError(st))
}

// Level is a log level (the values of log/slog).
type Level int32

const (
	LevelDebug = Level(abi.LevelDebug)
	LevelInfo  = Level(abi.LevelInfo)
	LevelWarn  = Level(abi.LevelWarn)
	LevelError = Level(abi.LevelError)
)

// Log writes msg to the task's log (rate-limited by the host).
func Log(level Level, msg string) {
	b := []byte(msg)
	abi.Log(int32(level), ptr(b), int32(len(b)))
}

// Logf formats and logs a message.
func Logf(level Level, format string, args ...any) { Log(level, fmt.Sprintf(format, args...)) }

func logError(msg string) { Log(LevelError, msg) }

// Counter is a metric counter of the operator.
type Counter struct {
	name string
	h    int32
}

// NewCounter returns the counter name; declare counters at package level.
func NewCounter(name string) *Counter { return &Counter{name: name, h: -1} }

// Add adds n to the counter.
func (c *Counter) Add(n int64) {
	if c.h < 0 {
		b := []byte(c.name)
		c.h = abi.CounterDeclare(ptr(b), int32(len(b)))
		if c.h < 0 {
			return
		}
	}
	abi.CounterAdd(c.h, n)
}
