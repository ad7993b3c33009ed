package windows_test

import (
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// TestGolden runs the data-driven scripts in testdata/windows: each builds a
// window operator (new), feeds records (process key value @ts), watermarks
// (watermark N), processing time (time N) and checkpoints (checkpoint), and
// compares what the operator emits. Regenerate with -rewrite after checking
// a change by hand.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/windows/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			g := &golden{}
			defer g.close()
			windowstest.RunDataDriven(t, f, g.run)
		})
	}
}

type golden struct {
	newJoin func() (api.Operator, error)
	cfg     windows.Config
	join    bool
	h       *windowstest.Harness
	dropped int64
}

func (g *golden) close() {
	if g.h != nil {
		g.h.Close()
	}
}

func ms(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("bad number %q", s))
	}
	return time.Duration(n) * time.Millisecond
}

// formatWindow emits "[start,end) elements" for every firing.
func formatWindow(key []byte, w windows.Window, elems iter.Seq[[]byte], out api.Output) error {
	var parts []string
	for e := range elems {
		parts = append(parts, string(e))
	}
	v := fmt.Sprintf("[%d,%d) %s", w.Start, w.End, strings.Join(parts, ","))
	if w == windows.GlobalWindow {
		v = "global " + strings.Join(parts, ",")
	}
	out.Emit(&api.Record{Key: key, Value: []byte(v), Timestamp: w.MaxTimestamp()})
	return nil
}

func maxReduce(a, b, dst []byte) []byte {
	x, _ := strconv.ParseInt(string(a), 10, 64)
	y, _ := strconv.ParseInt(string(b), 10, 64)
	return strconv.AppendInt(dst, max(x, y), 10)
}

func (g *golden) build(t *testing.T, d *windowstest.TestData) string {
	var a windows.Assigner
	switch d.Vals["assigner"] {
	case "tumbling":
		a = windows.Tumbling(ms(d.Vals["size"]))
	case "sliding":
		a = windows.Sliding(ms(d.Vals["size"]), ms(d.Vals["slide"]))
	case "session":
		a = windows.Session(ms(d.Vals["gap"]))
	case "global":
		a = windows.Global()
	default:
		d.Fatalf(t, "unknown assigner %q", d.Vals["assigner"])
	}
	if v, ok := d.Vals["offset"]; ok {
		a = a.WithOffset(ms(v))
	}
	if d.Vals["time"] == "processing" {
		a = a.InProcessingTime()
	}
	cfg := windows.Config{Assigner: a, LateOutput: d.Vals["late"]}
	if v, ok := d.Vals["lateness"]; ok {
		cfg.AllowedLateness = ms(v)
	}
	if v, ok := d.Vals["trigger"]; ok {
		name, arg, _ := strings.Cut(v, ":")
		switch name {
		case "event-time":
			cfg.Trigger = windows.EventTimeTrigger()
		case "processing-time":
			cfg.Trigger = windows.ProcessingTimeTrigger()
		case "count":
			n, _ := strconv.ParseInt(arg, 10, 64)
			cfg.Trigger = windows.CountTrigger(n)
		case "continuous-event-time":
			cfg.Trigger = windows.ContinuousEventTimeTrigger(ms(arg))
		case "continuous-processing-time":
			cfg.Trigger = windows.ContinuousProcessingTimeTrigger(ms(arg))
		case "never":
			cfg.Trigger = windows.NeverTrigger()
		default:
			d.Fatalf(t, "unknown trigger %q", v)
		}
	}
	if d.Has("purging") {
		if cfg.Trigger == nil {
			cfg.Trigger = a.DefaultTrigger()
		}
		cfg.Trigger = windows.Purging(cfg.Trigger)
	}
	switch fn := d.Vals["fn"]; fn {
	case "sum", "":
		cfg.Aggregate = windows.Numeric(windows.SumAgg)
		cfg.Input = windows.NumberField(jsonpath.Path{})
		cfg.Process = formatWindow
	case "sum-raw":
		cfg.Aggregate = windows.Numeric(windows.SumAgg)
		cfg.Input = windows.NumberField(jsonpath.Path{})
	case "max":
		cfg.Reduce = maxReduce
		cfg.Process = formatWindow
	case "list":
		cfg.Process = formatWindow
		cfg.Distinct = d.Has("distinct")
	default:
		d.Fatalf(t, "unknown fn %q", fn)
	}
	if d.Has("per-pane") {
		cfg = windows.PerPane(cfg)
	}
	g.cfg, g.newJoin = cfg, nil
	return g.open(t, d, nil)
}

// buildJoin builds a window join (kind=window, with the assigner fields of
// new) or an interval join (kind=interval lower=N upper=N).
func (g *golden) buildJoin(t *testing.T, d *windowstest.TestData) string {
	var err error
	g.cfg = windows.Config{LateOutput: d.Vals["late"]}
	switch d.Vals["kind"] {
	case "window":
		if s := g.build(t, d); s != "" {
			return s
		}
		g.close()
		jc := windows.JoinConfig{Assigner: g.cfg.Assigner, Trigger: g.cfg.Trigger, AllowedLateness: g.cfg.AllowedLateness, LateOutput: g.cfg.LateOutput, Distinct: d.Has("distinct")}
		if d.Has("cogroup") {
			jc.CoGroup = func(key []byte, w windows.Window, left, right [][]byte, out api.Output) error {
				v := fmt.Sprintf("[%d,%d) left=%s right=%s", w.Start, w.End, bytesJoin(left), bytesJoin(right))
				out.Emit(&api.Record{Key: key, Value: []byte(v), Timestamp: w.MaxTimestamp()})
				return nil
			}
		} else {
			jc.Join = func(key []byte, w windows.Window, l, r []byte, out api.Output) error {
				v := fmt.Sprintf("[%d,%d) %s+%s", w.Start, w.End, l, r)
				out.Emit(&api.Record{Key: key, Value: []byte(v), Timestamp: w.MaxTimestamp()})
				return nil
			}
		}
		g.newJoin, err = windows.NewWindowJoin(jc)
	case "interval":
		g.newJoin, err = windows.NewIntervalJoin(windows.IntervalJoinConfig{
			Lower: ms(d.Vals["lower"]), Upper: ms(d.Vals["upper"]), LateOutput: d.Vals["late"],
			Join: func(key, l, r []byte, lt, rt int64, out api.Output) error {
				v := fmt.Sprintf("%s@%d+%s@%d", l, lt, r, rt)
				out.Emit(&api.Record{Key: key, Value: []byte(v), Timestamp: max(lt, rt)})
				return nil
			}})
	default:
		d.Fatalf(t, "unknown join kind %q", d.Vals["kind"])
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return g.open(t, d, nil)
}

func bytesJoin(vs [][]byte) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, string(v))
	}
	return strings.Join(parts, ",")
}

func (g *golden) open(t *testing.T, d *windowstest.TestData, snap *windowstest.Snapshot) string {
	var op api.Operator
	var err error
	if g.newJoin != nil {
		op, err = g.newJoin()
	} else {
		op, err = windows.NewOperator(g.cfg)
	}
	if err != nil {
		return "error: " + err.Error()
	}
	h, err := windowstest.New(op, windowstest.Options{Keyed: true, Restore: snap})
	if err != nil {
		return "error: " + err.Error()
	}
	g.h = h
	return ""
}

func parseRecords(t *testing.T, d *windowstest.TestData) []api.Record {
	var recs []api.Record
	for _, line := range d.Input {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[2], "@") {
			d.Fatalf(t, "input %q is not: key value @ts", line)
		}
		ts, err := strconv.ParseInt(f[2][1:], 10, 64)
		if err != nil {
			d.Fatalf(t, "input %q: %v", line, err)
		}
		recs = append(recs, api.Record{Key: []byte(f[0]), Value: []byte(f[1]), Timestamp: ts})
	}
	return recs
}

func (g *golden) run(t *testing.T, d *windowstest.TestData) string {
	if d.Cmd == "new" || d.Cmd == "join" {
		g.close()
		g.dropped = 0
		if d.Cmd == "join" {
			return g.buildJoin(t, d)
		}
		return g.build(t, d)
	}
	if g.h == nil {
		d.Fatalf(t, "no operator: start with new")
	}
	h := g.h
	h.Reset()
	var err error
	switch d.Cmd {
	case "process":
		err = h.Process(parseRecords(t, d)...)
	case "process2":
		err = h.Process2(parseRecords(t, d)...)
	case "watermark":
		err = h.Watermark(mustInt(t, d))
	case "time":
		err = h.SetProcessingTime(mustInt(t, d))
	case "finish":
		err = h.Finish()
	case "checkpoint":
		snap, serr := h.Snapshot()
		if serr != nil {
			return "error: " + serr.Error()
		}
		now := h.ProcessingTimeNow()
		h.Close()
		g.h = nil
		if s := g.open(t, d, snap); s != "" {
			return s
		}
		if now > 1 {
			err = g.h.SetProcessingTime(now)
		}
		return g.report(err)
	case "state":
		return g.state(t)
	default:
		d.Fatalf(t, "unknown command")
	}
	return g.report(err)
}

func mustInt(t *testing.T, d *windowstest.TestData) int64 {
	if len(d.Args) != 1 {
		d.Fatalf(t, "want one number")
	}
	if d.Args[0] == "max" {
		return api.MaxWatermark
	}
	n, err := strconv.ParseInt(d.Args[0], 10, 64)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	return n
}

func (g *golden) report(err error) string {
	var b strings.Builder
	for _, r := range g.h.Records() {
		fmt.Fprintf(&b, "%s %s @%s\n", r.Key, r.Value, tsString(r.Timestamp))
	}
	for _, r := range g.h.SideRecords(g.cfg.LateOutput) {
		fmt.Fprintf(&b, "late %s %s @%d\n", r.Key, r.Value, r.Timestamp)
	}
	if n := g.h.CounterValue(windows.LateDroppedCounter); n != g.dropped {
		fmt.Fprintf(&b, "dropped %d late\n", n-g.dropped)
		g.dropped = n
	}
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}

func tsString(ts int64) string {
	if ts == api.MaxWatermark {
		return "max"
	}
	return strconv.FormatInt(ts, 10)
}

// state lists the live state entries per state name and the pending timers.
func (g *golden) state(t *testing.T) string {
	snap, err := g.h.Snapshot()
	if err != nil {
		return "error: " + err.Error()
	}
	counts := map[string]int{}
	for _, e := range snap.Entries {
		counts[e.State]++
	}
	var names []string
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	var lines []string
	for _, n := range names {
		lines = append(lines, fmt.Sprintf("%s: %d", n, counts[n]))
	}
	lines = append(lines, fmt.Sprintf("timers: %d", len(snap.Timers)))
	return strings.Join(slices.Clip(lines), "\n")
}
