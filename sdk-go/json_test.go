package freshet

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestJSONField(t *testing.T) {
	tests := []struct {
		doc  string
		path []string
		want string
		err  error
	}{
		{`{"a": {"b": [1, 2]}}`, []string{"a", "b"}, `[1, 2]`, nil},
		{` "x" `, nil, `"x"`, nil},
		{`{"a\u0062": 1}`, []string{"ab"}, `1`, nil},
		{`{"a": 1, "a": 2}`, []string{"a"}, `1`, nil},
		{`{"a": -0.5e+3}`, []string{"a"}, `-0.5e+3`, nil},
		{`{"a": 1}`, []string{"b"}, ``, ErrJSONNotFound},
		{`{"a": 1}`, []string{"a", "b"}, ``, ErrJSONNotObject},
		{`[1]`, []string{"a"}, ``, ErrJSONNotObject},
		{`{"a": 1`, []string{"a"}, ``, ErrJSONInvalid},
		{`{"a": 1}}`, []string{"a"}, ``, ErrJSONInvalid},
		{`{"a": .5}`, []string{"a"}, ``, ErrJSONInvalid},
		{`{"a": "\udc00"}`, []string{"a"}, ``, ErrJSONInvalid},
		{`{"a": "\ud800x"}`, []string{"a"}, ``, ErrJSONInvalid},
		{`{"a": tru}`, []string{"a"}, ``, ErrJSONInvalid},
		{strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth), nil, strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth), nil},
		{strings.Repeat("[", MaxJSONDepth+1) + strings.Repeat("]", MaxJSONDepth+1), nil, ``, ErrJSONInvalid},
	}
	for _, tc := range tests {
		got, err := JSONField([]byte(tc.doc), tc.path...)
		if !errors.Is(err, tc.err) || string(got) != tc.want {
			t.Errorf("JSONField(%.30q, %q) = %q, %v; want %q, %v", tc.doc, tc.path, got, err, tc.want, tc.err)
		}
	}
}

func TestJSONStrings(t *testing.T) {
	s, err := JSONUnquote(nil, []byte(`"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`))
	if err != nil || string(s) != "a\"\\/\b\f\n\r\té😀" {
		t.Fatalf("JSONUnquote = %q, %v", s, err)
	}
	in := "q\"\\\n\x01é\xff"
	enc := AppendJSONString(nil, []byte(in))
	var back string
	if err := json.Unmarshal(enc, &back); err != nil || back != "q\"\\\n\x01é\ufffd" {
		t.Fatalf("AppendJSONString = %s (%q, %v)", enc, back, err)
	}
}

// FuzzJSONField checks the validator against encoding/json: what JSONField
// accepts, encoding/json accepts too (the reverse does not hold: we reject
// unpaired surrogates and very deep nesting).
func FuzzJSONField(f *testing.F) {
	for _, s := range []string{`{"a": {"b": [1, "x", null, true]}}`, `[]`, `"\u00e9"`, `{"a":1e5}`, `{"a":"\ud83d\ude00"}`} {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, doc []byte, field string) {
		raw, err := JSONField(doc, field)
		if errors.Is(err, ErrJSONInvalid) {
			return
		}
		if !json.Valid(doc) {
			t.Fatalf("accepted invalid JSON %q", doc)
		}
		if err == nil && !json.Valid(raw) {
			t.Fatalf("field %q of %q is %q, not JSON", field, doc, raw)
		}
	})
}
