package windows_test

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// Benchmarks. Each reports records/s; run with -benchtime to get stable
// figures, e.g.
//
//	go test ./engine/windows -run XXX -bench . -benchtime 3000000x
//
// The data is Nexmark bids (engine/connectors/nexmark) as JSON, pre-keyed,
// at an event-time rate of 100K events/s (unless the benchmark says
// otherwise), cycled with shifted timestamps;
// the watermark follows every batch, so windows fire as the run goes (pick
// -benchtime so that the run covers several windows: 10M records are about
// 110 s of event time).

// bids is a pre-generated stream of bid records in batches of 256.
type bids struct {
	batches []*api.Batch
	span    int64 // event time covered, for shifting the next cycle
}

var bidCache = map[string]*bids{}

// nexmarkBids returns about n bids keyed by key ("auction" or "bidder") at
// rate events per second of event time.
func nexmarkBids(b *testing.B, n int, key string, rate float64) *bids {
	id := key + strconv.Itoa(n) + "@" + strconv.FormatFloat(rate, 'g', -1, 64)
	if d := bidCache[id]; d != nil {
		return d
	}
	cfg := nexmark.DefaultConfig()
	cfg.EventsPerSecond = rate
	cfg.Events = int64(n) * 50 / 46
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	d := &bids{}
	var ev nexmark.Event
	var buf, k []byte
	cur := api.NewBatch(256)
	first, last := int64(-1), int64(0)
	for g.Next(&ev) {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		buf = nexmark.AppendJSON(buf[:0], &ev)
		if key == "auction" {
			k = strconv.AppendInt(k[:0], ev.Bid.Auction, 10)
		} else {
			k = strconv.AppendInt(k[:0], ev.Bid.Bidder, 10)
		}
		cur.Append(k, buf, ev.Bid.DateTime)
		if first < 0 {
			first = ev.Bid.DateTime
		}
		last = ev.Bid.DateTime
		if cur.Len() == 256 {
			d.batches = append(d.batches, cur)
			cur = api.NewBatch(256)
		}
	}
	d.span = last - first + 1
	bidCache[id] = d
	return d
}

// feed runs b.N records of d through process, shifting timestamps by the
// span on each cycle, and advancing the watermark after every batch.
func (d *bids) feed(b *testing.B, process func(in *api.Batch) error, watermark func(wm int64) error) {
	b.Helper()
	done := 0
	for cycle := 0; done < b.N; cycle++ {
		if cycle > 0 {
			for _, in := range d.batches {
				for i := range in.Records {
					in.Records[i].Timestamp += d.span
				}
			}
		}
		for _, in := range d.batches {
			if err := process(in); err != nil {
				b.Fatal(err)
			}
			if err := watermark(in.Records[in.Len()-1].Timestamp - 1); err != nil {
				b.Fatal(err)
			}
			done += in.Len()
			if done >= b.N {
				break
			}
		}
	}
}

var price = jsonpath.MustParse("price")

// contender is one side of a paired benchmark: it processes a batch and
// takes a watermark.
type contender struct {
	name      string
	process   func(in *api.Batch) error
	watermark func(wm int64) error
	results   func() int64
	elapsed   time.Duration
}

// windowContender runs a window operator in a harness with heap state.
func windowContender(b *testing.B, name string, cfg windows.Config) *contender {
	return windowContenderOn(b, name, cfg, nil)
}

// windowContenderOn runs a window operator in a harness with the state
// backend newState makes (nil: heap).
func windowContenderOn(b *testing.B, name string, cfg windows.Config, newState func(state.Options) (state.Backend, error)) *contender {
	op, err := windows.NewOperator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	h, err := windowstest.New(op, windowstest.Options{Keyed: true, DiscardOutput: true, State: newState})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	return &contender{name: name, process: h.ProcessBatch, watermark: h.Watermark, results: h.Emitted}
}

// rocksdbState makes RocksDB backends in the benchmark's temporary
// directory.
func rocksdbState(b *testing.B) func(state.Options) (state.Backend, error) {
	res, err := rocksdb.NewSharedResources(rocksdb.Defaults())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { res.Close() })
	return func(opts state.Options) (state.Backend, error) {
		opts.Dir = b.TempDir()
		return rocksdb.New(opts, res)
	}
}

// runPaired feeds the same batches to every contender in turn, batch by
// batch, timing each: they share the machine's load, so their ratio is
// meaningful on a busy machine. It reports records/s of each and the
// ratio of each to the first (the baseline).
func runPaired(b *testing.B, d *bids, cs ...*contender) {
	b.ReportAllocs()
	b.ResetTimer()
	for _, c := range cs {
		c.elapsed = 0
	}
	process := func(in *api.Batch) error {
		for _, c := range cs {
			start := time.Now()
			if err := c.process(in); err != nil {
				return err
			}
			c.elapsed += time.Since(start)
		}
		return nil
	}
	watermark := func(wm int64) error {
		for _, c := range cs {
			start := time.Now()
			if err := c.watermark(wm); err != nil {
				return err
			}
			c.elapsed += time.Since(start)
		}
		return nil
	}
	d.feed(b, process, watermark)
	for _, c := range cs {
		b.ReportMetric(float64(c.elapsed.Nanoseconds())/float64(b.N), c.name+"-ns/record")
		b.ReportMetric(float64(c.results()), c.name+"-results")
	}
	for _, c := range cs[1:] {
		b.ReportMetric(float64(c.elapsed)/float64(cs[0].elapsed), c.name+"/"+cs[0].name)
	}
}

// BenchmarkNexmarkTumblingMax: the highest bid per auction in tumbling 10 s
// windows; the window operator with heap state against a hand-written loop
// computing the same (one map per open window, fired by the watermark),
// fed the same batches in turn.
func BenchmarkNexmarkTumblingMax(b *testing.B) {
	d := nexmarkBids(b, 1_000_000, "auction", 100_000)
	op := windowContender(b, "operator", windows.Config{Assigner: windows.Tumbling(10 * time.Second),
		Aggregate: windows.Numeric(windows.MaxAgg), Input: windows.NumberField(price)})
	runPaired(b, d, maxLoop(), op)
}

// maxLoop is the hand-written baseline of BenchmarkNexmarkTumblingMax.
func maxLoop() *contender {
	const size = 10_000
	open := map[int64]map[string]int64{}
	out := api.NewBatch(256)
	var emitted int64
	var val []byte
	return &contender{
		name: "loop",
		process: func(in *api.Batch) error {
			for i := range in.Records {
				r := &in.Records[i]
				v, k := price.Get(r.Value)
				n, ok := jsonpath.ParseNum(v)
				if k != jsonpath.Number || !ok {
					continue
				}
				ws := r.Timestamp - r.Timestamp%size
				m := open[ws]
				if m == nil {
					m = map[string]int64{}
					open[ws] = m
				}
				if old, ok := m[string(r.Key)]; !ok || n.Int > old {
					m[string(r.Key)] = n.Int
				}
			}
			return nil
		},
		watermark: func(wm int64) error {
			for ws, m := range open {
				if ws+size-1 > wm {
					continue
				}
				for key, mx := range m {
					val = strconv.AppendInt(val[:0], mx, 10)
					out.Append([]byte(key), val, ws+size-1)
					emitted++
					if out.Len() == 256 {
						out.Reset()
					}
				}
				delete(open, ws)
			}
			return nil
		},
		results: func() int64 { return emitted },
	}
}

// BenchmarkSlidingVsTumbling: count per bidder in sliding 60 s windows every
// 1 s (60 windows per record, kept as 1 s panes) against tumbling 60 s, fed
// the same batches in turn, at two event-time rates: every active bidder
// gets a result per second of event time, so the lower the rate, the more
// firings per record.
func BenchmarkSlidingVsTumbling(b *testing.B) {
	count := windows.Numeric(windows.CountAgg)
	for _, rate := range []float64{100_000, 1_000_000} {
		b.Run("rate="+strconv.FormatFloat(rate, 'g', -1, 64), func(b *testing.B) {
			d := nexmarkBids(b, 1_000_000, "bidder", rate)
			runPaired(b, d,
				windowContender(b, "tumbling", windows.Config{Assigner: windows.Tumbling(time.Minute), Aggregate: count, Input: windows.NoInput}),
				windowContender(b, "sliding", windows.Config{Assigner: windows.Sliding(time.Minute, time.Second), Aggregate: count, Input: windows.NoInput}))
		})
	}
}

// BenchmarkSlidingFewPanes: bids per auction in sliding 10 s windows every
// 2 s (Nexmark q5's windows, five panes), with heap and RocksDB state: a
// key's panes in one value with one timer per key (the layout of windows of
// few panes) against a value per pane and a timer per window (the layout
// of many panes), fed the same batches in turn; the run ends with the
// input (MaxWatermark), so every window fires.
func BenchmarkSlidingFewPanes(b *testing.B) {
	cfg := windows.Config{Assigner: windows.Sliding(10*time.Second, 2*time.Second),
		Aggregate: windows.Numeric(windows.CountAgg), Input: windows.NoInput}
	for _, st := range []string{"heap", "rocksdb"} {
		b.Run("state="+st, func(b *testing.B) {
			d := nexmarkBids(b, 1_000_000, "auction", 100_000)
			var newState func(state.Options) (state.Backend, error)
			if st == "rocksdb" {
				newState = rocksdbState(b)
			}
			cs := []*contender{
				windowContenderOn(b, "per-pane", windows.PerPane(cfg), newState),
				windowContenderOn(b, "pane-set", cfg, newState),
			}
			runPaired(b, d, cs...)
			for _, c := range cs {
				start := time.Now()
				if err := c.watermark(api.MaxWatermark); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), c.name+"-end-ns/record")
			}
		})
	}
}

// BenchmarkSession100KKeys: sessions (gap 5 min) of 100K keys that stay
// active, each record extending its key's session; reports throughput and
// heap bytes per key.
func BenchmarkSession100KKeys(b *testing.B) {
	const keys = 100_000
	op, err := windows.NewOperator(windows.Config{Assigner: windows.Session(5 * time.Minute),
		Aggregate: windows.Numeric(windows.SumAgg), Input: windows.NumberField(price)})
	if err != nil {
		b.Fatal(err)
	}
	h, err := windowstest.New(op, windowstest.Options{Keyed: true, DiscardOutput: true})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	keyNames := make([][]byte, keys)
	for i := range keyNames {
		keyNames[i] = strconv.AppendInt(nil, int64(i), 10)
	}
	in := api.NewBatch(256)
	ts := int64(0)
	step := func(n int) {
		for done := 0; done < n; {
			in.Reset()
			for j := 0; j < 256 && done < n; j++ {
				in.Append(keyNames[ts%keys], []byte(`{"price":12}`), ts)
				ts++
				done++
			}
			if err := h.ProcessBatch(in); err != nil {
				b.Fatal(err)
			}
			if err := h.Watermark(ts - 1); err != nil {
				b.Fatal(err)
			}
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	step(keys) // one open session per key
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / keys
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	step(b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(perKey, "heap-bytes/key")
}
