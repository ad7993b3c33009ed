package operators

import (
	"bytes"
	"math"
	"strings"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// Op is a comparison of a filter.
type Op uint8

const (
	OpEq Op = iota + 1
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpContains
)

var opNames = map[string]Op{
	"==": OpEq, "=": OpEq, "eq": OpEq,
	"!=": OpNe, "<>": OpNe, "ne": OpNe,
	"<": OpLt, "lt": OpLt,
	"<=": OpLe, "le": OpLe,
	">": OpGt, "gt": OpGt,
	">=": OpGe, "ge": OpGe,
	"contains": OpContains,
}

// Filter keeps the records whose operand compares true with a constant. The
// operand is the JSON value at Field or, when Field is the root ($ or not
// given), the whole record value read as text.
//
// Comparisons are typed by the constant: a number compares numbers (exactly
// for integers), a string compares strings byte-wise (contains: substring),
// true/false and null compare for (in)equality. A record whose operand is
// missing or of another type never matches, whatever the operator, as in
// SQL, where a comparison with NULL is not true.
type Filter struct {
	api.BaseOperator
	Field jsonpath.Path
	Op    Op
	// The constant: exactly one of these is used, by Kind.
	Kind   jsonpath.Kind // String, Number, Bool or Null
	Text   []byte
	Number jsonpath.Num
	Bool   bool

	buf []byte
}

func buildFilter(p *params.Params) (registry.Operator, error) {
	var field jsonpath.Path
	if p.Has("field") {
		field = readPath(p, "field")
	}
	opName := p.String("op", "==")
	op, ok := opNames[strings.ToLower(strings.TrimSpace(opName))]
	if !ok {
		if strings.TrimSpace(opName) == "" {
			p.Errorf("op", "is empty; in YAML quote operators that start with > or ! (op: \">=\"), or write gt, ge, lt, le, eq, ne")
		} else {
			p.Errorf("op", "%q is not one of ==, !=, <, <=, >, >=, contains (or eq, ne, lt, le, gt, ge)", opName)
		}
	}
	f := Filter{Field: field, Op: op}
	if p.Required("value") {
		v, _ := p.Raw("value")
		switch x := v.V.(type) {
		case string:
			f.Kind, f.Text = jsonpath.String, []byte(x)
		case int64:
			f.Kind, f.Number = jsonpath.Number, jsonpath.Num{Int: x}
		case float64:
			if math.IsInf(x, 0) || math.IsNaN(x) {
				p.Errorf("value", "must be a finite number")
			}
			f.Kind, f.Number = jsonpath.Number, jsonpath.Num{Float: x, IsFloat: true}
		case bool:
			f.Kind, f.Bool = jsonpath.Bool, x
		case nil:
			f.Kind = jsonpath.Null
		default:
			p.Errorf("value", "expected a string, number, true, false or null, got a list or mapping")
		}
	}
	switch {
	case op == OpContains && f.Kind != jsonpath.String && f.Kind != jsonpath.Missing:
		p.Errorf("op", "contains needs a string value")
	case (f.Kind == jsonpath.Bool || f.Kind == jsonpath.Null) && op != OpEq && op != OpNe && op != 0:
		p.Errorf("op", "%s compares only with == or !=", f.Kind)
	}
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{New: func() (api.Operator, error) {
		g := f
		return &g, nil
	}}, nil
}

func (f *Filter) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		if f.Match(in.Records[i].Value) {
			out.Emit(&in.Records[i])
		}
	}
	return nil
}

// Match reports whether a record value passes the filter.
func (f *Filter) Match(value []byte) bool {
	var v []byte
	var k jsonpath.Kind
	if f.Field.IsRoot() {
		v, k = value, jsonpath.String // the whole value as text
		if f.Kind == jsonpath.Number {
			k = jsonpath.Number
			v = bytes.TrimSpace(v)
		}
	} else {
		v, k = f.Field.Get(value)
	}
	if f.Kind == jsonpath.Null {
		switch f.Op {
		case OpEq:
			return k == jsonpath.Null
		case OpNe:
			return k != jsonpath.Null && k != jsonpath.Missing
		}
		return false
	}
	if k != f.Kind {
		return false
	}
	var c int
	switch k {
	case jsonpath.Bool:
		c = 1
		if (v[0] == 't') == f.Bool {
			c = 0
		}
	case jsonpath.Number:
		n, ok := jsonpath.ParseNum(v)
		if !ok {
			return false
		}
		c = n.Compare(f.Number)
	case jsonpath.String:
		if !f.Field.IsRoot() {
			var err error
			if f.buf, err = jsonpath.AppendUnescaped(f.buf[:0], v); err != nil {
				return false
			}
			v = f.buf
		}
		if f.Op == OpContains {
			return bytes.Contains(v, f.Text)
		}
		c = bytes.Compare(v, f.Text)
	default:
		return false
	}
	switch f.Op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	}
	return false
}
