package eventtime_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// TestGolden runs testdata/watermarks.txt: each script builds a watermark
// operator (new), feeds records (process: value @ts [header=value]),
// upstream watermarks (watermark N), moves the wall clock (time N, which
// ticks the operator) and ends the input (finish), printing the output
// stream: records with their assigned timestamps, watermarks and idle
// markers in order.
func TestGolden(t *testing.T) {
	g := &golden{}
	defer g.close()
	windowstest.RunDataDriven(t, "testdata/watermarks.txt", g.run)
}

type golden struct {
	h       *windowstest.Harness
	skipped int64
}

func (g *golden) close() {
	if g.h != nil {
		g.h.Close()
	}
}

func msArg(t *testing.T, d *windowstest.TestData, key string) time.Duration {
	n, err := strconv.ParseInt(d.Vals[key], 10, 64)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return time.Duration(n) * time.Millisecond
}

func (g *golden) build(t *testing.T, d *windowstest.TestData) string {
	var s eventtime.Strategy
	switch d.Vals["strategy"] {
	case "bounded":
		s.Watermarks = eventtime.BoundedOutOfOrderness(msArg(t, d, "delay"))
	case "monotonous":
		s.Watermarks = eventtime.Monotonous()
	case "punctuated":
		field := jsonpath.MustParse(d.Vals["field"])
		s.Watermarks = eventtime.Punctuated(func(r *api.Record, ts int64) (int64, bool) {
			v, k := field.Get(r.Value)
			if k != jsonpath.Number {
				return 0, false
			}
			n, ok := jsonpath.ParseNum(v)
			return n.Int, ok && !n.IsFloat
		})
	default:
		d.Fatalf(t, "unknown strategy %q", d.Vals["strategy"])
	}
	format := eventtime.Millis
	if f, ok := d.Vals["format"]; ok {
		var err error
		if format, err = eventtime.ParseFormat(f); err != nil {
			d.Fatalf(t, "%v", err)
		}
	}
	if ts, ok := d.Vals["ts"]; ok {
		kind, arg, _ := strings.Cut(ts, ":")
		switch kind {
		case "field":
			s.Timestamps = eventtime.FieldTimestamp(jsonpath.MustParse(arg), format)
		case "header":
			s.Timestamps = eventtime.HeaderTimestamp(arg, format)
		case "record":
			s.Timestamps = eventtime.RecordTimestamp()
		default:
			d.Fatalf(t, "unknown ts %q", ts)
		}
	}
	if _, ok := d.Vals["interval"]; ok {
		s.Interval = msArg(t, d, "interval")
	}
	if _, ok := d.Vals["idleness"]; ok {
		s.Idleness = msArg(t, d, "idleness")
	}
	if a, ok := d.Vals["on-error"]; ok {
		s.OnError.Action = onerror.Action(a)
	}
	op, err := eventtime.NewOperator(s)
	if err != nil {
		return "error: " + err.Error()
	}
	h, err := windowstest.New(op, windowstest.Options{Name: "wm"})
	if err != nil {
		return "error: " + err.Error()
	}
	g.h = h
	return ""
}

func (g *golden) run(t *testing.T, d *windowstest.TestData) string {
	if d.Cmd == "new" {
		g.close()
		g.skipped = 0
		return g.build(t, d)
	}
	h := g.h
	h.Reset()
	var err error
	switch d.Cmd {
	case "process":
		var recs []api.Record
		for _, line := range d.Input {
			f := strings.Fields(line)
			r := api.Record{Value: []byte(f[0]), Timestamp: api.NoTimestamp}
			for _, x := range f[1:] {
				if strings.HasPrefix(x, "@") {
					ts, perr := strconv.ParseInt(x[1:], 10, 64)
					if perr != nil {
						d.Fatalf(t, "%q: %v", line, perr)
					}
					r.Timestamp = ts
				} else if k, v, ok := strings.Cut(x, "="); ok {
					r.Headers = append(r.Headers, api.Header{Key: []byte(k), Value: []byte(v)})
				}
			}
			recs = append(recs, r)
		}
		err = h.Process(recs...)
	case "watermark":
		n, _ := strconv.ParseInt(d.Args[0], 10, 64)
		err = h.Watermark(n)
	case "time":
		n, _ := strconv.ParseInt(d.Args[0], 10, 64)
		err = h.SetProcessingTime(n)
	case "finish":
		err = h.Finish()
	default:
		d.Fatalf(t, "unknown command")
	}
	var b strings.Builder
	for _, e := range h.Events() {
		switch {
		case e.Record != nil:
			fmt.Fprintf(&b, "record %s @%d\n", e.Record.Value, e.Record.Timestamp)
		case e.Idle:
			b.WriteString("idle\n")
		case e.Watermark == api.MaxWatermark:
			b.WriteString("watermark max\n")
		default:
			fmt.Fprintf(&b, "watermark %d\n", e.Watermark)
		}
	}
	if n := h.CounterValue(onerror.SkippedCounter); n != g.skipped {
		fmt.Fprintf(&b, "skipped %d\n", n-g.skipped)
		g.skipped = n
	}
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}
