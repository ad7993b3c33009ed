package eventtime

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
)

// ErrNoTimestamp is wrapped by the errors of records whose timestamp cannot
// be read; it wraps onerror.ErrMalformed.
var ErrNoTimestamp = fmt.Errorf("%w: no usable timestamp", onerror.ErrMalformed)

// TimestampAssigner reads a record's event time in ms since the epoch.
type TimestampAssigner interface {
	Timestamp(r *api.Record) (int64, error)
	String() string
}

// RecordTimestamp keeps the timestamp the source gave the record; a record
// without one is an error.
func RecordTimestamp() TimestampAssigner { return recordTS{} }

type recordTS struct{}

var errRecordNoTS = fmt.Errorf("%w: the record has no timestamp", ErrNoTimestamp)

func (recordTS) Timestamp(r *api.Record) (int64, error) {
	if !r.HasTimestamp() {
		return 0, errRecordNoTS
	}
	return r.Timestamp, nil
}

func (recordTS) String() string { return "record timestamp" }

// Format is how a timestamp is written.
type Format uint8

const (
	// Millis: a number of ms since the epoch (the default).
	Millis Format = iota
	// Seconds: a number of seconds since the epoch, fractions allowed.
	Seconds
	// Micros and Nanos: integer µs or ns since the epoch.
	Micros
	Nanos
	// RFC3339: a date and time such as 2024-05-01T12:00:00.5Z.
	RFC3339
)

var formatNames = []string{"ms", "s", "us", "ns", "rfc3339"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// ParseFormat returns the format called s (ms, s, us, ns, rfc3339).
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if n == s {
			return Format(i), nil
		}
	}
	return 0, fmt.Errorf("timestamp format %q is not one of ms, s, us, ns, rfc3339", s)
}

var errBadNumber = errors.New("not a timestamp number")

// parse reads text v (a JSON string's contents or a number) in format f.
func (f Format) parse(v []byte) (int64, error) {
	s := unsafe.String(unsafe.SliceData(v), len(v)) // not retained
	if f == RFC3339 {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, errBadNumber
		}
		return t.UnixMilli(), nil
	}
	n, ok := jsonpath.ParseNum(bytes.TrimSpace(v))
	if !ok {
		return 0, errBadNumber
	}
	if n.IsFloat {
		var ms float64
		switch f {
		case Millis:
			ms = n.Float
		case Seconds:
			ms = n.Float * 1e3
		case Micros:
			ms = n.Float / 1e3
		case Nanos:
			ms = n.Float / 1e6
		}
		if ms != ms || ms >= math.MaxInt64 || ms <= math.MinInt64 {
			return 0, errBadNumber
		}
		return int64(math.Floor(ms)), nil
	}
	switch f {
	case Seconds:
		if n.Int > math.MaxInt64/1000 || n.Int < math.MinInt64/1000 {
			return 0, errBadNumber
		}
		return n.Int * 1000, nil
	case Micros:
		return floorDiv(n.Int, 1000), nil
	case Nanos:
		return floorDiv(n.Int, 1_000_000), nil
	}
	if n.Int == api.NoTimestamp {
		return 0, errBadNumber
	}
	return n.Int, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// FieldTimestamp reads the timestamp from the JSON field at path, a number
// or a string in format f.
func FieldTimestamp(path jsonpath.Path, f Format) TimestampAssigner {
	return &fieldTS{
		path: path, format: f,
		missing: fmt.Errorf("%w: field %s not found", ErrNoTimestamp, path),
		bad:     fmt.Errorf("%w: field %s is not a %s timestamp", ErrNoTimestamp, path, f),
	}
}

type fieldTS struct {
	path         jsonpath.Path
	format       Format
	missing, bad error
}

func (a *fieldTS) Timestamp(r *api.Record) (int64, error) {
	v, k := a.path.Get(r.Value)
	switch k {
	case jsonpath.Missing, jsonpath.Null:
		return 0, a.missing
	case jsonpath.Number, jsonpath.String:
		if k == jsonpath.Number && a.format == RFC3339 {
			return 0, a.bad
		}
		ts, err := a.format.parse(v)
		if err != nil {
			return 0, a.bad
		}
		return ts, nil
	}
	return 0, a.bad
}

func (a *fieldTS) String() string { return fmt.Sprintf("field %s (%s)", a.path, a.format) }

// HeaderTimestamp reads the timestamp from the first header called name,
// as text in format f.
func HeaderTimestamp(name string, f Format) TimestampAssigner {
	return &headerTS{
		name: []byte(name), format: f,
		missing: fmt.Errorf("%w: header %q not found", ErrNoTimestamp, name),
		bad:     fmt.Errorf("%w: header %q is not a %s timestamp", ErrNoTimestamp, name, f),
	}
}

type headerTS struct {
	name         []byte
	format       Format
	missing, bad error
}

func (a *headerTS) Timestamp(r *api.Record) (int64, error) {
	for i := range r.Headers {
		if bytes.Equal(r.Headers[i].Key, a.name) {
			ts, err := a.format.parse(r.Headers[i].Value)
			if err != nil {
				return 0, a.bad
			}
			return ts, nil
		}
	}
	return 0, a.missing
}

func (a *headerTS) String() string { return fmt.Sprintf("header %q (%s)", a.name, a.format) }
