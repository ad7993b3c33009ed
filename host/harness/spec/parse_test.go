package spec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/harness/spec"
)

// TestMalformedSpecs: every mistake is reported with its file, line and
// column, all at once, in line order.
func TestMalformedSpecs(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"empty", "", []string{"s.yaml: the spec is empty"}},
		{"comment only", "# nothing\n", []string{"s.yaml: the spec is empty"}},
		{"not a mapping", "- a\n", []string{"s.yaml:1:1: spec: expected a mapping, got a list"}},
		{"YAML syntax", "cases:\n  - name: [a\n", []string{"s.yaml:1: did not find expected ',' or ']'"}},
		{"tab indentation", "cases:\n  - name: x\n\tsteps: []\n", []string{"s.yaml:3:1: tab character in indentation (YAML indents with spaces only)"}},
		{"two documents", "cases: []\n---\ncases: []\n", []string{
			"s.yaml:2: a spec holds one YAML document, but another starts here"}},
		{"no cases", "function: f\n", []string{`s.yaml:1:1: spec: field "cases" is required (a list of test cases)`}},
		{"empty cases", "cases: []\n", []string{"s.yaml:1:1: cases: the list is empty"}},
		{"unknown top-level field", "fucntion: f\ncases: []\n", []string{
			`s.yaml:1:1: spec: unknown field "fucntion" (did you mean "function"?)`,
			"s.yaml:2:1: cases: the list is empty"}},
		{"unknown kind", "kind: mapper\ncases: []\n", []string{
			`s.yaml:1:7: kind: "mapper" is not one of map, filter, flat-map, key-selector, process, aggregate, deserializer`,
			"s.yaml:2:1: cases: the list is empty"}},
		{"process-window", "kind: process-window\ncases: []\n", []string{
			"s.yaml:1:7: kind: process-window functions cannot be tested with a spec yet",
			"s.yaml:2:1: cases: the list is empty"}},
		{"bad on-error", "on-error: ignore\ncases: []\n", []string{
			`s.yaml:1:11: on-error: on-error "ignore" is not one of fail, skip, side-output`,
			"s.yaml:2:1: cases: the list is empty"}},
		{"bad config", "config: [1]\ncases: []\n", []string{
			"s.yaml:1:9: config: expected a mapping or a JSON object, got a list",
			"s.yaml:2:1: cases: the list is empty"}},
		{"config string not an object", "config: '[1]'\ncases: []\n", []string{
			`s.yaml:1:9: config: expected a mapping or a JSON object, got "[1]"`,
			"s.yaml:2:1: cases: the list is empty"}},
		{"case mistakes", `
cases:
  - name: a
  - steps:
      - record: x
  - name: a
    steps: []
  - name: b
    open-error: x
    steps: [{record: x}]
  - stepz: []
    name: c
`, []string{
			`s.yaml:3:5: case "a": field "steps" is required (or open-error)`,
			`s.yaml:4:5: cases[1]: field "name" is required`,
			`s.yaml:6:5: cases[2]: the name "a" is used by the case at line 3 already`,
			`s.yaml:7:5: case "a": steps: the list is empty`,
			`s.yaml:9:5: case "b": a case with open-error has no steps (the function never opens)`,
			`s.yaml:11:5: case "c": unknown field "stepz" (did you mean "steps"?)`,
			`s.yaml:11:5: case "c": field "steps" is required (or open-error)`}},
		{"step mistakes", `
cases:
  - name: c
    steps:
      - record: x
        watermark: 5
      - {}
      - error: boom
        output: []
      - any-order: true
        state: []
      - finish: false
      - watermark: soon
      - processing-time: max
      - record: {key: k, vale: v}
      - records: []
      - record: x
        outptu: [x]
      - record: {timestamp: 1.5}
`, []string{
			`s.yaml:6:9: case "c": step 1: a step does one thing, this one has record and watermark (split it into two steps)`,
			`s.yaml:7:9: case "c": step 2: the step does nothing: give an action (record, records, watermark, processing-time, finish, merge) or a check (output, side-outputs, state, counters, timers)`,
			`s.yaml:8:9: case "c": step 3: an error is expected from the step's action, and this step has none (add record, records, watermark, ...)`,
			`s.yaml:10:9: case "c": step 4: any-order applies to output and side-outputs, and this step checks neither`,
			`s.yaml:12:17: case "c": step 5: finish: only true makes sense (leave the field out)`,
			`s.yaml:13:20: case "c": step 6: watermark: expected an integer or max, got "soon"`,
			`s.yaml:14:26: case "c": step 7: processing-time: expected an integer, got "max"`,
			`s.yaml:15:26: case "c": step 8: record: unknown field "vale" (did you mean "value"?)`,
			`s.yaml:16:18: case "c": step 9: records: the list is empty`,
			`s.yaml:18:9: case "c": step 10: unknown field "outptu" (did you mean "output"?)`,
			`s.yaml:19:29: case "c": step 11: record.timestamp: expected an integer or none, got "1.5"`}},
		{"value mistakes", `
cases:
  - name: c
    kind: map
    steps:
      - record: {value: {hex: "0g"}}
      - record: {value: {base64: "!"}}
      - record: {value: {hex: "00", utf8: "a"}}
      - record: {value: {i64le: x}}
      - record: {value: [a]}
      - record: {headers: [{value: v}]}
      - record: x
        output: [{key: {rot13: x}}]
      - record: x
        state:
          - {name: n}
          - {key: k, name: n, value: v, absent: true}
          - {key: k, name: n, absent: false}
        timers: [{domain: wall-clock}]
        counters: {n: many}
        error-kind: panic
      - merge: {from: a}
`, []string{
			`s.yaml:6:31: case "c": step 1: record.value.hex: encoding/hex: invalid byte: U+0067 'g'`,
			`s.yaml:7:34: case "c": step 2: record.value.base64: illegal base64 data at input byte 0`,
			`s.yaml:8:25: case "c": step 3: record.value: give exactly one of utf8, hex, base64, i64le, i64be, json`,
			`s.yaml:9:33: case "c": step 4: record.value.i64le: expected an integer, got "x"`,
			`s.yaml:10:25: case "c": step 5: record.value: expected text, null or a mapping with one of utf8, hex, base64, i64le, i64be, json; got a list`,
			`s.yaml:11:28: case "c": step 6: record.headers[0]: field "key" is required`,
			`s.yaml:13:25: case "c": step 7: output[0].key: unknown field "rot13" (fields: utf8, hex, base64, i64le, i64be, json)`,
			`s.yaml:16:13: case "c": step 8: state[0]: field "key" is required (keyed state is per key)`,
			`s.yaml:16:13: case "c": step 8: state[0]: give exactly one of value, absent, list, map (got 0)`,
			`s.yaml:17:13: case "c": step 8: state[1]: give exactly one of value, absent, list, map (got 2)`,
			`s.yaml:18:39: case "c": step 8: state[2].absent: only true makes sense (give value instead)`,
			`s.yaml:19:27: case "c": step 8: timers[0].domain: "wall-clock" is not one of event-time, processing-time`,
			`s.yaml:20:23: case "c": step 8: counters.n: expected an integer, got "many"`,
			`s.yaml:21:21: case "c": step 8: error-kind "panic" is not one of user-function, trap, timeout, memory-limit, abi, poisoned`,
			`s.yaml:22:9: case "c": step 9: merge: only aggregate functions merge, this case tests a map function`,
			`s.yaml:22:16: case "c": step 9: merge: field "into" is required`}},
		{"duplicate field", "cases: []\ncases: []\n", []string{
			"s.yaml:1:1: cases: the list is empty",
			`s.yaml:2:1: spec: field "cases" is given twice (first at line 1)`}},
		{"alias inside itself", "config: &a {x: *a}\ncases: [{name: a, open-error: x}]\n", []string{
			"s.yaml:1:9: config: nested more than 100 levels deep (an alias inside the value it names?)"}},
		{"alias bomb", aliasBomb(), []string{"spec: expected"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := spec.Parse("s.yaml", []byte(tc.spec))
			if err == nil {
				t.Fatalf("parsed: %+v", s)
			}
			if !errors.Is(err, spec.ErrMalformed) {
				t.Errorf("%v does not wrap ErrMalformed", err)
			}
			got := strings.Split(err.Error(), "\n")
			if tc.name == "alias bomb" {
				if !strings.Contains(err.Error(), "aliases expand the spec too much") {
					t.Fatalf("got %v", err)
				}
				return
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// aliasBomb is a spec whose aliases expand to billions of values.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(" [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a")
			b.WriteString(string(rune('0' + i - 1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("cases:\n  - name: c\n    config: {x: *a9}\n    steps: [{record: x}]\n")
	return b.String()
}

func TestParseInheritsAndOverrides(t *testing.T) {
	s, err := spec.Parse("s.yaml", []byte(`
description: d
function: q1
kind: map
config: {a: 1, b: [true, null, "x"], c: {z: 1.5, y: -2}}
on-error: skip
cases:
  - name: inherits
    steps: [{record: x}]
  - name: another function resets the kind
    function: q2
    steps: [{record: x}]
  - name: overrides all
    function: q1
    kind: filter
    config: '{"m": 5}'
    on-error: fail
    steps: [{record: x}]
  - name: opens
    open-error: nope
`))
	if err != nil {
		t.Fatal(err)
	}
	type c struct {
		name, fn string
		kind     abi.OperatorKind
		config   string
		onErr    host.ErrorPolicy
	}
	var got []c
	for _, x := range s.Cases {
		got = append(got, c{x.Name, x.Function, x.Kind, string(x.Config), x.OnError})
	}
	cfg := `{"a":1,"b":[true,null,"x"],"c":{"z":1.5,"y":-2}}`
	want := []c{
		{"inherits", "q1", abi.KindMap, cfg, host.ErrorSkip},
		{"another function resets the kind", "q2", 0, cfg, host.ErrorSkip},
		{"overrides all", "q1", abi.KindFilter, `{"m": 5}`, host.ErrorFail},
		{"opens", "q1", abi.KindMap, cfg, host.ErrorSkip},
	}
	if s.Description != "d" || len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("case %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if s.Cases[1].Line != 10 {
		t.Errorf("line of case 2: %d", s.Cases[1].Line)
	}
}
