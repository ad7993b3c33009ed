// Package plugins_test checks that the Go (plugins/go) and Rust (plugins/rust)
// builds of every reference plugin behave identically: both run in the real
// host (host/ through host/harness) on the same input — records, headers,
// batches of varied sizes, watermarks that fire timers, aggregate calls — and
// must produce byte-identical output records, error records, keyed state and
// timers. plugins/README.md is the specification both follow; the tests of
// each build check it, this file checks that the two agree.
//
// The modules are built with `make -C plugins go rust` on first use.
package plugins_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/harness"
)

var langs = []string{"go", "rust"}

var built struct {
	once sync.Once
	err  error
}

// modulePath builds every plugin once per test binary and returns the
// path of one build.
func modulePath(t testing.TB, lang, name string) string {
	t.Helper()
	built.once.Do(func() {
		if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
			return // the fuzzing coordinator built them; workers restart often
		}
		cmd := exec.Command("make", "--no-print-directory", "go", "rust")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("building the plugins (make -C plugins go rust): %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return filepath.Join("build", lang, name+".wasm")
}

var shared struct {
	once sync.Once
	rt   *host.Runtime
	err  error
}

func runtime(t testing.TB) *host.Runtime {
	t.Helper()
	shared.once.Do(func() {
		shared.rt, shared.err = host.NewRuntime(context.Background(), host.Config{
			CompilationCacheDir: filepath.Join(os.TempDir(), "freshet-plugins-conformance-cache"),
			Logger:              slog.New(slog.DiscardHandler), // guests log every failed aggregate call
		})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.rt
}

// operator names one function of a plugin and how the host runs it.
type operator struct {
	module, function string
	kind             abi.OperatorKind
	config           string
}

func (o operator) String() string {
	return fmt.Sprintf("%s/%s %s", o.module, o.function, o.config)
}

// open starts lang's build of o in a harness; records a function fails on
// go to the host's error side output, so that their messages are compared.
func (o operator) open(t testing.TB, lang string) (*harness.Harness, error) {
	t.Helper()
	opts := host.Options{Function: o.function, Kind: o.kind, Config: []byte(o.config), OnError: host.ErrorSideOutput}
	h, err := harness.NewWasm(context.Background(), runtime(t), modulePath(t, lang, o.module), opts, harness.Options{})
	if err != nil {
		t.Fatalf("%s: loading the %s build: %v", o, lang, err)
	}
	if err := h.Open(); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// render writes records in a canonical, comparable form.
func render(recs []api.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		var b strings.Builder
		fmt.Fprintf(&b, "key=%q value=%q ts=%d", r.Key, r.Value, r.Timestamp)
		for _, h := range r.Headers {
			fmt.Fprintf(&b, " header[%q]=%q", h.Key, h.Value)
		}
		out[i] = b.String()
	}
	return out
}

// result is everything observable about one run.
type result struct {
	output, errors []string
}

// compare fails t at the first difference between the Go and Rust results.
func compare(t testing.TB, what string, goRes, rustRes result) {
	t.Helper()
	for _, part := range []struct {
		name     string
		go_, rst []string
	}{{"output", goRes.output, rustRes.output}, {"error records", goRes.errors, rustRes.errors}} {
		n := min(len(part.go_), len(part.rst))
		for i := 0; i < n; i++ {
			if part.go_[i] != part.rst[i] {
				t.Fatalf("%s: %s record %d differs\n  go:   %s\n  rust: %s", what, part.name, i, part.go_[i], part.rst[i])
			}
		}
		if len(part.go_) != len(part.rst) {
			extra := append(part.go_[n:], part.rst[n:]...)
			t.Fatalf("%s: %s has %d records from go, %d from rust; first extra: %s",
				what, part.name, len(part.go_), len(part.rst), extra[0])
		}
	}
}

// runRecords feeds batches to lang's build of o.
func runRecords(t testing.TB, o operator, lang string, batches [][]api.Record) (result, error) {
	h, err := o.open(t, lang)
	if err != nil {
		return result{}, err
	}
	defer h.Close()
	for i, b := range batches {
		if err := h.ProcessRecords(b...); err != nil {
			t.Fatalf("%s (%s build): batch %d: %v", o, lang, i, err)
		}
	}
	return result{output: render(h.TakeOutput()), errors: render(h.SideOutput(host.ErrorTag))}, nil
}

// conform runs the same batches through both builds and compares.
func conform(t *testing.T, o operator, batches [][]api.Record) {
	t.Helper()
	var res [2]result
	var errs [2]error
	for i, lang := range langs {
		res[i], errs[i] = runRecords(t, o, lang, batches)
	}
	if (errs[0] == nil) != (errs[1] == nil) {
		t.Fatalf("%s: open: go %v, rust %v", o, errs[0], errs[1])
	}
	if errs[0] != nil {
		t.Fatalf("%s: open failed in both builds: %v", o, errs[0])
	}
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	compare(t, fmt.Sprintf("%s over %d records", o, n), res[0], res[1])
	if len(res[0].output)+len(res[0].errors) == 0 {
		t.Fatalf("%s: no output at all: the input does not exercise the function", o)
	}
}

// split cuts recs into batches of varied sizes (1 to max).
func split(rng *rand.Rand, recs []api.Record, max int) [][]api.Record {
	var out [][]api.Record
	for len(recs) > 0 {
		n := min(len(recs), 1+rng.IntN(max))
		out = append(out, recs[:n])
		recs = recs[n:]
	}
	return out
}

// records turns values into records with keys, timestamps and, on every
// third record, headers (a map keeps them; other kinds drop them).
func records(values [][]byte) []api.Record {
	recs := make([]api.Record, len(values))
	for i, v := range values {
		recs[i] = api.Record{Key: []byte("k" + strconv.Itoa(i%7)), Value: v, Timestamp: int64(1_000_000 + i)}
		if i%3 == 0 {
			recs[i].Headers = []api.Header{{Key: []byte("trace"), Value: []byte(strconv.Itoa(i))}, {Key: []byte("empty")}}
		}
		if i%11 == 0 {
			recs[i].Timestamp = api.NoTimestamp
		}
	}
	return recs
}

func strs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// mutate applies a few random edits drawn from alphabet to seed.
func mutate(rng *rand.Rand, seed []byte, alphabet string) []byte {
	b := bytes.Clone(seed)
	for range 1 + rng.IntN(3) {
		i := rng.IntN(len(b) + 1)
		c := alphabet[rng.IntN(len(alphabet))]
		switch rng.IntN(3) {
		case 0:
			if i < len(b) {
				b[i] = c
				continue
			}
			fallthrough
		case 1:
			b = append(b[:i], append([]byte{c}, b[i:]...)...)
		case 2:
			if i < len(b) {
				b = append(b[:i], b[i+1:]...)
			}
		}
	}
	return b
}

func TestTokenizerConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := strs("Hello, wörld! 42x", "", " ", "ÄÖÜ straße", "a-b_c d.e", "MiXeD CaSe 123abc",
		"tab\tnew\nline\r\nend", "\x00\x01\x7f\xff\xfe", "日本語 テキスト")
	alphabet := "abcXYZ019 ,.;-_\t\n\x00\x7f" + "é" + "\xff"
	for range 400 {
		n := rng.IntN(120)
		v := make([]byte, n)
		for j := range v {
			if rng.IntN(10) == 0 {
				v[j] = byte(rng.IntN(256))
			} else {
				v[j] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		values = append(values, v)
	}
	// One value whose words overflow the output buffer (both SDKs flush
	// mid-record) and one large input.
	values = append(values, bytes.Repeat([]byte("Word "), 70_000), bytes.Repeat([]byte("x"), 300_000))
	conform(t, operator{module: "tokenizer", function: "tokenize", kind: abi.KindFlatMap}, split(rng, records(values), 300))
}

// jsonDocs is a corpus of valid and invalid documents around the path
// user.id / n / a.
func jsonDocs(rng *rand.Rand) [][]byte {
	docs := strs(
		`{"user": {"id": "a\u00e9"}, "n": 1}`,
		` {"n" :  [1, {"x": null}] } `,
		`{"a": 1, "a": 2}`,
		`{"n": "\ud83d\ude00"}`,
		`{"n": "\ud800"}`, `{"n": "\udc00"}`, `{"n": "\ud800\u0041"}`,
		`{"n": 01}`, `{"n": -0}`, `{"n": 1.5e+10}`, `{"n": 1.}`, `{"n": .5}`, `{"n": -}`,
		"{\"n\": \"a\x01\"}", "{\"n\": \"a\x7fb\xff\"}",
		`{"n": "esc \" \\ \/ \b \f \n \r \t"}`,
		`{"n": 1,}`, `{"n": 1} x`, `{"n": 1}{}`, `[1]`, `"str"`, `null`, ``, ` `,
		`{"user": 5}`, `{"user": {"name": "x"}}`, `{"user": {"id": {"deep": [true, false]}}}`,
		`{"us\u0065r": {"\u0069d": 7}}`, `{"a": {"b": 1}, "a.b": 2}`, `{"a.b": 3}`,
		`{"x": {"y": {"z": "found"}}}`, "\t{\r\n\"n\"\t:\n2\r}\n",
		`{"n": true, "tail": [1, 2, {"x": [}]}`, `{"n": tru}`, `{"n": nul}`, `{"n": 1e}`,
		`{"n": "\u00"}`, `{"n": "\x"}`, `{"n": "abc`, `{"n" 1}`, `{n: 1}`,
	)
	deep := func(n int) []byte {
		return []byte(`{"n": 1, "deep": ` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`)
	}
	docs = append(docs, deep(511), deep(512), deep(513), []byte(strings.Repeat("[", 513)+strings.Repeat("]", 513)))
	seeds := docs[:6]
	alphabet := `{}[]":,\u0123456789abcdefDEtrnl.-+eE ` + "\t\n\x01\xff"
	for range 1500 {
		docs = append(docs, mutate(rng, seeds[rng.IntN(len(seeds))], alphabet))
	}
	return docs
}

func TestJSONExtractConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	docs := jsonDocs(rng)
	for _, field := range []string{"user.id", "n", "a", "a.b", `a\u002eb`, "x.y.z", "user"} {
		t.Run(field, func(t *testing.T) {
			o := operator{module: "json-extract", function: "extract", kind: abi.KindMap,
				config: `{"field": "` + field + `"}`}
			conform(t, o, split(rng, records(docs), 200))
		})
	}
}

func TestNexmarkConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	num := func() string {
		switch rng.IntN(8) {
		case 0:
			return strconv.FormatInt(rng.Int64(), 10)
		case 1:
			return strconv.FormatInt(-rng.Int64(), 10)
		case 2:
			return "-0"
		case 3:
			return "00" + strconv.Itoa(rng.IntN(1000))
		case 4:
			return strconv.Itoa(123 * rng.IntN(100))
		}
		return strconv.Itoa(rng.IntN(100_000) - 1000)
	}
	bids := strs("1007,2001,1000,1700000000000", "1107,1,1,1", "-123,1,1,1", "0,1,1,1",
		"1,2,9223372036854775807,5", "1,2,-9223372036854775808,5", "1,2,3", "1,2,3,4,5", "1,2,3,4,",
		"1,,3,4", "1, 2,3,4", "1,2,3,+4", "1,2,3,99999999999999999999", "", ",,,", "a,b,c,d")
	for range 2000 {
		f := []string{num(), num(), num(), num()}
		bid := strings.Join(f, ",")
		if rng.IntN(10) == 0 {
			bid = string(mutate(rng, []byte(bid), "0123456789,- +x"))
		}
		bids = append(bids, []byte(bid))
	}
	recs := records(bids)
	// Binary bids: four little-endian int64, and values of other lengths.
	var bins [][]byte
	for i := range 2000 {
		var b []byte
		for range 4 {
			n, _ := strconv.ParseInt(num(), 10, 64)
			b = binary.LittleEndian.AppendUint64(b, uint64(n))
		}
		switch i % 50 {
		case 1:
			b = b[:rng.IntN(len(b))]
		case 2:
			b = append(b, byte(i))
		}
		bins = append(bins, b)
	}
	binRecs := records(bins)
	for _, o := range []operator{
		{module: "nexmark", function: "q1", kind: abi.KindMap, config: `{"format": "binary"}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"format": "binary"}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"format": "binary", "modulus": 7}`},
	} {
		t.Run(o.function+" "+o.config, func(t *testing.T) { conform(t, o, split(rng, binRecs, 500)) })
	}
	for _, o := range []operator{
		{module: "nexmark", function: "q1", kind: abi.KindMap},
		{module: "nexmark", function: "q2", kind: abi.KindFilter},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"modulus": 7}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"modulus": 1, "unknown": [1]}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"modulus": null}`},
		{module: "nexmark", function: "q1", kind: abi.KindMap, config: `{"format": "csv"}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"format": null, "modulus": 3}`},
	} {
		t.Run(o.function+" "+o.config, func(t *testing.T) { conform(t, o, split(rng, recs, 500)) })
	}
}

// TestOpenFailuresConform: configurations the README rejects fail to open
// in both builds.
func TestOpenFailuresConform(t *testing.T) {
	for _, o := range []operator{
		{module: "json-extract", function: "extract", kind: abi.KindMap},
		{module: "json-extract", function: "extract", kind: abi.KindMap, config: `{"field": ""}`},
		{module: "json-extract", function: "extract", kind: abi.KindMap, config: `{"field": 1}`},
		{module: "json-extract", function: "extract", kind: abi.KindMap, config: `{"field": null}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"modulus": 0}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"modulus": -3}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"modulus": 2.5}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"modulus": 1e2}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"modulus": true}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"modulus": 99999999999999999999}`},
		{module: "nexmark", function: "q1", kind: abi.KindMap, config: `{"format": "xml"}`},
		{module: "nexmark", function: "q1", kind: abi.KindMap, config: `{"format": 1}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"format": "Binary"}`},
		{module: "nexmark", function: "q2", kind: abi.KindFilter, config: `{"format": ["binary"]}`},
	} {
		for _, lang := range langs {
			h, err := o.open(t, lang)
			if err == nil {
				h.Close()
				t.Errorf("%s (%s build): open succeeded, want invalid_argument", o, lang)
				continue
			}
			if !errors.Is(err, host.ErrUserFunction) && !errors.Is(err, host.ErrABI) || !strings.Contains(err.Error(), "invalid_argument") {
				t.Errorf("%s (%s build): open: %v, want an invalid_argument failure", o, lang, err)
			}
		}
	}
}

// fraudStep is one step of a keyed scenario: a batch or a watermark.
type fraudStep struct {
	batch     []api.Record
	watermark int64
}

func fraudScenario(rng *rand.Rand) []fraudStep {
	amount := func() string {
		switch rng.IntN(10) {
		case 0, 1, 2:
			return strconv.Itoa(rng.IntN(100)) // small
		case 3, 4, 5:
			return strconv.Itoa(50_001 + rng.IntN(100_000)) // large
		case 6:
			return []string{"x", "", "12.5", "+5", "-5", "-0", "50000", "99", "100", "00042"}[rng.IntN(10)]
		}
		return strconv.Itoa(100 + rng.IntN(49_900))
	}
	rec := func(acct, amount string, ts int64) api.Record {
		return api.Record{Key: []byte(acct), Value: []byte(amount), Timestamp: ts}
	}
	// The README's boundaries first: exactly a minute, exactly 50000, 100.
	steps := []fraudStep{
		{batch: []api.Record{rec("acct-0", "50", 0), rec("acct-0", "50001", 60_000)}},
		{batch: []api.Record{rec("acct-1", "99", 0), rec("acct-1", "50001", 59_999)}},
		{batch: []api.Record{rec("acct-2", "99", 0), rec("acct-2", "50000", 1)}},
		{batch: []api.Record{rec("acct-3", "100", 0), rec("acct-3", "60000", 1)}},
		{batch: []api.Record{rec("acct-4", "1", 0), rec("acct-4", "2", 30_000), rec("acct-4", "70000", 80_000)}},
		{batch: []api.Record{rec("acct-5", "1", 10)}},
		{watermark: 60_009},
		{watermark: 60_010},
		{batch: []api.Record{rec("acct-5", "70000", 11)}},
	}
	ts, wm := int64(100_000), int64(100_000)
	for range 150 {
		if rng.IntN(4) == 0 {
			wm += 5_000 * int64(rng.IntN(18))
			steps = append(steps, fraudStep{watermark: wm})
			continue
		}
		n := 1 + rng.IntN(20)
		b := make([]api.Record, n)
		for j := range b {
			// Multiples of 5 s, so that gaps of exactly a minute are common.
			ts += 5_000 * int64(rng.IntN(4))
			at := ts
			if rng.IntN(5) == 0 {
				at = ts - 5_000*int64(rng.IntN(14)) // some records run behind
			}
			b[j] = api.Record{Key: []byte("acct-" + strconv.Itoa(rng.IntN(6))), Value: []byte(amount()), Timestamp: at}
		}
		steps = append(steps, fraudStep{batch: b})
	}
	return append(steps, fraudStep{watermark: api.MaxWatermark})
}

func TestFraudConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	steps := fraudScenario(rng)
	o := operator{module: "fraud", function: "fraud", kind: abi.KindProcess}
	var hs [2]*harness.Harness
	for i, lang := range langs {
		h, err := o.open(t, lang)
		if err != nil {
			t.Fatalf("%s (%s build): open: %v", o, lang, err)
		}
		defer h.Close()
		hs[i] = h
	}
	alerts, errs := 0, 0
	for i, s := range steps {
		var res [2]result
		var timers, state [2][]string
		for j, h := range hs {
			var err error
			what := "batch"
			if s.batch != nil {
				err = h.ProcessRecords(s.batch...)
			} else {
				what = "watermark " + strconv.FormatInt(s.watermark, 10)
				err = h.ProcessWatermark(s.watermark)
			}
			if err != nil {
				t.Fatalf("step %d (%s, %s build): %v", i, what, langs[j], err)
			}
			res[j] = result{output: render(h.TakeOutput()), errors: render(h.SideOutput(host.ErrorTag))}
			for _, tm := range h.Timers() {
				timers[j] = append(timers[j], fmt.Sprintf("%s@%d/%d", tm.Key, tm.Timestamp, tm.Domain))
			}
			for a := range 6 {
				key := []byte("acct-" + strconv.Itoa(a))
				for _, name := range []string{"flag", "timer"} {
					v, ok, err := h.ValueState(name, key)
					if err != nil {
						t.Fatal(err)
					}
					state[j] = append(state[j], fmt.Sprintf("%s %s=%x/%v", key, name, v, ok))
				}
			}
		}
		compare(t, fmt.Sprintf("step %d", i), res[0], res[1])
		compare(t, fmt.Sprintf("step %d timers", i), result{output: timers[0]}, result{output: timers[1]})
		compare(t, fmt.Sprintf("step %d state", i), result{output: state[0]}, result{output: state[1]})
		alerts += len(res[0].output)
		errs += len(res[0].errors)
	}
	if alerts == 0 || errs == 0 {
		t.Fatalf("the scenario raised %d alerts and %d errors: it does not exercise both paths", alerts, errs)
	}
}

func TestWindowStatsConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var aggs [2]*host.AggregateFunction
	for i, lang := range langs {
		m, err := runtime(t).LoadFile(context.Background(), modulePath(t, lang, "window-stats"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := host.NewAggregateFunction(context.Background(), m, host.Options{Function: "stats"})
		if err != nil {
			t.Fatalf("%s build: %v", lang, err)
		}
		defer a.Close()
		aggs[i] = a
	}
	value := func() []byte {
		switch rng.IntN(12) {
		case 0:
			return []byte(strconv.FormatInt(rng.Int64(), 10))
		case 1:
			return []byte(strconv.FormatInt(-rng.Int64(), 10))
		case 2:
			return []byte([]string{"9223372036854775807", "-9223372036854775808", "-0", "007", "x", "", "1.5", "+1", "99999999999999999999"}[rng.IntN(9)])
		}
		return []byte(strconv.Itoa(rng.IntN(2000) - 1000))
	}
	// call runs one aggregate method on both builds and compares.
	call := func(what string, f func(a *host.AggregateFunction) ([]byte, error)) []byte {
		t.Helper()
		var out [2][]byte
		var errs [2]error
		for i, a := range aggs {
			out[i], errs[i] = f(a)
		}
		switch {
		case (errs[0] == nil) != (errs[1] == nil):
			t.Fatalf("%s: go error %v, rust error %v", what, errs[0], errs[1])
		case errs[0] != nil:
			for i, err := range errs {
				if !errors.Is(err, host.ErrUserFunction) {
					t.Fatalf("%s: %s build failed with %v, want a user function failure", what, langs[i], err)
				}
			}
			return nil
		case !bytes.Equal(out[0], out[1]):
			t.Fatalf("%s: go %q, rust %q", what, out[0], out[1])
		}
		return out[0]
	}
	var accs [][]byte
	for round := range 300 {
		acc := call("create", func(a *host.AggregateFunction) ([]byte, error) { return a.CreateE(nil) })
		for range rng.IntN(6) {
			v := value()
			next := call(fmt.Sprintf("round %d add %q", round, v), func(a *host.AggregateFunction) ([]byte, error) { return a.AddE(acc, v, nil) })
			if next != nil {
				acc = next
			}
		}
		if len(accs) > 0 && rng.IntN(2) == 0 {
			other := accs[rng.IntN(len(accs))]
			acc = call(fmt.Sprintf("round %d merge", round), func(a *host.AggregateFunction) ([]byte, error) { return a.MergeE(acc, other, nil) })
		}
		accs = append(accs, acc)
		call(fmt.Sprintf("round %d result of %x", round, acc), func(a *host.AggregateFunction) ([]byte, error) { return a.ResultE(acc, nil) })
	}
	// Malformed accumulators fail both builds.
	bad := [][]byte{nil, make([]byte, 23), make([]byte, 25)}
	for _, b := range bad {
		call(fmt.Sprintf("add to %d-byte accumulator", len(b)), func(a *host.AggregateFunction) ([]byte, error) { return a.AddE(b, []byte("1"), nil) })
		call(fmt.Sprintf("merge %d-byte accumulator", len(b)), func(a *host.AggregateFunction) ([]byte, error) { return a.MergeE(accs[0], b, nil) })
		call(fmt.Sprintf("result of %d-byte accumulator", len(b)), func(a *host.AggregateFunction) ([]byte, error) { return a.ResultE(b, nil) })
	}
}

// fuzzPair keeps one open harness per build for a stateless operator, so
// that fuzzing feeds one record at a time without reloading modules.
type fuzzPair struct {
	op operator
	hs [2]*harness.Harness
}

func newFuzzPair(f *testing.F, o operator) *fuzzPair {
	p := &fuzzPair{op: o}
	for i, lang := range langs {
		h, err := o.open(f, lang)
		if err != nil {
			f.Fatalf("%s (%s build): open: %v", o, lang, err)
		}
		f.Cleanup(func() { h.Close() })
		p.hs[i] = h
	}
	return p
}

func (p *fuzzPair) check(t *testing.T, key, value []byte) {
	var res [2]result
	for i, h := range p.hs {
		before := len(h.SideOutput(host.ErrorTag))
		if err := h.ProcessElement(key, value, 42); err != nil {
			t.Fatalf("%s (%s build): %v", p.op, langs[i], err)
		}
		res[i] = result{output: render(h.TakeOutput()), errors: render(h.SideOutput(host.ErrorTag)[before:])}
	}
	compare(t, fmt.Sprintf("%s on %q", p.op, value), res[0], res[1])
}

func FuzzJSONExtractConformance(f *testing.F) {
	for _, d := range jsonDocs(rand.New(rand.NewPCG(11, 12)))[:60] {
		f.Add(d)
	}
	p := newFuzzPair(f, operator{module: "json-extract", function: "extract", kind: abi.KindMap, config: `{"field": "user.id"}`})
	f.Fuzz(func(t *testing.T, doc []byte) { p.check(t, []byte("k"), doc) })
}

func FuzzTokenizerConformance(f *testing.F) {
	for _, s := range []string{"Hello, wörld! 42x", "", "\xff\x00A", "MiXeD 123"} {
		f.Add([]byte(s))
	}
	p := newFuzzPair(f, operator{module: "tokenizer", function: "tokenize", kind: abi.KindFlatMap})
	f.Fuzz(func(t *testing.T, v []byte) { p.check(t, nil, v) })
}

func FuzzNexmarkQ1Conformance(f *testing.F) {
	for _, s := range []string{"1007,2001,1000,1700000000000", "-0,007,-1999,5", "1,2,3", "1,2,9223372036854775807,5"} {
		f.Add([]byte(s))
	}
	p := newFuzzPair(f, operator{module: "nexmark", function: "q1", kind: abi.KindMap})
	f.Fuzz(func(t *testing.T, v []byte) { p.check(t, []byte("bid"), v) })
}
