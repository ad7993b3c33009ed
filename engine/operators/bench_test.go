package operators

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/operators/jsonpath"
)

const sentence = "The quick brown fox jumps over the lazy dog; Über naïve café, 42 times!"

var event = `{"id": 1234, "user": {"id": "u-42", "name": "Ann", "country": "DE"}, "price": 12.5, "tags": ["a", "b"], "text": "some longer free text here"}`

func repeat(v string, n int) *api.Batch {
	b := api.NewBatch(n)
	for range n {
		b.Append([]byte("key"), []byte(v), 1)
	}
	return b
}

// TestAllocs checks that the stateless operators and the field key selector
// allocate nothing per record once their buffers have grown.
func TestAllocs(t *testing.T) {
	tests := []struct{ typ, params, value string }{
		{"tokenize", "", sentence},
		{"uppercase", "", sentence},
		{"identity", "", sentence},
		{"filter", "field: price\nop: gt\nvalue: 10", event},
		{"filter", "field: user.country\nop: ==\nvalue: DE", event},
		{"json-extract", "path: user.name", event},
		{"json-extract", "fields: [id, user.name, price]", event},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.params, func(t *testing.T) {
			op := mustBuild(t, tt.typ, tt.params)
			if err := op.Open(newContext(t, false, 0, 1, 128)); err != nil {
				t.Fatal(err)
			}
			in, out := repeat(tt.value, 64), api.NewBatch(1024)
			allocs := testing.AllocsPerRun(100, func() {
				out.Reset()
				if err := op.ProcessBatch(in, out); err != nil {
					t.Fatal(err)
				}
			})
			if out.Len() == 0 {
				t.Fatal("no output")
			}
			if allocs != 0 {
				t.Errorf("%v allocations per batch of 64 records, want 0", allocs)
			}
		})
	}
	t.Run("key selector", func(t *testing.T) {
		f, _ := KeySelector(&jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "user.id"})
		r := api.Record{Value: []byte(event)}
		buf := make([]byte, 0, 64)
		if allocs := testing.AllocsPerRun(1000, func() { buf, _ = f(&r, buf[:0]) }); allocs != 0 {
			t.Errorf("%v allocations per key, want 0", allocs)
		}
	})
	t.Run("count on known keys", func(t *testing.T) {
		op := mustBuild(t, "count", "")
		if err := op.Open(newContext(t, true, 0, 1, 128)); err != nil {
			t.Fatal(err)
		}
		in, out := keyed(t, byValue, "a", "b", "c", "a"), api.NewBatch(8)
		if err := op.ProcessBatch(in, out); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			out.Reset()
			_ = op.ProcessBatch(in, out)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per batch of known keys, want 0", allocs)
		}
	})
}

func benchOp(b *testing.B, typ, params, value string) {
	op := mustBuild(b, typ, params)
	keyedOp, _ := build(b, typ, params)
	ctx := newContext(b, keyedOp.Keyed, 0, 1, 128)
	if err := op.Open(ctx); err != nil {
		b.Fatal(err)
	}
	in, out := repeat(value, 256), api.NewBatch(4096)
	if keyedOp.Keyed {
		in = keyed(b, &jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "user.id"}, batchValues(in)...)
	}
	b.ReportAllocs()
	b.SetBytes(int64(256 * len(value)))
	for b.Loop() {
		out.Reset()
		if err := op.ProcessBatch(in, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/record")
}

func batchValues(b *api.Batch) []string {
	out := make([]string, b.Len())
	for i, r := range b.Records {
		out[i] = string(r.Value)
	}
	return out
}

func BenchmarkTokenize(b *testing.B) { benchOp(b, "tokenize", "", sentence) }

// BenchmarkTokenizeBaseline is the obvious hand-written version: lower-case
// and split on non-letters with the standard library, allocating.
func BenchmarkTokenizeBaseline(b *testing.B) {
	v := []byte(sentence)
	out := api.NewBatch(4096)
	b.ReportAllocs()
	b.SetBytes(int64(256 * len(v)))
	for b.Loop() {
		out.Reset()
		for range 256 {
			for _, w := range bytes.FieldsFunc(bytes.ToLower(v), func(r rune) bool { return !isWordRune(r) }) {
				out.Append(nil, w, 1)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/record")
}

func BenchmarkUppercase(b *testing.B) { benchOp(b, "uppercase", "", sentence) }
func BenchmarkIdentity(b *testing.B)  { benchOp(b, "identity", "", sentence) }
func BenchmarkFilter(b *testing.B) {
	benchOp(b, "filter", "field: user.country\nop: ==\nvalue: DE", event)
}
func BenchmarkJSONExtract(b *testing.B) { benchOp(b, "json-extract", "path: user.name", event) }
func BenchmarkJSONProject(b *testing.B) {
	benchOp(b, "json-extract", "fields: [id, user.name, price]", event)
}

// BenchmarkJSONExtractBaseline decodes with encoding/json into a struct and
// emits the name: what a hand-written operator would do.
func BenchmarkJSONExtractBaseline(b *testing.B) {
	in, out := repeat(event, 256), api.NewBatch(4096)
	var doc struct {
		User struct {
			Name string `json:"name"`
		} `json:"user"`
	}
	b.ReportAllocs()
	b.SetBytes(int64(256 * len(event)))
	for b.Loop() {
		out.Reset()
		for i := range in.Records {
			if err := json.Unmarshal(in.Records[i].Value, &doc); err != nil {
				b.Fatal(err)
			}
			out.Append(nil, []byte(doc.User.Name), 1)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/record")
}

func BenchmarkKeySelectorField(b *testing.B) {
	f, _ := KeySelector(&jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "user.id"})
	r := api.Record{Value: []byte(event)}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = f(&r, buf[:0])
	}
}

func BenchmarkCount(b *testing.B) { benchOp(b, "count", "", event) }
func BenchmarkSum(b *testing.B)   { benchOp(b, "sum", "field: price", event) }
func BenchmarkCountFinal1000Keys(b *testing.B) {
	op := mustBuild(b, "count", "emit: final")
	if err := op.Open(newContext(b, true, 0, 1, 128)); err != nil {
		b.Fatal(err)
	}
	vals := make([]string, 256)
	for i := range vals {
		vals[i] = fmt.Sprintf("k%d", i*7%1000)
	}
	in, out := keyed(b, byValue, vals...), api.NewBatch(16)
	b.ReportAllocs()
	for b.Loop() {
		if err := op.ProcessBatch(in, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/record")
}

// BenchmarkCountBaseline counts into a Go map and formats "key,count" (same
// keyed input as BenchmarkCount): the floor for a keyed count without a
// state backend.
func BenchmarkCountBaseline(b *testing.B) {
	in := keyed(b, &jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "user.id"}, batchValues(repeat(event, 256))...)
	out := api.NewBatch(4096)
	counts := map[string]int64{}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		for i := range in.Records {
			key := in.Records[i].Key
			counts[string(key)]++
			buf = append(append(buf[:0], key...), ',')
			buf = jsonpath.Num{Int: counts[string(key)]}.Append(buf)
			out.Append(key, buf, 1)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/record")
}
