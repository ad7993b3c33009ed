package windows

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"strconv"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
)

// ReduceFunc combines two elements into one, appending it to dst (the same
// contract as api.StateDescriptor.Reduce). It must be associative: sliding
// windows combine panes and sessions combine merged windows with it.
type ReduceFunc func(a, b []byte, dst []byte) []byte

// ProcessWindowFunc evaluates a window when it fires: key and w identify it,
// elements yields its contents (every element added, in arrival order, or
// the single result of the window's reduce or aggregate function). The
// function emits what it wants to out; it must not keep the yielded slices.
type ProcessWindowFunc func(key []byte, w Window, elements iter.Seq[[]byte], out api.Output) error

// InputFunc derives the element a record adds to its windows, appending it
// to dst. An error (wrapping onerror.ErrMalformed for bad input) is handled
// by the operator's on-error policy.
type InputFunc func(r *api.Record, dst []byte) ([]byte, error)

// Errors.
var (
	// ErrNoTimestamp: an event-time window got a record without a timestamp
	// (add a watermark strategy before it).
	ErrNoTimestamp = fmt.Errorf("%w: record has no event time (assign timestamps and watermarks upstream)", onerror.ErrMalformed)
	// ErrFieldNotFound: the aggregated JSON field is absent.
	ErrFieldNotFound = fmt.Errorf("%w: field not found", onerror.ErrMalformed)
	// ErrNotANumber: the aggregated JSON field is not a finite number.
	ErrNotANumber = fmt.Errorf("%w: not a number", onerror.ErrMalformed)
	// ErrCorruptState: window or trigger state that cannot be decoded.
	ErrCorruptState = errors.New("corrupt window state")
)

// NumericKind is a built-in aggregate over numbers.
type NumericKind uint8

const (
	CountAgg NumericKind = iota + 1
	SumAgg
	MinAgg
	MaxAgg
	AvgAgg
)

func (k NumericKind) String() string {
	switch k {
	case CountAgg:
		return "count"
	case SumAgg:
		return "sum"
	case MinAgg:
		return "min"
	case MaxAgg:
		return "max"
	case AvgAgg:
		return "avg"
	}
	return "unknown"
}

// ParseNumericKind returns the aggregate called s.
func ParseNumericKind(s string) (NumericKind, bool) {
	for k := CountAgg; k <= AvgAgg; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// numLen is the size of an encoded number element: a flag byte (1: float)
// and 8 bytes.
const numLen = 9

// accLen is the size of a numeric accumulator: a flag byte, the value and
// the count.
const accLen = 17

// AppendNumber encodes n as the element the numeric aggregates add.
func AppendNumber(dst []byte, n jsonpath.Num) []byte {
	if n.IsFloat {
		dst = append(dst, 1)
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(n.Float))
	}
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, uint64(n.Int))
}

func decodeNum(b []byte) jsonpath.Num {
	if len(b) != numLen {
		return jsonpath.Num{}
	}
	bits := binary.BigEndian.Uint64(b[1:])
	if b[0] == 1 {
		return jsonpath.Num{Float: math.Float64frombits(bits), IsFloat: true}
	}
	return jsonpath.Num{Int: int64(bits)}
}

// NumberField returns the InputFunc of numeric aggregates: the number at
// path of a JSON record (the root path: the whole value read as a number).
// It allocates nothing.
func NumberField(path jsonpath.Path) InputFunc {
	missing := fmt.Errorf("field %s: %w", path, ErrFieldNotFound)
	notNumber := fmt.Errorf("field %s: %w", path, ErrNotANumber)
	return func(r *api.Record, dst []byte) ([]byte, error) {
		v, k := r.Value, jsonpath.Number
		if !path.IsRoot() {
			v, k = path.Get(r.Value)
		}
		switch k {
		case jsonpath.Missing:
			return dst, missing
		case jsonpath.Number:
			if n, ok := jsonpath.ParseNum(trimSpace(v)); ok {
				return AppendNumber(dst, n), nil
			}
		}
		return dst, notNumber
	}
}

// RawField returns an InputFunc whose element is the JSON text of the value
// at path (a string keeps its quotes); records without it are errors.
func RawField(path jsonpath.Path) InputFunc {
	missing := fmt.Errorf("field %s: %w", path, ErrFieldNotFound)
	return func(r *api.Record, dst []byte) ([]byte, error) {
		if path.IsRoot() {
			return append(dst, r.Value...), nil
		}
		v, k := path.Get(r.Value)
		if k == jsonpath.Missing {
			return dst, missing
		}
		return append(dst, trimSpace(v)...), nil
	}
}

// NoInput is the InputFunc of count: every record adds an empty element.
func NoInput(_ *api.Record, dst []byte) ([]byte, error) { return dst, nil }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Numeric returns the api.AggregateFunction of kind k over elements encoded
// by AppendNumber (NumberField); count ignores its elements. Results are
// JSON numbers as text: sum, min and max of integers stay exact integers
// until a sum overflows int64; avg is a float.
func Numeric(k NumericKind) api.AggregateFunction { return numeric{k} }

type numeric struct{ k NumericKind }

type numAcc struct {
	v jsonpath.Num
	n int64
}

func (a *numAcc) encode(dst []byte) []byte {
	var flags byte
	bits := uint64(a.v.Int)
	if a.v.IsFloat {
		flags, bits = 1, math.Float64bits(a.v.Float)
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint64(dst, bits)
	return binary.BigEndian.AppendUint64(dst, uint64(a.n))
}

func decodeAcc(b []byte) numAcc {
	if len(b) != accLen {
		return numAcc{}
	}
	a := numAcc{n: int64(binary.BigEndian.Uint64(b[9:]))}
	bits := binary.BigEndian.Uint64(b[1:])
	if b[0] == 1 {
		a.v = jsonpath.Num{Float: math.Float64frombits(bits), IsFloat: true}
	} else {
		a.v = jsonpath.Num{Int: int64(bits)}
	}
	return a
}

func (f numeric) CreateAccumulator(dst []byte) []byte {
	a := numAcc{}
	return a.encode(dst)
}

func (f numeric) fold(a *numAcc, x jsonpath.Num, n int64) {
	first := a.n == 0
	a.n += n
	switch {
	case f.k == CountAgg:
	case first:
		a.v = x
		if f.k == AvgAgg {
			a.v = jsonpath.Num{Float: x.F(), IsFloat: true}
		}
	case f.k == SumAgg:
		a.v = addNum(a.v, x)
	case f.k == MinAgg:
		if x.Compare(a.v) < 0 {
			a.v = x
		}
	case f.k == MaxAgg:
		if x.Compare(a.v) > 0 {
			a.v = x
		}
	case f.k == AvgAgg:
		a.v.Float += x.F()
	}
}

func (f numeric) Add(acc, in []byte, dst []byte) []byte {
	a := decodeAcc(acc)
	f.fold(&a, decodeNum(in), 1)
	return a.encode(dst)
}

func (f numeric) Merge(x, y []byte, dst []byte) []byte {
	a, b := decodeAcc(x), decodeAcc(y)
	if b.n > 0 {
		v := b.v
		f.fold(&a, v, b.n)
	}
	return a.encode(dst)
}

func (f numeric) Result(acc []byte, dst []byte) []byte {
	a := decodeAcc(acc)
	switch {
	case f.k == CountAgg:
		return strconv.AppendInt(dst, a.n, 10)
	case a.n == 0:
		return append(dst, "null"...)
	case f.k == AvgAgg:
		return jsonpath.AppendFloat(dst, a.v.Float/float64(a.n))
	}
	return a.v.Append(dst)
}

// addNum adds exactly while both are integers and the sum fits.
func addNum(a, b jsonpath.Num) jsonpath.Num {
	if !a.IsFloat && !b.IsFloat {
		s := a.Int + b.Int
		if (s > a.Int) == (b.Int > 0) {
			return jsonpath.Num{Int: s}
		}
	}
	return jsonpath.Num{Float: a.F() + b.F(), IsFloat: true}
}
