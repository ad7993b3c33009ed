package operators

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// AggKind is the function of a keyed aggregate.
type AggKind uint8

const (
	AggCount AggKind = iota + 1
	AggSum
	AggMin
	AggMax
	AggAvg
)

func (k AggKind) String() string {
	switch k {
	case AggCount:
		return "count"
	case AggSum:
		return "sum"
	case AggMin:
		return "min"
	case AggMax:
		return "max"
	case AggAvg:
		return "avg"
	}
	return "unknown"
}

// ErrCorruptState is wrapped by errors for state entries an aggregate cannot
// decode (written by another operator type under the same name, say).
var ErrCorruptState = errors.New("corrupt aggregate state")

// Aggregate is a keyed rolling aggregate: count, or sum, min, max or avg of
// a number. It keeps one value per key in a ValueState named after its kind.
//
// With emit: every (the default) each input record produces the key's
// updated result, stamped with the record's timestamp. With emit: final
// nothing is emitted until Finish, which emits every key's last result once;
// on an unbounded input that is never.
//
// Output: "key,result" (format: csv, the key quoted as in RFC 4180 when it
// holds a comma, quote or line break) or {"key":"...","count":3} (format:
// json, the result under the aggregate's name). Integers stay exact: sum and
// min/max of integer fields are integers until a sum overflows int64, after
// which it continues in floating point. avg is always a float.
type Aggregate struct {
	api.BaseOperator
	Kind AggKind
	// Field is the number to aggregate; the root means the whole value,
	// read as a number. Unused by count.
	Field jsonpath.Path
	Final bool
	JSON  bool

	bad       badRecords
	ks        api.KeyedState
	vs        api.ValueState
	keys      *keySet
	rec       api.Record
	buf, enc  []byte
	text      []byte
	missing   error
	notNumber error
}

func buildAggregate(kind AggKind) registry.OperatorBuilder {
	return func(p *params.Params) (registry.Operator, error) {
		var field jsonpath.Path
		if kind != AggCount && p.Has("field") {
			field = readPath(p, "field")
		}
		final := p.Enum("emit", "every", "every", "final") == "final"
		isJSON := p.Enum("format", "csv", "csv", "json") == "json"
		var policy onerror.Policy // count meets no bad records: it fails on none
		if kind != AggCount {
			policy = onerror.FromParams(p, "")
		}
		if err := p.Err(); err != nil {
			return registry.Operator{}, err
		}
		return registry.Operator{Keyed: true, New: func() (api.Operator, error) {
			a := &Aggregate{Kind: kind, Field: field, Final: final, JSON: isJSON}
			a.bad.policy = policy
			return a, nil
		}}, nil
	}
}

func (a *Aggregate) Open(ctx api.Context) error {
	a.ks = ctx.KeyedState()
	if a.ks == nil {
		return fmt.Errorf("%s %q needs a keyed input: add key-by", a.Kind, ctx.OperatorName())
	}
	name := a.Kind.String()
	vs, err := a.ks.Value(api.StateDescriptor{Name: name, Kind: api.ValueStateKind})
	if err != nil {
		return fmt.Errorf("%s %q: declaring state: %w", a.Kind, ctx.OperatorName(), err)
	}
	a.vs = vs
	if a.Final {
		if a.keys, err = newKeySet(ctx, a.ks, name+"/keys"); err != nil {
			return fmt.Errorf("%s %q: %w", a.Kind, ctx.OperatorName(), err)
		}
	}
	a.missing = fmt.Errorf("%s field %s: %w", a.Kind, a.Field, ErrFieldNotFound)
	a.notNumber = fmt.Errorf("%s field %s: %w", a.Kind, a.Field, ErrNotANumber)
	return a.bad.open(ctx)
}

func (a *Aggregate) Close() error { return a.bad.close() }

// acc is the state of one key. Encoded, it is 17 bytes: a flags byte (bit 0:
// V is a float), V (int64 or float64 bits) and N, both little endian. count
// uses N; sum, min and max use V; avg keeps the float sum in V and the count
// in N.
type acc struct {
	v jsonpath.Num
	n int64
}

const accLen = 17

func (c *acc) encode(dst []byte) []byte {
	var flags byte
	bits := uint64(c.v.Int)
	if c.v.IsFloat {
		flags, bits = 1, math.Float64bits(c.v.Float)
	}
	dst = append(dst, flags)
	dst = binary.LittleEndian.AppendUint64(dst, bits)
	return binary.LittleEndian.AppendUint64(dst, uint64(c.n))
}

func decodeAcc(b []byte) (acc, error) {
	if len(b) != accLen || b[0] > 1 {
		return acc{}, fmt.Errorf("%w: %d bytes", ErrCorruptState, len(b))
	}
	bits := binary.LittleEndian.Uint64(b[1:])
	c := acc{n: int64(binary.LittleEndian.Uint64(b[9:]))}
	if b[0] == 1 {
		c.v = jsonpath.Num{Float: math.Float64frombits(bits), IsFloat: true}
	} else {
		c.v = jsonpath.Num{Int: int64(bits)}
	}
	return c, nil
}

// add folds x into c.
func (a *Aggregate) add(c *acc, x jsonpath.Num, first bool) {
	c.n++
	switch {
	case a.Kind == AggCount:
	case first:
		c.v = x
		if a.Kind == AggAvg {
			c.v = jsonpath.Num{Float: x.F(), IsFloat: true}
		}
	case a.Kind == AggSum:
		c.v = addNum(c.v, x)
	case a.Kind == AggMin:
		if x.Compare(c.v) < 0 {
			c.v = x
		}
	case a.Kind == AggMax:
		if x.Compare(c.v) > 0 {
			c.v = x
		}
	case a.Kind == AggAvg:
		c.v.Float += x.F()
	}
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

// number reads the operand of r.
func (a *Aggregate) number(r *api.Record) (jsonpath.Num, error) {
	v, k := r.Value, jsonpath.Number
	if !a.Field.IsRoot() {
		v, k = a.Field.Get(r.Value)
	}
	switch k {
	case jsonpath.Missing:
		return jsonpath.Num{}, a.missing
	case jsonpath.Number:
		if n, ok := jsonpath.ParseNum(trimSpace(v)); ok {
			return n, nil
		}
	}
	return jsonpath.Num{}, a.notNumber
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (a *Aggregate) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		var x jsonpath.Num
		if a.Kind != AggCount {
			var err error
			if x, err = a.number(r); err != nil {
				if err := a.bad.handle(r, err); err != nil {
					return err
				}
				continue
			}
		}
		a.ks.SetCurrentKey(r.Key)
		old, ok, err := a.vs.Get()
		if err != nil {
			return fmt.Errorf("%s: reading state: %w", a.Kind, err)
		}
		var c acc
		if ok {
			if c, err = decodeAcc(old); err != nil {
				return fmt.Errorf("%s: reading state: %w", a.Kind, err)
			}
		}
		a.add(&c, x, !ok)
		a.enc = c.encode(a.enc[:0])
		if err := a.vs.Put(a.enc); err != nil {
			return fmt.Errorf("%s: writing state: %w", a.Kind, err)
		}
		if !ok && a.keys != nil {
			if err := a.keys.add(r.Key); err != nil {
				return fmt.Errorf("%s: recording key: %w", a.Kind, err)
			}
		}
		if !a.Final {
			a.emit(out, r.Key, &c, r.Timestamp)
		}
	}
	return nil
}

// Finish emits every key's result when emit is final.
func (a *Aggregate) Finish(out api.Output) error {
	if !a.Final {
		return nil
	}
	err := a.keys.each(func(key []byte) error {
		old, ok, err := a.vs.Get()
		if err != nil || !ok {
			return err
		}
		c, err := decodeAcc(old)
		if err != nil {
			return err
		}
		a.emit(out, key, &c, api.NoTimestamp)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: emitting final results: %w", a.Kind, err)
	}
	return nil
}

// appendResult appends the aggregate's result as a JSON number.
func (a *Aggregate) appendResult(dst []byte, c *acc) []byte {
	switch a.Kind {
	case AggCount:
		return strconv.AppendInt(dst, c.n, 10)
	case AggAvg:
		return jsonpath.AppendFloat(dst, c.v.Float/float64(c.n))
	}
	return c.v.Append(dst)
}

func (a *Aggregate) emit(out api.Output, key []byte, c *acc, ts int64) {
	b := a.buf[:0]
	if a.JSON {
		b = append(b, `{"key":`...)
		b = jsonpath.AppendString(b, key)
		b = append(b, `,"`...)
		b = append(b, a.Kind.String()...)
		b = append(b, `":`...)
		b = a.appendResult(b, c)
		b = append(b, '}')
	} else {
		b = appendCSVField(b, key)
		b = append(b, ',')
		b = a.appendResult(b, c)
	}
	a.buf = b
	a.rec = api.Record{Key: key, Value: b, Timestamp: ts}
	out.Emit(&a.rec)
}

// appendCSVField appends s, quoted when it holds a comma, quote or line break.
func appendCSVField(dst, s []byte) []byte {
	quote := false
	for _, c := range s {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for _, c := range s {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
