package plugins_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/harness"
)

// Benchmarks of the same map and flat-map functions three ways, each one
// batch of benchBatch records per iteration into a reused output batch:
//
//	native: a Go api.Operator doing the work directly (the baseline);
//	go:     the Go SDK build, through the host's operator adapter;
//	rust:   the Rust SDK build, through the same adapter.
//
// go test ./plugins -run '^$' -bench Conformance -benchtime 2s

const benchBatch = 1024

func bidBatch() *api.Batch {
	b := api.NewBatch(benchBatch)
	for i := range benchBatch {
		v := fmt.Sprintf("%d,%d,%d,%d", 1000+i%5000, 2000+i%977, 100+i*37%90_000, 1_700_000_000_000+int64(i)*13)
		b.Append([]byte("bid"), []byte(v), int64(i))
	}
	return b
}

func textBatch() *api.Batch {
	b := api.NewBatch(benchBatch)
	for i := range benchBatch {
		b.Append(nil, []byte(fmt.Sprintf("The quick Brown fox %d jumps over the lazy DOG, again and again", i)), int64(i))
	}
	return b
}

func eventBatch() *api.Batch {
	b := api.NewBatch(benchBatch)
	for i := range benchBatch {
		v := fmt.Sprintf(`{"user": {"id": "u%d", "name": "n\u00e9%d"}, "amount": %d, "tags": ["a", "b"]}`, i, i, i*7)
		b.Append([]byte("k"), []byte(v), int64(i))
	}
	return b
}

// nativeQ1 is nexmark q1 as a native Go operator (allocation-free).
type nativeQ1 struct {
	api.BaseOperator
	buf []byte
	rec api.Record
}

var errNativeBid = errors.New("invalid bid")

func (q *nativeQ1) ProcessBatch(in *api.Batch, out api.Output) error {
	var f [4]int64
	for i := range in.Records {
		r := &in.Records[i]
		v := r.Value
		for j := range f {
			end := bytes.IndexByte(v, ',')
			if j == 3 {
				end = len(v)
			} else if end < 0 {
				return errNativeBid
			}
			n, ok := parseDecimal(v[:end])
			if !ok {
				return errNativeBid
			}
			f[j] = n
			if j < 3 {
				v = v[end+1:]
			}
		}
		price := f[2]/1000*908 + (f[2]%1000)*908/1000
		b := strconv.AppendInt(q.buf[:0], f[0], 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, f[1], 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, price, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, f[3], 10)
		q.buf = b
		q.rec = api.Record{Key: r.Key, Value: b, Timestamp: r.Timestamp, Headers: r.Headers}
		out.Emit(&q.rec)
	}
	return nil
}

// parseDecimal reads an optional '-' and 1 to 19 digits that fit an int64.
func parseDecimal(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var m uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		m = m*10 + uint64(c-'0')
	}
	switch {
	case neg && m <= 1<<63:
		return int64(-m), true
	case !neg && m < 1<<63:
		return int64(m), true
	}
	return 0, false
}

// nativeTokenize is the tokenizer as a native Go operator.
type nativeTokenize struct {
	api.BaseOperator
	word []byte
	rec  api.Record
}

func (t *nativeTokenize) ProcessBatch(in *api.Batch, out api.Output) error {
	isWord := func(b byte) bool {
		return b >= 0x80 || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
	}
	for i := range in.Records {
		r := &in.Records[i]
		v := r.Value
		for j := 0; j < len(v); {
			if !isWord(v[j]) {
				j++
				continue
			}
			t.word = t.word[:0]
			for ; j < len(v) && isWord(v[j]); j++ {
				c := v[j]
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				t.word = append(t.word, c)
			}
			t.rec = api.Record{Key: t.word, Value: t.word, Timestamp: r.Timestamp}
			out.Emit(&t.rec)
		}
	}
	return nil
}

type benchCase struct {
	name   string
	op     operator
	native func() api.Operator
	input  func() *api.Batch
}

var benchCases = []benchCase{
	{"q1-map", operator{module: "nexmark", function: "q1", kind: abi.KindMap}, func() api.Operator { return &nativeQ1{} }, bidBatch},
	{"tokenize-flatmap", operator{module: "tokenizer", function: "tokenize", kind: abi.KindFlatMap}, func() api.Operator { return &nativeTokenize{} }, textBatch},
	{"json-extract-map", operator{module: "json-extract", function: "extract", kind: abi.KindMap, config: `{"field": "user.name"}`}, nil, eventBatch},
}

func BenchmarkConformance(b *testing.B) {
	for _, c := range benchCases {
		in := c.input()
		for _, impl := range []string{"native", "go", "rust"} {
			if impl == "native" && c.native == nil {
				continue
			}
			b.Run(c.name+"/"+impl, func(b *testing.B) {
				var op api.Operator
				var h *harness.Harness
				var err error
				if impl == "native" {
					op = c.native()
					h, err = harness.New(op, harness.Options{})
					if err == nil {
						err = h.Open()
					}
				} else {
					opts := host.Options{Function: c.op.function, Kind: c.op.kind, Config: []byte(c.op.config)}
					h, err = harness.NewWasm(context.Background(), runtime(b), modulePath(b, impl, c.op.module), opts, harness.Options{})
					if err == nil {
						err = h.Open()
						op = h.Operator()
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				defer h.Close()
				out := api.NewBatch(4 * benchBatch)
				// Warm up (instance buffers, output arena) outside the timer.
				if err := op.ProcessBatch(in, out); err != nil {
					b.Fatal(err)
				}
				perBatch := out.Len()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					out.Reset()
					if err := op.ProcessBatch(in, out); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if out.Len() != perBatch {
					b.Fatalf("%d outputs per batch, then %d", perBatch, out.Len())
				}
				recs := float64(b.N) * benchBatch
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/recs, "ns/record")
				b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
