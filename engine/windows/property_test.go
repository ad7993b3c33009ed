package windows_test

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

type event struct {
	key string
	ts  int64
	v   int64
}

// genEvents returns n events over keys whose timestamps are at most
// disorder behind the largest timestamp before them.
func genEvents(r *rand.Rand, n, keys int, disorder int64) []event {
	out := make([]event, n)
	var maxTs int64
	for i := range out {
		ts := maxTs + r.Int64N(8) - r.Int64N(disorder+1)
		if r.IntN(20) == 0 {
			ts += r.Int64N(60) // a burst forward: gaps for sessions
		}
		maxTs = max(maxTs, ts)
		out[i] = event{key: "k" + strconv.Itoa(r.IntN(keys)), ts: ts, v: r.Int64N(100) - 20}
	}
	return out
}

// batchResult computes every window's sum and elements directly.
func batchResult(a windows.Assigner, evs []event) []string {
	type kw struct {
		key string
		w   windows.Window
	}
	sums := map[kw][]int64{}
	if a.IsMerging() {
		byKey := map[string][]event{}
		for _, e := range evs {
			byKey[e.key] = append(byKey[e.key], e)
		}
		for k, es := range byKey {
			sort.SliceStable(es, func(i, j int) bool { return es[i].ts < es[j].ts })
			var cur windows.Window
			var vals []int64
			for i, e := range es {
				if i > 0 && e.ts < cur.End {
					cur.End = max(cur.End, e.ts+a.Gap())
					vals = append(vals, e.v)
					continue
				}
				if i > 0 {
					sums[kw{k, cur}] = vals
				}
				cur, vals = windows.Window{Start: e.ts, End: e.ts + a.Gap()}, []int64{e.v}
			}
			sums[kw{k, cur}] = vals
		}
	} else {
		for _, e := range evs {
			for _, w := range a.Assign(e.ts, nil) {
				sums[kw{e.key, w}] = append(sums[kw{e.key, w}], e.v)
			}
		}
	}
	var out []string
	for k, vals := range sums {
		out = append(out, format(k.key, k.w, vals))
	}
	sort.Strings(out)
	return out
}

func format(key string, w windows.Window, vals []int64) string {
	var sum int64
	for _, v := range vals {
		sum += v
	}
	slices.Sort(vals)
	return fmt.Sprintf("%s [%d,%d) sum=%d elems=%v", key, w.Start, w.End, sum, vals)
}

// sumAndElements is a window that lists its elements (all-elements mode).
func sumAndElements(key []byte, w windows.Window, elems iter.Seq[[]byte], out api.Output) error {
	var vals []int64
	for e := range elems {
		n, _ := strconv.ParseInt(string(e), 10, 64)
		vals = append(vals, n)
	}
	out.Emit(&api.Record{Key: key, Value: []byte(format(string(key), w, vals)), Timestamp: w.MaxTimestamp()})
	return nil
}

// TestMatchesBatch checks, for random event sets with bounded disorder, any
// parallelism, batching, watermark interleaving (sometimes far behind the
// data), and a checkpoint restored at another parallelism, that the window
// operator computes exactly what a batch computation over the whole input
// does. With late=true the
// watermark trails by only half the disorder, so records arrive late, and
// the allowed lateness covers the disorder: the last firing of each window
// must then match the batch result.
func TestMatchesBatch(t *testing.T) {
	assigners := []windows.Assigner{
		windows.Tumbling(10 * time.Millisecond),
		windows.Sliding(30*time.Millisecond, 10*time.Millisecond),
		windows.Sliding(25*time.Millisecond, 10*time.Millisecond).WithOffset(3 * time.Millisecond),
		windows.Session(7 * time.Millisecond),
	}
	seeds := 30
	if testing.Short() || raceEnabled {
		seeds = 5
	}
	for seed := range seeds {
		for ai, a := range assigners {
			for _, fn := range []string{"sum", "list"} {
				for _, late := range []bool{false, true} {
					// Sliding windows of few panes share one value per
					// key; per-pane is the layout of many panes.
					for _, perPane := range []bool{false, true} {
						if perPane && (a.Kind() != windows.SlidingKind || fn == "list") {
							continue
						}
						r := rand.New(rand.NewPCG(uint64(seed), uint64(ai)))
						name := fmt.Sprintf("seed=%d/%s/%s/late=%v", seed, a, fn, late)
						if perPane {
							name += "/per-pane"
						}
						t.Run(name, func(t *testing.T) { checkBatch(t, r, a, fn, late, perPane) })
					}
				}
			}
		}
	}
}

func checkBatch(t *testing.T, r *rand.Rand, a windows.Assigner, fn string, late, perPane bool) {
	const maxPar = 16
	disorder := r.Int64N(20)
	delay := disorder
	if late {
		delay = disorder / 2
	}
	evs := genEvents(r, 50+r.IntN(400), 1+r.IntN(6), disorder)
	if !late && r.IntN(3) == 0 {
		// A watermark far behind the data: sliding windows of few panes
		// keep the panes beyond their horizon apart until it comes near.
		delay += 300 + r.Int64N(2000)
	}
	want := batchResult(a, evs)

	cfg := windows.Config{Assigner: a}
	if late {
		cfg.AllowedLateness = time.Duration(disorder+1) * time.Millisecond
	}
	if fn == "sum" {
		// The sum is computed by the aggregate; the elements are not kept,
		// so the process function reports the sum only.
		cfg.Aggregate = windows.Numeric(windows.SumAgg)
		cfg.Input = windows.NumberField(jsonpath.Path{})
		cfg.Process = func(key []byte, w windows.Window, elems iter.Seq[[]byte], out api.Output) error {
			for e := range elems {
				out.Emit(&api.Record{Key: key, Value: fmt.Appendf(nil, "%s [%d,%d) sum=%s", key, w.Start, w.End, e)})
			}
			return nil
		}
		for i, s := range want {
			want[i] = s[:strings.Index(s, " elems=")]
		}
	} else {
		cfg.Process = sumAndElements
	}
	if perPane {
		cfg = windows.PerPane(cfg)
	}

	// The stream: events interleaved with watermarks of a bounded
	// out-of-orderness generator, cut at a random point for a checkpoint.
	type item struct {
		ev *event
		wm int64
	}
	var stream []item
	maxTs := int64(-1 << 62)
	for i := range evs {
		stream = append(stream, item{ev: &evs[i]})
		maxTs = max(maxTs, evs[i].ts)
		if r.IntN(4) == 0 {
			stream = append(stream, item{wm: maxTs - delay - 1})
		}
	}
	cut := r.IntN(len(stream) + 1)
	par1, par2 := 1+r.IntN(4), 1+r.IntN(4)

	run := func(par int, items []item, restore []*windowstest.Snapshot, finish bool) ([]string, []*windowstest.Snapshot) {
		var got []string
		var snaps []*windowstest.Snapshot
		for sub := range par {
			op, err := windows.NewOperator(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var snap *windowstest.Snapshot
			if restore != nil {
				snap = merge(restore)
			}
			h, err := windowstest.New(op, windowstest.Options{Keyed: true, Subtask: sub, Parallelism: par, MaxParallelism: maxPar, Restore: snap})
			if err != nil {
				t.Fatal(err)
			}
			batch := api.NewBatch(8)
			flush := func() {
				if batch.Len() > 0 {
					if err := h.ProcessBatch(batch); err != nil {
						t.Fatal(err)
					}
					batch.Reset()
				}
			}
			for _, it := range items {
				if it.ev == nil {
					flush()
					if err := h.Watermark(it.wm); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if keygroup.SubtaskOf([]byte(it.ev.key), par, maxPar) != sub {
					continue
				}
				batch.Append([]byte(it.ev.key), strconv.AppendInt(nil, it.ev.v, 10), it.ev.ts)
				if r.IntN(3) == 0 {
					flush()
				}
			}
			flush()
			if finish {
				if err := h.Finish(); err != nil {
					t.Fatal(err)
				}
				if n := h.PendingTimers(); n != 0 {
					t.Errorf("subtask %d: %d timers left after the end of input", sub, n)
				}
				s, _ := h.Snapshot()
				if len(s.Entries) != 0 {
					t.Errorf("subtask %d: %d state entries left after the end of input", sub, len(s.Entries))
				}
			} else {
				s, err := h.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				snaps = append(snaps, s)
			}
			if c := h.CounterValue(windows.LateDroppedCounter); c != 0 {
				t.Errorf("%d records dropped as late; the disorder bound makes none late", c)
			}
			for _, rec := range h.Records() {
				got = append(got, string(rec.Value))
			}
			h.Close()
		}
		return got, snaps
	}
	got1, snaps := run(par1, stream[:cut], nil, false)
	got2, _ := run(par2, stream[cut:], snaps, true)
	got := append(got1, got2...)
	if late {
		got = lastPerWindow(got)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("%d events, disorder %d, parallelism %d then %d after item %d:\n got  %d windows\n want %d windows\n%s",
			len(evs), disorder, par1, par2, cut, len(got), len(want), diff(got, want))
	}
}

// lastPerWindow keeps the results that no later result of the same key
// replaces: a later firing of the same window, or of a session that
// absorbed it. Results are "key [start,end) ...", in firing order per key.
func lastPerWindow(results []string) []string {
	type res struct {
		key        string
		start, end int64
	}
	parse := func(s string) res {
		var r res
		key, rest, _ := strings.Cut(s, " [")
		r.key = key
		fmt.Sscanf(rest, "%d,%d)", &r.start, &r.end)
		return r
	}
	var out []string
	for i, s := range results {
		a := parse(s)
		replaced := false
		for _, later := range results[i+1:] {
			b := parse(later)
			if b.key == a.key && b.start <= a.start && a.end <= b.end {
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, s)
		}
	}
	return out
}

// merge joins the snapshots of all subtasks (each restore takes its share).
func merge(snaps []*windowstest.Snapshot) *windowstest.Snapshot {
	m := &windowstest.Snapshot{Watermark: snaps[0].Watermark}
	for _, s := range snaps {
		m.Entries = append(m.Entries, s.Entries...)
		m.Timers = append(m.Timers, s.Timers...)
		m.Watermark = min(m.Watermark, s.Watermark)
	}
	return m
}

func diff(got, want []string) string {
	var b strings.Builder
	g := map[string]int{}
	for _, s := range got {
		g[s]++
	}
	for _, s := range want {
		g[s]--
	}
	n := 0
	for s, c := range g {
		if c != 0 && n < 10 {
			fmt.Fprintf(&b, "  %+d %s\n", c, s)
			n++
		}
	}
	return b.String()
}
