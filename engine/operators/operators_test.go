package operators

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/onerror"
)

func TestStateless(t *testing.T) {
	tests := []struct {
		name, typ, params string
		in, want          []string
	}{
		{"identity", "identity", "", []string{"a", "", "b"}, []string{"a", "", "b"}},
		{"uppercase", "uppercase", "", []string{"abc xyz", "straße é", "bad\xffutf8"}, []string{"ABC XYZ", "STRAßE É", "BAD\xffUTF8"}},
		{"tokenize", "tokenize", "", []string{"The quick, brown FOX!", "don't  stop-me now", "", "   "},
			[]string{"the", "quick", "brown", "fox", "don", "t", "stop", "me", "now"}},
		{"tokenize unicode", "tokenize", "", []string{"Ünïcode Wörter—naïve café 東京 42x"},
			[]string{"ünïcode", "wörter", "naïve", "café", "東京", "42x"}},
		{"tokenize combining marks", "tokenize", "", []string{"cafe\u0301 ok"}, []string{"cafe\u0301", "ok"}},
		{"tokenize invalid utf8 separates", "tokenize", "", []string{"ab\xffcd"}, []string{"ab", "cd"}},
		{"tokenize keep case, min-length", "tokenize", "lowercase: false\nmin-length: 3", []string{"An Ox and The Cat"}, []string{"and", "The", "Cat"}},
		{"extract string", "json-extract", "path: user.name", []string{`{"user": {"name": "Ann \"A\""}}`}, []string{`Ann "A"`}},
		{"extract raw", "json-extract", "path: user.name\nraw: true", []string{`{"user": {"name": "Ann"}}`}, []string{`"Ann"`}},
		{"extract number and object", "json-extract", "path: a", []string{`{"a": 1.5}`, `{"a": {"b": [1, 2]}}`, `{"a": null}`}, []string{"1.5", `{"b": [1, 2]}`, "null"}},
		{"extract array index", "json-extract", "path: items[1].id", []string{`{"items": [{"id": 1}, {"id": 2}]}`}, []string{"2"}},
		{"project list", "json-extract", "fields: [user.id, price, missing]", []string{`{"user": {"id": 7}, "price": 1.5, "x": 0}`},
			[]string{`{"id":7,"price":1.5,"missing":null}`}},
		{"project mapping", "json-extract", "fields: {uid: user.id, name: user.name}", []string{`{"user": {"id": "u1", "name": "Bo"}}`},
			[]string{`{"name":"Bo","uid":"u1"}`}},
		{"filter number", "filter", "field: n\nop: gt\nvalue: 2", []string{`{"n": 1}`, `{"n": 3}`, `{"n": 2.5}`, `{"n": "9"}`, `{}`, `junk`},
			[]string{`{"n": 3}`, `{"n": 2.5}`}},
		{"filter quoted op", "filter", "field: n\nop: \">=\"\nvalue: 2", []string{`{"n": 1}`, `{"n": 2}`}, []string{`{"n": 2}`}},
		{"filter exact ints", "filter", "field: n\nop: ==\nvalue: 9007199254740993", []string{`{"n": 9007199254740992}`, `{"n": 9007199254740993}`},
			[]string{`{"n": 9007199254740993}`}},
		{"filter string", "filter", "field: user.country\nop: ==\nvalue: DE", []string{`{"user": {"country": "DE"}}`, `{"user": {"country": "FR"}}`, `{"user": {}}`},
			[]string{`{"user": {"country": "DE"}}`}},
		{"filter escaped string", "filter", "field: s\nvalue: \"a\\\"b\"", []string{`{"s": "a\"b"}`, `{"s": "ab"}`}, []string{`{"s": "a\"b"}`}},
		{"filter not equal skips missing", "filter", "field: s\nop: ne\nvalue: x", []string{`{"s": "x"}`, `{"s": "y"}`, `{}`, `{"s": 1}`}, []string{`{"s": "y"}`}},
		{"filter contains", "filter", "field: msg\nop: contains\nvalue: err", []string{`{"msg": "an error"}`, `{"msg": "fine"}`}, []string{`{"msg": "an error"}`}},
		{"filter bool", "filter", "field: ok\nvalue: true", []string{`{"ok": true}`, `{"ok": false}`, `{"ok": "true"}`}, []string{`{"ok": true}`}},
		{"filter null", "filter", "field: x\nop: ne\nvalue: null", []string{`{"x": null}`, `{"x": 0}`, `{}`}, []string{`{"x": 0}`}},
		{"filter whole value text", "filter", "op: ne\nvalue: the", []string{"the", "cat", "thee"}, []string{"cat", "thee"}},
		{"filter whole value number", "filter", "op: <\nvalue: 10", []string{"3", " 12 ", "x", "9.5"}, []string{"3", "9.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := mustBuild(t, tt.typ, tt.params)
			got, err := run(t, op, newContext(t, false, 0, 1, 128), tt.in...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMetadataKept(t *testing.T) {
	in := api.NewBatch(1)
	in.Emit(&api.Record{Key: []byte("k"), Value: []byte("a b"), Timestamp: 42, Headers: []api.Header{{Key: []byte("h"), Value: []byte("v")}}})
	for _, typ := range []string{"identity", "uppercase", "tokenize"} {
		op := mustBuild(t, typ, "")
		out := api.NewBatch(2)
		if err := op.ProcessBatch(in, out); err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			if string(r.Key) != "k" || r.Timestamp != 42 || len(r.Headers) != 1 || string(r.Headers[0].Value) != "v" {
				t.Errorf("%s lost key, timestamp or headers: %+v", typ, r)
			}
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct{ typ, params, want string }{
		{"tokenize", "min-length: 0", "test.yaml:7:17: operators[0].min-length: 0 is out of range [1, 1048576]"},
		{"tokenize", "lowercas: false", `operators[0].lowercas: unknown field`},
		{"json-extract", "", "operators[0]: json-extract needs path (one value) or fields (a projection)"},
		{"json-extract", "path: a..b", `operators[0].path: invalid field path "a..b": empty key`},
		{"json-extract", "path: a\nfields: [b]", "operators[0].fields: give either path or fields, not both"},
		{"json-extract", "fields: [a.id, b.id]", `two fields are named "id"`},
		{"json-extract", "fields: []", "operators[0].fields: names no field"},
		{"json-extract", "fields: 3", "expected a list of field paths or a mapping"},
		{"json-extract", "fields: [a]\nraw: true", "operators[0].raw: applies to path only"},
		{"filter", "field: a", "operators[0].value: required field is missing"},
		{"filter", "field: a\nop: >\nvalue: 1", `operators[0].op: is empty; in YAML quote operators`},
		{"filter", "field: a\nop: like\nvalue: 1", `operators[0].op: "like" is not one of`},
		{"filter", "field: a\nop: contains\nvalue: 1", "operators[0].op: contains needs a string value"},
		{"filter", "field: a\nop: lt\nvalue: true", "operators[0].op: boolean compares only with == or !="},
		{"filter", "value: [1]", "expected a string, number, true, false or null"},
		{"count", "emit: sometimes", `operators[0].emit: "sometimes" is not one of every, final`},
		{"count", "field: x", "operators[0].field: unknown field"},
		{"sum", "field: a[", `operators[0].field: invalid field path`},
		{"avg", "format: xml", `operators[0].format: "xml" is not one of csv, json`},
		{"sum", "on-error: dead-letter", "operators[0].dead-letter-path: on-error is dead-letter but dead-letter-path is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.params, func(t *testing.T) {
			_, err := build(t, tt.typ, tt.params)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant one containing %q", err, tt.want)
			}
		})
	}
}

func TestKeySelector(t *testing.T) {
	tests := []struct {
		by    jobspec.KeyBy
		value string
		key   string
		want  string
		err   error
	}{
		{jobspec.KeyBy{Kind: jobspec.KeyByValue}, "hello", "", "hello", nil},
		{jobspec.KeyBy{Kind: jobspec.KeyByKey}, "v", "k1", "k1", nil},
		{jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "user.id"}, `{"user": {"id": "u\u00e9"}}`, "", "ué", nil},
		{jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "user.id"}, `{"user": {"id": 7}}`, "", "7", nil},
		{jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "user.id"}, `{"user": {}}`, "", "", ErrFieldNotFound},
		{jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "user.id"}, `not json`, "", "", onerror.ErrMalformed},
	}
	for _, tt := range tests {
		f, err := KeySelector(&tt.by)
		if err != nil {
			t.Fatal(err)
		}
		r := api.Record{Key: []byte(tt.key), Value: []byte(tt.value)}
		got, err := f(&r, []byte("prefix:")[:0])
		if !errors.Is(err, tt.err) || (err == nil && string(got) != tt.want) {
			t.Errorf("%s on %q: %q, %v; want %q, %v", tt.by.String(), tt.value, got, err, tt.want, tt.err)
		}
	}
	if _, err := KeySelector(nil); err == nil {
		t.Error("KeySelector(nil) succeeded")
	}
	if _, err := KeySelector(&jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "a..b"}); err == nil {
		t.Error("KeySelector accepted a bad path")
	}
}

func TestBadRecordPolicies(t *testing.T) {
	values := []string{`{"a": {"b": 1}}`, `{"a": {}}`, `{"a": {"b": 2}}`}
	t.Run("fail", func(t *testing.T) {
		_, err := run(t, mustBuild(t, "json-extract", "path: a.b"), newContext(t, false, 0, 1, 128), values...)
		var re *onerror.RecordError
		if !errors.As(err, &re) || !errors.Is(err, ErrFieldNotFound) || !errors.Is(err, onerror.ErrMalformed) {
			t.Fatalf("error %v; want a RecordError wrapping ErrFieldNotFound", err)
		}
		if !strings.Contains(err.Error(), `json-extract a.b: malformed record: field not found`) {
			t.Errorf("error text: %v", err)
		}
	})
	t.Run("skip", func(t *testing.T) {
		ctx := newContext(t, false, 0, 1, 128)
		got, err := run(t, mustBuild(t, "json-extract", "path: a.b\non-error: skip"), ctx, values...)
		if err != nil || !slices.Equal(got, []string{"1", "2"}) {
			t.Fatalf("got %q, %v", got, err)
		}
		if n := ctx.counters[onerror.SkippedCounter]; n == nil || n.n != 1 {
			t.Errorf("skipped counter %v, want 1", n)
		}
	})
	t.Run("dead-letter", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dead.jsonl")
		got, err := run(t, mustBuild(t, "sum", "field: a.b\non-error: dead-letter\ndead-letter-path: "+path), newContext(t, true, 0, 1, 128),
			`{"a": {"b": 1}}`, `{"a": {"b": "x"}}`, `{"a": {"b": 2}}`)
		if err != nil || !slices.Equal(got, []string{",1", ",3"}) {
			t.Fatalf("got %q, %v", got, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `"reason":"sum field a.b: malformed record: not a number"`) || !strings.Contains(string(data), `"record":"{\"a\": {\"b\": \"x\"}}"`) {
			t.Errorf("dead letter: %s", data)
		}
	})
}
