// Package params carries the configuration of one source, sink or operator,
// from a job file or the Go API, and turns every mistake in it into an error
// that names the file, line and field.
//
// A component reads its fields with typed getters; each getter records a
// problem instead of returning an error, so a component reads all its fields
// and reports every mistake at once with Err. Err also reports fields the
// component never asked for by name (with a getter, Raw, Has or Required),
// which catches misspelled keys.
package params

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Pos is a position in a job file. A zero Pos means "not from a file".
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return ""
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Value is one configuration value: a string, int64, float64, bool,
// []Value or map[string]Value, and where it was written.
type Value struct {
	V   any
	Pos Pos
}

// Params is the configuration of one component.
type Params struct {
	path   string // e.g. "sources[0]"
	pos    Pos
	values map[string]Value
	asked  map[string]bool // every field name asked for; the others are unknown
	errs   []error

	children []*Params
	subs     map[string]*Params // children by field name, so Sub(name) is one child
}

// New returns Params for the component at path (e.g. "sources[0]") declared at pos.
func New(path string, pos Pos, values map[string]Value) *Params {
	if values == nil {
		values = map[string]Value{}
	}
	return &Params{path: path, pos: pos, values: values, asked: map[string]bool{}}
}

// FromMap builds Params from plain Go values, for the Go API.
func FromMap(path string, m map[string]any) *Params {
	vals := make(map[string]Value, len(m))
	for k, v := range m {
		vals[k] = Value{V: normalize(v)}
	}
	return New(path, Pos{}, vals)
}

func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x)
		}
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
	case float32:
		return float64(x)
	case time.Duration:
		return x.String()
	case []string:
		out := make([]Value, len(x))
		for i, s := range x {
			out[i] = Value{V: s}
		}
		return out
	case []any:
		out := make([]Value, len(x))
		for i, s := range x {
			out[i] = Value{V: normalize(s)}
		}
		return out
	case map[string]any:
		out := make(map[string]Value, len(x))
		for k, s := range x {
			out[k] = Value{V: normalize(s)}
		}
		return out
	}
	return v
}

// Path is the component's path in the job, e.g. "sources[0]".
func (p *Params) Path() string { return p.path }

// Pos is where the component was declared.
func (p *Params) Pos() Pos { return p.pos }

// Has reports whether name was given. Asking counts as reading: a field
// checked with Has is not reported as unknown.
func (p *Params) Has(name string) bool {
	p.asked[name] = true
	_, ok := p.values[name]
	return ok
}

// Raw returns the value of name, marking it read.
func (p *Params) Raw(name string) (Value, bool) {
	v, ok := p.values[name]
	p.asked[name] = true
	return v, ok
}

// Keys lists the given field names in sorted order.
func (p *Params) Keys() []string {
	ks := make([]string, 0, len(p.values))
	for k := range p.values {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Errorf records a problem with field name.
func (p *Params) Errorf(name string, format string, args ...any) {
	pos := p.pos
	if v, ok := p.values[name]; ok && v.Pos.Line != 0 {
		pos = v.Pos
	}
	p.errs = append(p.errs, &Error{Pos: pos, Field: p.field(name), Msg: fmt.Sprintf(format, args...)})
}

func (p *Params) field(name string) string {
	if name == "" {
		return p.path
	}
	if p.path == "" {
		return name
	}
	return p.path + "." + name
}

// Error is one configuration mistake.
type Error struct {
	Pos   Pos
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Err returns every recorded problem, those of every Sub, and one for each
// field never asked for, joined; nil when there are none.
func (p *Params) Err() error {
	errs := append([]error(nil), p.errs...)
	for _, c := range p.children {
		if err := c.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range p.Keys() {
		if !p.asked[k] {
			errs = append(errs, &Error{Pos: p.values[k].Pos, Field: p.field(k), Msg: "unknown field" + p.suggest(k)})
		}
	}
	return errors.Join(errs...)
}

func (p *Params) suggest(k string) string {
	best, bestD := "", 3
	for u := range p.asked {
		// Ties go to the first name in sorted order, so the message does
		// not depend on map iteration order.
		if d := distance(k, u); d < bestD || d == bestD && u < best {
			best, bestD = u, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Required records a problem when name is missing and reports whether it is there.
func (p *Params) Required(name string) bool {
	if !p.Has(name) {
		p.errs = append(p.errs, &Error{Pos: p.pos, Field: p.field(name), Msg: "required field is missing"})
		return false
	}
	return true
}

// String returns field name as a string, or def when absent.
func (p *Params) String(name, def string) string {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	switch x := v.V.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	p.Errorf(name, "expected a string, got %s", describe(v.V))
	return def
}

// Enum returns field name, which must be one of allowed, or def when absent.
func (p *Params) Enum(name, def string, allowed ...string) string {
	before := len(p.errs)
	s := p.String(name, def)
	if !p.Has(name) || len(p.errs) > before {
		return s // absent, or not a string (already reported)
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	p.Errorf(name, "%q is not one of %s", s, strings.Join(allowed, ", "))
	return def
}

// Int returns field name as an integer, or def when absent.
func (p *Params) Int(name string, def int64) int64 {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	switch x := v.V.(type) {
	case int64:
		return x
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case string:
		if n, err := strconv.ParseInt(strings.ReplaceAll(x, "_", ""), 10, 64); err == nil {
			return n
		}
	}
	p.Errorf(name, "expected an integer, got %s", describe(v.V))
	return def
}

// IntRange is Int that also checks lo <= value <= hi.
func (p *Params) IntRange(name string, def, lo, hi int64) int64 {
	before := len(p.errs)
	n := p.Int(name, def)
	if len(p.errs) > before {
		return n // not an integer (already reported)
	}
	if p.Has(name) && (n < lo || n > hi) {
		p.Errorf(name, "%d is out of range [%d, %d]", n, lo, hi)
		return def
	}
	return n
}

// Float returns field name as a number, or def when absent.
func (p *Params) Float(name string, def float64) float64 {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	switch x := v.V.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return f
		}
	}
	p.Errorf(name, "expected a number, got %s", describe(v.V))
	return def
}

// Bool returns field name as a boolean, or def when absent.
func (p *Params) Bool(name string, def bool) bool {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	switch x := v.V.(type) {
	case bool:
		return x
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			return b
		}
	}
	p.Errorf(name, "expected true or false, got %s", describe(v.V))
	return def
}

// Duration returns field name as a duration ("200ms", "1m30s"; a bare
// number is milliseconds), or def when absent.
func (p *Params) Duration(name string, def time.Duration) time.Duration {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	switch x := v.V.(type) {
	case int64:
		if d, ok := scale(x, time.Millisecond); ok {
			return d
		}
	case string:
		if d, err := ParseDuration(x); err == nil {
			return d
		}
	}
	p.Errorf(name, "expected a duration such as 200ms, 10s or 5m, got %s", describe(v.V))
	return def
}

// ParseDuration parses a Go duration, also accepting a whole number of days
// ("7d") and a bare number of milliseconds. A duration beyond what
// time.Duration holds (about 292 years) is an error.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if d, ok := scale(n, time.Millisecond); ok {
			return d, nil
		}
		return 0, fmt.Errorf("duration %q is out of range", s)
	}
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 64); err == nil {
			if d, ok := scale(n, 24*time.Hour); ok {
				return d, nil
			}
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
	}
	return time.ParseDuration(s)
}

// scale returns n units, or false when that overflows a time.Duration.
func scale(n int64, unit time.Duration) (time.Duration, bool) {
	if n > math.MaxInt64/int64(unit) || n < math.MinInt64/int64(unit) {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// Size returns field name as a byte size ("64MiB", "32kb", "1g"; a bare
// number is bytes), or def when absent.
func (p *Params) Size(name string, def int64) int64 {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	switch x := v.V.(type) {
	case int64:
		if x >= 0 {
			return x
		}
	case string:
		if n, err := ParseSize(x); err == nil {
			return n
		}
	}
	p.Errorf(name, "expected a size such as 32KiB or 64MiB, got %s", describe(v.V))
	return def
}

// ParseSize parses a byte size with an optional unit (B, K/KB/KiB, M, G, T).
// Units are binary: 1K = 1024. A size of 2^63 bytes or more is an error.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	var mul float64
	switch unit {
	case "", "b":
		mul = 1
	case "k", "kb", "kib":
		mul = 1 << 10
	case "m", "mb", "mib":
		mul = 1 << 20
	case "g", "gb", "gib":
		mul = 1 << 30
	case "t", "tb", "tib":
		mul = 1 << 40
	default:
		return 0, fmt.Errorf("invalid size unit %q in %q", unit, s)
	}
	if f*mul >= math.MaxInt64 { // float64(MaxInt64) is 2^63
		return 0, fmt.Errorf("size %q is out of range", s)
	}
	return int64(f * mul), nil
}

// StringList returns field name as a list of strings (a single string is a
// list of one), or nil when absent.
func (p *Params) StringList(name string) []string {
	v, ok := p.Raw(name)
	if !ok {
		return nil
	}
	switch x := v.V.(type) {
	case string:
		return []string{x}
	case []Value:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.V.(string)
			if !ok {
				p.Errorf(name, "element %d: expected a string, got %s", i, describe(e.V))
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	p.Errorf(name, "expected a list of strings, got %s", describe(v.V))
	return nil
}

// Sub returns the nested map at field name as Params (empty when absent).
// Its problems are reported by this Params' Err. Calling Sub again with the
// same name returns the same Params.
func (p *Params) Sub(name string) *Params {
	if sub, ok := p.subs[name]; ok {
		p.asked[name] = true
		return sub
	}
	v, ok := p.Raw(name)
	var sub *Params
	switch m, isMap := v.V.(map[string]Value); {
	case !ok:
		sub = New(p.field(name), p.pos, nil)
	case !isMap:
		// Reported here once; what is read from the empty sub is not.
		p.Errorf(name, "expected a mapping, got %s", describe(v.V))
		return New(p.field(name), v.Pos, nil)
	default:
		sub = New(p.field(name), v.Pos, m)
	}
	if p.subs == nil {
		p.subs = map[string]*Params{}
	}
	p.subs[name] = sub
	p.children = append(p.children, sub)
	return sub
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(x)
	case int64, float64, bool:
		return fmt.Sprint(x)
	case []Value:
		return "a list"
	case map[string]Value:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
