package params

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The job file every test pretends to read: the component is declared at
// job.yaml:3:5 and its one field (when a test gives one) at job.yaml:4:7.
var (
	declPos  = Pos{File: "job.yaml", Line: 3, Col: 5}
	fieldPos = Pos{File: "job.yaml", Line: 4, Col: 7}
)

// one returns Params for sources[0] with field "f" set to v, or with no
// fields when v is absent.
func one(v any) *Params {
	if v == absent {
		return New("sources[0]", declPos, nil)
	}
	return New("sources[0]", declPos, map[string]Value{"f": {V: v, Pos: fieldPos}})
}

// absent marks a table row whose field is not given.
var absent = &struct{ absent bool }{true}

// list builds a []Value of plain values at fieldPos.
func list(vs ...any) []Value {
	out := make([]Value, len(vs))
	for i, v := range vs {
		out[i] = Value{V: v, Pos: Pos{File: "job.yaml", Line: 5 + i, Col: 9}}
	}
	return out
}

// problems returns the individual errors inside err (nil: none).
func problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	return []error{err}
}

// checkErr fails t unless p.Err() holds exactly the problems want (each an
// exact Error() string), in order.
func checkErr(t *testing.T, p *Params, want ...string) {
	t.Helper()
	var got []string
	for _, e := range problems(p.Err()) {
		got = append(got, e.Error())
	}
	if !reflect.DeepEqual(got, want) && (len(got) != 0 || len(want) != 0) {
		t.Errorf("problems:\n  got  %q\n  want %q", got, want)
	}
}

// wantProblem is the full message of a problem with field f at fieldPos.
func wantProblem(msg string) []string {
	if msg == "" {
		return nil
	}
	return []string{"job.yaml:4:7: sources[0].f: " + msg}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
		err  string
	}{
		{"absent gives the default", absent, "def", ""},
		{"string", "kafka:9092", "kafka:9092", ""},
		{"empty string is a value", "", "", ""},
		{"integer as written", int64(-42), "-42", ""},
		{"float as written", 2.5, "2.5", ""},
		{"bool as written", true, "true", ""},
		{"null", nil, "def", `expected a string, got nothing`},
		{"list", list("a"), "def", `expected a string, got a list`},
		{"mapping", map[string]Value{}, "def", `expected a string, got a mapping`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := one(tt.v)
			if got := p.String("f", "def"); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
			checkErr(t, p, wantProblem(tt.err)...)
		})
	}
}

func TestEnum(t *testing.T) {
	allowed := []string{"json", "csv", "text"}
	tests := []struct {
		name string
		v    any
		def  string
		want string
		err  string
	}{
		{"absent gives the default", absent, "json", "json", ""},
		{"absent default need not be allowed", absent, "", "", ""},
		{"allowed", "csv", "json", "csv", ""},
		{"case matters", "CSV", "json", "json", `"CSV" is not one of json, csv, text`},
		{"not allowed", "xml", "json", "json", `"xml" is not one of json, csv, text`},
		{"number as text", int64(3), "json", "json", `"3" is not one of json, csv, text`},
		// A value of the wrong type is one problem, not also "not one of".
		{"wrong type is one problem", list("csv"), "", "", `expected a string, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := one(tt.v)
			if got := p.Enum("f", tt.def, allowed...); got != tt.want {
				t.Errorf("Enum = %q, want %q", got, tt.want)
			}
			checkErr(t, p, wantProblem(tt.err)...)
		})
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want int64
		err  string
	}{
		{"absent gives the default", absent, 7, ""},
		{"integer", int64(-3), -3, ""},
		{"largest", int64(math.MaxInt64), math.MaxInt64, ""},
		{"whole float", 4.0, 4, ""},
		{"fractional float", 4.5, 7, `expected an integer, got 4.5`},
		{"float beyond int64", 1e20, 7, `expected an integer, got 1e+20`},
		{"NaN", math.NaN(), 7, `expected an integer, got NaN`},
		{"decimal string", "1200", 1200, ""},
		{"underscores", "1_000_000", 1000000, ""},
		{"negative string", "-5", -5, ""},
		{"string overflow", "9223372036854775808", 7, `expected an integer, got "9223372036854775808"`},
		{"hex is not decimal", "0x10", 7, `expected an integer, got "0x10"`},
		{"word", "many", 7, `expected an integer, got "many"`},
		{"bool", true, 7, `expected an integer, got true`},
		{"null", nil, 7, `expected an integer, got nothing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := one(tt.v)
			if got := p.Int("f", 7); got != tt.want {
				t.Errorf("Int = %d, want %d", got, tt.want)
			}
			checkErr(t, p, wantProblem(tt.err)...)
		})
	}
}

func TestIntRange(t *testing.T) {
	tests := []struct {
		name string
		v    any
		def  int64
		want int64
		err  string
	}{
		{"absent gives the default", absent, 4, 4, ""},
		{"absent default is not checked", absent, 0, 0, ""},
		{"inside", int64(5), 4, 5, ""},
		{"low bound", int64(1), 4, 1, ""},
		{"high bound", int64(10), 4, 10, ""},
		{"below", int64(0), 4, 4, `0 is out of range [1, 10]`},
		{"above", "11", 4, 4, `11 is out of range [1, 10]`},
		// A value of the wrong type is one problem, not also "out of range"
		// about the default.
		{"wrong type is one problem", "ten", 0, 0, `expected an integer, got "ten"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := one(tt.v)
			if got := p.IntRange("f", tt.def, 1, 10); got != tt.want {
				t.Errorf("IntRange = %d, want %d", got, tt.want)
			}
			checkErr(t, p, wantProblem(tt.err)...)
		})
	}
}

func TestFloat(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want float64
		err  string
	}{
		{"absent gives the default", absent, 0.5, ""},
		{"float", 1.25, 1.25, ""},
		{"integer", int64(3), 3, ""},
		{"string", "2.5e3", 2500, ""},
		{"word", "half", 0.5, `expected a number, got "half"`},
		{"bool", false, 0.5, `expected a number, got false`},
		{"list", list(1.0), 0.5, `expected a number, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := one(tt.v)
			if got := p.Float("f", 0.5); got != tt.want {
				t.Errorf("Float = %v, want %v", got, tt.want)
			}
			checkErr(t, p, wantProblem(tt.err)...)
		})
	}
}

func TestBool(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want bool
		err  string
	}{
		{"absent gives the default", absent, true, ""},
		{"true", true, true, ""},
		{"false", false, false, ""},
		{"string true", "true", true, ""},
		{"string FALSE", "FALSE", false, ""},
		{"yes is not a bool", "yes", true, `expected true or false, got "yes"`},
		{"integer", int64(1), true, `expected true or false, got 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := one(tt.v)
			if got := p.Bool("f", true); got != tt.want {
				t.Errorf("Bool = %v, want %v", got, tt.want)
			}
			checkErr(t, p, wantProblem(tt.err)...)
		})
	}
}

func TestDuration(t *testing.T) {
	const def = 3 * time.Second
	const msg = "expected a duration such as 200ms, 10s or 5m, got "
	tests := []struct {
		name string
		v    any
		want time.Duration
		err  string
	}{
		{"absent gives the default", absent, def, ""},
		{"go syntax", "1m30s", 90 * time.Second, ""},
		{"milliseconds", "200ms", 200 * time.Millisecond, ""},
		{"fraction", "1.5h", 90 * time.Minute, ""},
		{"negative", "-2s", -2 * time.Second, ""},
		{"bare integer is milliseconds", int64(1500), 1500 * time.Millisecond, ""},
		{"bare string is milliseconds", "250", 250 * time.Millisecond, ""},
		{"zero", int64(0), 0, ""},
		{"days", "7d", 7 * 24 * time.Hour, ""},
		{"days with spaces", " 2d ", 48 * time.Hour, ""},
		{"fractional days", "1.5d", def, msg + `"1.5d"`},
		{"days and hours", "1d12h", def, msg + `"1d12h"`},
		{"unknown unit", "10x", def, msg + `"10x"`},
		{"empty", "", def, msg + `""`},
		{"float", 2.5, def, msg + `2.5`},
		{"bool", true, def, msg + `true`},
		// Durations are at most ~292 years; larger values must not wrap.
		{"days overflow", "200000d", def, msg + `"200000d"`},
		{"milliseconds overflow", int64(math.MaxInt64), def, msg + `9223372036854775807`},
		{"bare string overflow", "9223372036855", def, msg + `"9223372036855"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := one(tt.v)
			if got := p.Duration("f", def); got != tt.want {
				t.Errorf("Duration = %v, want %v", got, tt.want)
			}
			checkErr(t, p, wantProblem(tt.err)...)
		})
	}
}

func TestParseDurationLimits(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"106751d", 106751 * 24 * time.Hour, true}, // the largest whole number of days
		{"106752d", 0, false},
		{"-106751d", -106751 * 24 * time.Hour, true},
		{"-106752d", 0, false},
		{"9223372036854", 9223372036854 * time.Millisecond, true}, // the largest number of milliseconds
		{"-9223372036854", -9223372036854 * time.Millisecond, true},
		{"9223372036855", 0, false},
		{"-9223372036855", 0, false},
		{"d", 0, false},
		{"2562047h", 2562047 * time.Hour, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestSize(t *testing.T) {
	const def = 99
	const msg = "expected a size such as 32KiB or 64MiB, got "
	tests := []struct {
		name string
		v    any
		want int64
		err  string
	}{
		{"absent gives the default", absent, def, ""},
		{"bare integer is bytes", int64(4096), 4096, ""},
		{"bare string is bytes", "4096", 4096, ""},
		{"B", "12B", 12, ""},
		{"K", "32k", 32 << 10, ""},
		{"KB is binary", "32kb", 32 << 10, ""},
		{"KiB", "32KiB", 32 << 10, ""},
		{"M", "64M", 64 << 20, ""},
		{"MiB", "64MiB", 64 << 20, ""},
		{"MB", "64 MB", 64 << 20, ""},
		{"G", "1g", 1 << 30, ""},
		{"GiB", "2GiB", 2 << 30, ""},
		{"T", "1TB", 1 << 40, ""},
		{"fraction", "1.5k", 1536, ""},
		{"surrounding space", "  8 kib ", 8 << 10, ""},
		{"zero", "0", 0, ""},
		{"unknown unit", "12q", def, msg + `"12q"`},
		{"no number", "MiB", def, msg + `"MiB"`},
		{"empty", "", def, msg + `""`},
		{"negative string", "-1k", def, msg + `"-1k"`},
		{"negative integer", int64(-1), def, msg + `-1`},
		{"float", 1.5, def, msg + `1.5`},
		{"bool", true, def, msg + `true`},
		{"overflow", "99999999999t", def, msg + `"99999999999t"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := one(tt.v)
			if got := p.Size("f", def); got != tt.want {
				t.Errorf("Size = %d, want %d", got, tt.want)
			}
			checkErr(t, p, wantProblem(tt.err)...)
		})
	}
}

func TestParseSizeLimits(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"8388607t", 8388607 << 40, true},
		{"8388608t", 0, false}, // 2^63 bytes
		{"9223372036854774784", 9223372036854774784, true},
		{"1e3", 0, false},
		{".", 0, false},
		{"1.2.3k", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) || (!tt.ok && got != 0) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestStringList(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want []string
		err  string
	}{
		{"absent is nil", absent, nil, ""},
		{"one string is a list of one", "orders", []string{"orders"}, ""},
		{"list", list("a", "b", "c"), []string{"a", "b", "c"}, ""},
		{"empty list", list(), []string{}, ""},
		{"non-string element", list("a", int64(2)), nil, `element 1: expected a string, got 2`},
		{"number", int64(2), nil, `expected a list of strings, got 2`},
		{"mapping", map[string]Value{}, nil, `expected a list of strings, got a mapping`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := one(tt.v)
			got := p.StringList("f")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("StringList = %#v, want %#v", got, tt.want)
			}
			checkErr(t, p, wantProblem(tt.err)...)
		})
	}
}

func TestRequired(t *testing.T) {
	p := New("sinks[1]", declPos, map[string]Value{"path": {V: "/out", Pos: fieldPos}})
	if !p.Required("path") {
		t.Error("Required(path) = false for a given field")
	}
	if p.Required("topic") {
		t.Error("Required(topic) = true for a missing field")
	}
	_ = p.String("path", "")
	// A missing field has no position of its own: the component's is used.
	checkErr(t, p, "job.yaml:3:5: sinks[1].topic: required field is missing")
}

// A given field is always reported required-and-present, even when it is
// null, so the getter that reads it reports the real problem.
func TestRequiredNull(t *testing.T) {
	p := one(nil)
	if !p.Required("f") {
		t.Fatal("Required = false for a null field")
	}
	_ = p.String("f", "")
	checkErr(t, p, wantProblem("expected a string, got nothing")...)
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{"everything", Error{Pos: Pos{"job.yaml", 12, 3}, Field: "sources[0].topic", Msg: "bad"}, "job.yaml:12:3: sources[0].topic: bad"},
		{"file only", Error{Pos: Pos{File: "--set x=1"}, Field: "x", Msg: "bad"}, "--set x=1: x: bad"},
		{"no position", Error{Field: "sources[0].topic", Msg: "bad"}, "sources[0].topic: bad"},
		{"message only", Error{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorfPositionAndPath(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		field string
		want  string
	}{
		{"given field: its own position", "operators[2]", "f", "job.yaml:4:7: operators[2].f: nope"},
		{"absent field: the component's position", "operators[2]", "g", "job.yaml:3:5: operators[2].g: nope"},
		{"the component itself", "operators[2]", "", "job.yaml:3:5: operators[2]: nope"},
		{"no path", "", "f", "job.yaml:4:7: f: nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(tt.path, declPos, map[string]Value{"f": {V: "x", Pos: fieldPos}})
			_ = p.String("f", "")
			p.Errorf(tt.field, "%s", "nope")
			checkErr(t, p, tt.want)
		})
	}
}

// A value from the Go API has no line: the component's position stands in.
func TestErrorfFieldWithoutPosition(t *testing.T) {
	p := New("sources[0]", declPos, map[string]Value{"f": {V: "x"}})
	_ = p.String("f", "")
	p.Errorf("f", "nope")
	checkErr(t, p, "job.yaml:3:5: sources[0].f: nope")
}

func TestErrJoinsEveryProblem(t *testing.T) {
	at := func(line int) Pos { return Pos{File: "job.yaml", Line: line, Col: 7} }
	p := New("sources[0]", declPos, map[string]Value{
		"partitions": {V: "many", Pos: at(4)},
		"format":     {V: "xml", Pos: at(5)},
		"tpoic":      {V: "orders", Pos: at(6)},
		"zzz":        {V: true, Pos: at(7)},
	})
	_ = p.Int("partitions", 1)
	_ = p.Enum("format", "json", "json", "csv")
	p.Required("topic")
	_ = p.String("topic", "")

	err := p.Err()
	want := []string{
		`job.yaml:4:7: sources[0].partitions: expected an integer, got "many"`,
		`job.yaml:5:7: sources[0].format: "xml" is not one of json, csv`,
		`job.yaml:3:5: sources[0].topic: required field is missing`,
		`job.yaml:6:7: sources[0].tpoic: unknown field (did you mean "topic"?)`,
		`job.yaml:7:7: sources[0].zzz: unknown field`,
	}
	checkErr(t, p, want...)
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Err().Error() =\n%s\nwant one problem per line", got)
	}
	// Every problem is an *Error a caller can inspect.
	for _, e := range problems(err) {
		var pe *Error
		if !errors.As(e, &pe) || pe.Field == "" || pe.Pos.Line == 0 {
			t.Errorf("problem %q is not a positioned *Error", e)
		}
	}
	// Err is repeatable: it does not consume the problems.
	if again := p.Err(); again == nil || again.Error() != err.Error() {
		t.Errorf("second Err() = %v, want the same problems", again)
	}
}

func TestErrNilWhenClean(t *testing.T) {
	p := New("sources[0]", declPos, map[string]Value{"a": {V: "x"}, "b": {V: int64(1)}})
	_ = p.String("a", "")
	_ = p.Int("b", 0)
	if err := p.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
	if err := New("x", Pos{}, nil).Err(); err != nil {
		t.Errorf("Err() of empty params = %v, want nil", err)
	}
}

func TestUnknownFields(t *testing.T) {
	tests := []struct {
		name  string
		given []string
		read  func(p *Params)
		want  []string // unknown-field problems, in key order
	}{
		{
			name:  "misspelled field suggests the one read",
			given: []string{"bootstrap-sever"},
			read:  func(p *Params) { p.String("bootstrap-server", "") },
			want:  []string{`bootstrap-sever: unknown field (did you mean "bootstrap-server"?)`},
		},
		{
			name:  "suggests a field asked for but not given",
			given: []string{"partitons"},
			read:  func(p *Params) { p.Has("partitions") },
			want:  []string{`partitons: unknown field (did you mean "partitions"?)`},
		},
		{
			name:  "far from everything: no suggestion",
			given: []string{"colour"},
			read:  func(p *Params) { p.String("path", "") },
			want:  []string{`colour: unknown field`},
		},
		{
			name:  "two edits is still a suggestion",
			given: []string{"tpoic"},
			read:  func(p *Params) { p.String("topic", "") },
			want:  []string{`tpoic: unknown field (did you mean "topic"?)`},
		},
		{
			name:  "nothing read: no suggestion",
			given: []string{"topic"},
			read:  func(p *Params) {},
			want:  []string{`topic: unknown field`},
		},
		{
			name:  "ties go to the first name in sorted order",
			given: []string{"kex"},
			read:  func(p *Params) { p.String("key", ""); p.String("kez", ""); p.String("hex", "") },
			want:  []string{`kex: unknown field (did you mean "hex"?)`},
		},
		{
			// A component that only checks whether a field is given has
			// still asked for it by name: it is not a misspelling.
			name:  "a field checked with Has is known",
			given: []string{"path", "fields"},
			read: func(p *Params) {
				if p.Has("path") && p.Has("fields") {
					p.Errorf("fields", "give either path or fields, not both")
				}
			},
			want: []string{`fields: give either path or fields, not both`},
		},
		{
			name:  "a field checked with Required is known",
			given: []string{"topic"},
			read:  func(p *Params) { p.Required("topic") },
			want:  nil,
		},
		{
			name:  "every unknown field is reported, sorted",
			given: []string{"gamma", "alpha", "beta"},
			read:  func(p *Params) { p.String("beta", "") },
			want:  []string{`alpha: unknown field`, `gamma: unknown field`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]Value{}
			for _, k := range tt.given {
				vals[k] = Value{V: "x"}
			}
			p := New("", Pos{}, vals)
			tt.read(p)
			checkErr(t, p, tt.want...)
		})
	}
}

// The suggestion must not depend on map iteration order.
func TestSuggestionIsDeterministic(t *testing.T) {
	for range 50 {
		p := New("", Pos{}, map[string]Value{"kex": {V: "x"}})
		for _, k := range []string{"kez", "key", "hex", "ket"} {
			p.Has(k)
		}
		checkErr(t, p, `kex: unknown field (did you mean "hex"?)`)
		if t.Failed() {
			return
		}
	}
}

func TestSub(t *testing.T) {
	authPos := Pos{File: "job.yaml", Line: 8, Col: 5}
	userPos := Pos{File: "job.yaml", Line: 9, Col: 11}
	p := New("sinks[0]", declPos, map[string]Value{
		"auth": {Pos: authPos, V: map[string]Value{
			"user":     {V: "ann", Pos: userPos},
			"pasword":  {V: "s3cret", Pos: Pos{File: "job.yaml", Line: 10, Col: 11}},
			"attempts": {V: "lots", Pos: Pos{File: "job.yaml", Line: 11, Col: 11}},
		}},
	})
	auth := p.Sub("auth")
	if got := auth.Path(); got != "sinks[0].auth" {
		t.Errorf("Path = %q, want sinks[0].auth", got)
	}
	if got := auth.Pos(); got != authPos {
		t.Errorf("Pos = %v, want the mapping's %v", got, authPos)
	}
	if got := auth.String("user", ""); got != "ann" {
		t.Errorf("user = %q", got)
	}
	_ = auth.String("password", "")
	_ = auth.Int("attempts", 3)
	auth.Required("realm")
	auth.Errorf("user", "is not allowed to write")

	// Every problem of the sub is reported by the parent, with the sub's
	// path and the nested field's own position.
	checkErr(t, p,
		`job.yaml:11:11: sinks[0].auth.attempts: expected an integer, got "lots"`,
		`job.yaml:8:5: sinks[0].auth.realm: required field is missing`,
		`job.yaml:9:11: sinks[0].auth.user: is not allowed to write`,
		`job.yaml:10:11: sinks[0].auth.pasword: unknown field (did you mean "password"?)`,
	)
}

func TestSubNotAMapping(t *testing.T) {
	p := one("user:ann")
	sub := p.Sub("f")
	if got := sub.String("user", "none"); got != "none" {
		t.Errorf("field of a non-mapping sub = %q, want the default", got)
	}
	if sub.Path() != "sources[0].f" || sub.Pos() != fieldPos {
		t.Errorf("sub path %q pos %v, want sources[0].f at %v", sub.Path(), sub.Pos(), fieldPos)
	}
	// One problem: the type. Reads of the empty sub add nothing.
	sub.Required("user")
	checkErr(t, p, wantProblem("expected a mapping, got \"user:ann\"")...)
}

// A Sub that is absent is empty, but what its reader records still reaches
// the parent: a required nested field is reported missing.
func TestSubAbsentReportsProblems(t *testing.T) {
	p := New("sinks[0]", declPos, nil)
	tls := p.Sub("tls")
	if got := tls.Path(); got != "sinks[0].tls" {
		t.Errorf("Path = %q", got)
	}
	if got := tls.Int("port", 443); got != 443 {
		t.Errorf("port = %d, want the default", got)
	}
	tls.Required("cert")
	checkErr(t, p, `job.yaml:3:5: sinks[0].tls.cert: required field is missing`)
}

// Reading one nested mapping through two Sub calls (say, from two helper
// functions) reports each nested field once, and no field read through
// either as unknown.
func TestSubTwice(t *testing.T) {
	p := New("sinks[0]", declPos, map[string]Value{
		"tls": {Pos: fieldPos, V: map[string]Value{
			"cert": {V: "/c.pem"},
			"key":  {V: "/k.pem"},
			"cat":  {V: "/x", Pos: Pos{File: "job.yaml", Line: 6, Col: 9}},
		}},
	})
	_ = p.Sub("tls").String("cert", "")
	_ = p.Sub("tls").String("key", "")
	checkErr(t, p, `job.yaml:6:9: sinks[0].tls.cat: unknown field (did you mean "cert"?)`)
}

func TestSubNested(t *testing.T) {
	p := FromMap("config", map[string]any{
		"checkpoint": map[string]any{
			"storage": map[string]any{"path": "/ckpt", "ttl": "1d", "extra": 1},
		},
	})
	st := p.Sub("checkpoint").Sub("storage")
	if got := st.String("path", ""); got != "/ckpt" {
		t.Errorf("path = %q", got)
	}
	if got := st.Duration("ttl", 0); got != 24*time.Hour {
		t.Errorf("ttl = %v", got)
	}
	checkErr(t, p, `config.checkpoint.storage.extra: unknown field`)
}

func TestFromMap(t *testing.T) {
	type custom struct{}
	p := FromMap("sources[0]", map[string]any{
		"int":      4,
		"int8":     int8(-8),
		"int16":    int16(16),
		"int32":    int32(32),
		"int64":    int64(64),
		"uint":     uint(1),
		"uint8":    uint8(8),
		"uint16":   uint16(160),
		"uint32":   uint32(320),
		"uint64":   uint64(640),
		"uint64hi": uint64(math.MaxUint64),
		"float32":  float32(0.5),
		"float64":  0.25,
		"duration": 90 * time.Second,
		"strings":  []string{"a", "b"},
		"anys":     []any{"x", 3},
		"map":      map[string]any{"n": 7, "l": []any{"y"}},
		"bool":     true,
		"custom":   custom{},
	})
	for _, k := range []string{"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64"} {
		v, _ := p.Raw(k)
		if _, ok := v.V.(int64); !ok {
			t.Errorf("%s normalised to %T, want int64", k, v.V)
		}
	}
	if got := p.Int("int8", 0) + p.Int("uint16", 0); got != 152 {
		t.Errorf("int8 + uint16 = %d, want 152", got)
	}
	if got := p.Float("float32", 0); got != 0.5 {
		t.Errorf("float32 = %v", got)
	}
	if got := p.Float("float64", 0); got != 0.25 {
		t.Errorf("float64 = %v", got)
	}
	if got := p.Duration("duration", 0); got != 90*time.Second {
		t.Errorf("duration = %v", got)
	}
	if got := p.StringList("strings"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("strings = %q", got)
	}
	if v, _ := p.Raw("anys"); !reflect.DeepEqual(v.V, []Value{{V: "x"}, {V: int64(3)}}) {
		t.Errorf("anys = %#v", v.V)
	}
	m := p.Sub("map")
	if got := m.Int("n", 0); got != 7 {
		t.Errorf("map.n = %d", got)
	}
	if got := m.StringList("l"); !reflect.DeepEqual(got, []string{"y"}) {
		t.Errorf("map.l = %q", got)
	}
	if !p.Bool("bool", false) {
		t.Error("bool = false")
	}
	_ = p.Int("uint64hi", 0)
	_ = p.String("custom", "")
	checkErr(t, p,
		`sources[0].uint64hi: expected an integer, got uint64`,
		`sources[0].custom: expected a string, got params.custom`,
	)
	if p.Pos() != (Pos{}) {
		t.Errorf("Pos = %v, want none", p.Pos())
	}
}

func TestKeysAndHas(t *testing.T) {
	p := New("x", Pos{}, map[string]Value{"b": {}, "a": {}, "c": {}})
	if got := p.Keys(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("Keys = %q", got)
	}
	if !p.Has("a") || p.Has("d") {
		t.Error("Has(a) should be true and Has(d) false")
	}
}

func TestPosString(t *testing.T) {
	tests := []struct {
		pos  Pos
		want string
	}{
		{Pos{}, ""},
		{Pos{File: "job.yaml"}, "job.yaml"},
		{Pos{File: "job.yaml", Line: 2, Col: 9}, "job.yaml:2:9"},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.pos, got, tt.want)
		}
	}
}
