package jsonpath

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		keys []string
		last string
		err  bool
	}{
		{in: "user", keys: []string{"user"}, last: "user"},
		{in: "user.id", keys: []string{"user", "id"}, last: "id"},
		{in: "$.user.id", keys: []string{"user", "id"}, last: "id"},
		{in: "$", keys: nil},
		{in: "items[0].price", keys: []string{"items", "[0]", "price"}, last: "price"},
		{in: "items[2][10]", keys: []string{"items", "[2]", "[10]"}, last: "items"},
		{in: "[1].a", keys: []string{"[1]", "a"}, last: "a"},
		{in: "$[1]", keys: []string{"[1]"}},
		{in: `"a.b".c`, keys: []string{"a.b", "c"}, last: "c"},
		{in: `x."q\"uote"`, keys: []string{"x", `q"uote`}, last: `q"uote`},
		{in: "", err: true},
		{in: "a..b", err: true},
		{in: "a.", err: true},
		{in: ".a", err: true},
		{in: "a[x]", err: true},
		{in: "a[-1]", err: true},
		{in: "a[01]", err: true},
		{in: "a[1", err: true},
		{in: "a]", err: true},
		{in: `"unterminated`, err: true},
		{in: `a"b`, err: true},
		{in: "a.[0]", err: true},
		{in: `"a"b`, err: true},
	}
	for _, tt := range tests {
		p, err := Parse(tt.in)
		if tt.err {
			if err == nil || !errors.Is(err, ErrSyntax) {
				t.Errorf("Parse(%q) = %v, %v; want an ErrSyntax error", tt.in, p.keys, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if len(p.keys) != len(tt.keys) {
			t.Errorf("Parse(%q) keys %q, want %q", tt.in, p.keys, tt.keys)
			continue
		}
		for i := range p.keys {
			if p.keys[i] != tt.keys[i] {
				t.Errorf("Parse(%q) keys %q, want %q", tt.in, p.keys, tt.keys)
			}
		}
		if p.Last() != tt.last {
			t.Errorf("Parse(%q).Last() = %q, want %q", tt.in, p.Last(), tt.last)
		}
	}
}

func TestGet(t *testing.T) {
	doc := []byte(`{"user": {"id": 42, "name": "Ann \"A\" \u00e9", "tags": ["x", "y"], "ok": true, "none": null},
		"items": [{"price": 1.5}, {"price": 2}], "a.b": {"c": "dotted"}}`)
	tests := []struct {
		path, text string
		kind       Kind
	}{
		{"user.id", "42", Number},
		{"user.name", `Ann "A" é`, String},
		{"user.tags", `["x", "y"]`, Array},
		{"user.tags[1]", "y", String},
		{"user.ok", "true", Bool},
		{"user.none", "null", Null},
		{"items[1].price", "2", Number},
		{`"a.b".c`, "dotted", String},
		{"user.missing", "", Missing},
		{"items[5].price", "", Missing},
		{"id", "", Missing}, // only at the top level
	}
	for _, tt := range tests {
		v, k := MustParse(tt.path).Get(doc)
		if k != tt.kind {
			t.Errorf("%s: kind %s, want %s", tt.path, k, tt.kind)
			continue
		}
		if k == Missing {
			continue
		}
		text, err := AppendText(nil, v, k)
		if err != nil || string(text) != tt.text {
			t.Errorf("%s: text %q (%v), want %q", tt.path, text, err, tt.text)
		}
	}
	if v, k := MustParse("$").Get([]byte(` "top" `)); k != String || string(v) != "top" {
		t.Errorf("root of a string document: %q %s", v, k)
	}
	for _, bad := range []string{``, `not json`, `{"user": `, `{"user": {"id": }}`} {
		if v, k := MustParse("user.id").Get([]byte(bad)); k != Missing {
			t.Errorf("Get on %q = %q %s; want Missing", bad, v, k)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "tab\tnl\ncr\r\x01\x1f", "é世界", "bad\xffutf8", "\u2028"} {
		got := AppendString(nil, []byte(s))
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("AppendString(%q) = %s: not JSON: %v", s, got, err)
			continue
		}
		want := string([]rune(s)) // invalid UTF-8 becomes U+FFFD
		if back != want {
			t.Errorf("AppendString(%q) round-trips to %q", s, back)
		}
	}
	if _, err := AppendUnescaped(nil, []byte(`bad \x escape`)); err == nil {
		t.Error("AppendUnescaped accepted a malformed escape")
	}
}

func TestNum(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		out  string
		isFl bool
	}{
		{"42", true, "42", false},
		{"-7", true, "-7", false},
		{"1.5", true, "1.5", true},
		{"1e3", true, "1000", true},
		{"9223372036854775808", true, "9223372036854776000", true},
		{"1e-7", true, "1e-7", true},
		{"1e300", true, "1e+300", true},
		{"", false, "", false},
		{"NaN", false, "", false},
		{"Inf", false, "", false},
		{"-Infinity", false, "", false},
		{"1e999", false, "", false},
		{"12abc", false, "", false},
		{"abc", false, "", false},
	}
	for _, tt := range tests {
		n, ok := ParseNum([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("ParseNum(%q) ok=%v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if got := string(n.Append(nil)); got != tt.out || n.IsFloat != tt.isFl {
			t.Errorf("ParseNum(%q) = %s (float %v), want %s (float %v)", tt.in, got, n.IsFloat, tt.out, tt.isFl)
		}
	}
	if got := string(AppendFloat(nil, math.NaN())); got != "null" {
		t.Errorf("AppendFloat(NaN) = %s", got)
	}
}

func TestGetAllocs(t *testing.T) {
	doc := []byte(`{"user": {"id": 42, "name": "Ann \u00e9"}, "n": 3}`)
	p := MustParse("user.name")
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		v, k := p.Get(doc)
		buf, _ = AppendText(buf[:0], v, k)
		buf = AppendString(buf[:0], v)
		_, _ = ParseNum([]byte("3.25"))
	})
	if allocs != 0 {
		t.Errorf("%v allocations per lookup, want 0", allocs)
	}
}

func FuzzGet(f *testing.F) {
	f.Add([]byte(`{"a": {"b": [1, "x\u00e9"]}}`), "a.b[1]")
	f.Add([]byte(`[{"a": 1}]`), "[0].a")
	f.Add([]byte(`{"key":"7","start":0,"end":10,"sum":3}`), "sum")
	f.Add([]byte(`{"a":{"sum":1},"sum":[2,"]"]}`), "sum")
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		p, err := Parse(path)
		if err != nil {
			return
		}
		v, k := p.Get(doc)
		if wv, wk := p.get(doc); k != wk || string(v) != string(wv) {
			t.Fatalf("Get(%q, %q) = %q %v, jsonparser %q %v", doc, path, v, k, wv, wk)
		}
		_, _ = AppendText(nil, v, k)
		_ = AppendJSON(nil, v, k)
		_, _ = ParseNum(v)
		_ = AppendString(nil, doc)
	})
}

func BenchmarkGet(b *testing.B) {
	doc := []byte(`{"id": 1, "user": {"id": 42, "name": "Ann", "tags": ["x", "y"]}, "price": 12.5, "text": "some longer text here"}`)
	p := MustParse("user.name")
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, k := p.Get(doc); k != String {
			b.Fatal(k)
		}
	}
}

func TestNumCompare(t *testing.T) {
	big := Num{Int: 9007199254740993} // 2^53+1: a float64 cannot tell it from 2^53
	tests := []struct {
		a, b Num
		want int
	}{
		{Num{Int: 1}, Num{Int: 2}, -1},
		{Num{Int: 2}, Num{Int: 2}, 0},
		{big, Num{Int: 9007199254740992}, 1}, // exact for integers
		{Num{Float: 1.5, IsFloat: true}, Num{Int: 1}, 1},
		{Num{Int: 2}, Num{Float: 2, IsFloat: true}, 0},
		{Num{Float: -0.5, IsFloat: true}, Num{Float: 0.5, IsFloat: true}, -1},
	}
	for _, tt := range tests {
		if got := tt.a.Compare(tt.b); got != tt.want {
			t.Errorf("%+v.Compare(%+v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// The scan for a one-key path answers as jsonparser does, on records and
// on damaged copies of them.
func TestGetMemberMatchesJSONParser(t *testing.T) {
	docs := []string{
		`{"key":"7","start":0,"end":10,"sum":3}`,
		`{"a": {"sum": 1}, "sum": [2, "]", {"x": "}"}], "b": null}`,
		` { "sum" : -1.5e+3 , "sum": 2 } `,
		`{"x":"a\"b","sum":"q\u00e9"}`,
		`{"s\u0075m":1,"sum":2}`,
		`{"sum":true}`, `{"sum":falsey}`, `{"sum":nul}`, `{"sum":12x}`, `{"sum":}`,
		`{"a":1 "sum":2}`, `{"sum":1`, `{"sum"`, `{`, `[]`, `"sum"`, `{}`, `{"a":[1,{"b":"]}"}],"sum":{"c":[]}}`,
		`{"a":"\\","sum":1}`, `{"a":'x',"sum":1}`, `{"sum":-}`, `{"sum":01}`,
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, d := range append([]string(nil), docs...) {
		for range 2000 {
			b := []byte(d)
			switch op := rnd.IntN(3); {
			case op == 0 && len(b) > 0:
				b = append(b[:rnd.IntN(len(b))], b[rnd.IntN(len(b)):]...)
			case op == 1 && len(b) > 0:
				const chars = "{}[]\",:\\ a1-etnul"
				b[rnd.IntN(len(b))] = chars[rnd.IntN(len(chars))]
			default:
				i := rnd.IntN(len(b) + 1)
				const chars = "{}[]\",: 1"
				b = append(b[:i], append([]byte{chars[rnd.IntN(len(chars))]}, b[i:]...)...)
			}
			docs = append(docs, string(b))
		}
	}
	for _, key := range []string{"sum", "a", "x"} {
		p := MustParse(key)
		for _, d := range docs {
			v, k := p.Get([]byte(d))
			if wv, wk := p.get([]byte(d)); k != wk || string(v) != string(wv) {
				t.Fatalf("Get(%q, %q) = %q %v, jsonparser %q %v", d, key, v, k, wv, wk)
			}
		}
	}
}

// BenchmarkGetMember looks up the last field of a window result row, by
// the member scan and (baseline) through jsonparser.
func BenchmarkGetMember(b *testing.B) {
	doc := []byte(`{"key":"1000123","start":1700000000000,"end":1700000010000,"sum":42}`)
	p := MustParse("sum")
	for _, bc := range []struct {
		name string
		get  func([]byte) ([]byte, Kind)
	}{{"scan", p.Get}, {"jsonparser", p.get}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, k := bc.get(doc); k != Number {
					b.Fatal(k)
				}
			}
		})
	}
}
