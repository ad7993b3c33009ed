package windows

import (
	"encoding/json"
	"iter"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// Register adds the `window` operator type to r.
func Register(r *registry.Registry) { RegisterWith(r, nil) }

// AggregateResolver builds the aggregate of an `aggregate:` mapping of a
// job-file window (a WebAssembly module's aggregate function: module,
// function, config, ...), as a constructor called once per operator
// subtask. Its errors name the file, line and field.
type AggregateResolver func(p *params.Params) (func() (api.AggregateFunction, error), error)

// RegisterWith adds (or replaces) the `window` operator type of r, with
// resolve for aggregates given as a mapping (nil: built-in names only).
func RegisterWith(r *registry.Registry, resolve AggregateResolver) {
	r.AddOperator("window", "keyed: tumbling, sliding, session or global windows with count, sum, min, max or avg of a JSON field, or a WebAssembly aggregate",
		func(p *params.Params) (registry.Operator, error) { return build(p, resolve) })
}

func build(p *params.Params, resolve AggregateResolver) (registry.Operator, error) {
	cfg, err := FromParamsWith(p, resolve)
	if err != nil {
		return registry.Operator{}, err
	}
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	newOp, err := New(cfg)
	if err != nil {
		return registry.Operator{}, &params.Error{Pos: p.Pos(), Field: p.Path(), Msg: err.Error()}
	}
	return registry.Operator{New: newOp, Keyed: true}, nil
}

// FromParams reads a window operator with a built-in aggregate from the
// fields of a job-file node (see docs/windows.md). Mistakes are recorded in p.
// Unless Process is set, each operator made from the configuration emits its
// results as JSON or CSV rows (format).
func FromParams(p *params.Params) Config {
	cfg, err := FromParamsWith(p, nil)
	if err != nil {
		p.Errorf("aggregate", "%v", err)
	}
	return cfg
}

// FromParamsWith is FromParams where `aggregate` may also be a mapping,
// which resolve turns into a per-subtask aggregate; the error is resolve's.
func FromParamsWith(p *params.Params, resolve AggregateResolver) (Config, error) {
	var cfg Config
	var a Assigner
	duration := func(name string) time.Duration {
		if !p.Required(name) {
			return time.Millisecond
		}
		d := p.Duration(name, time.Millisecond)
		if d < time.Millisecond {
			p.Errorf(name, "must be at least 1ms")
			return time.Millisecond
		}
		return d
	}
	switch kind := p.Enum("assigner", "", "tumbling", "sliding", "session", "global"); kind {
	case "tumbling":
		a = Tumbling(duration("size"))
	case "sliding":
		a = Sliding(duration("size"), duration("slide"))
	case "session":
		a = Session(duration("gap"))
	case "global":
		a = Global()
	default:
		p.Required("assigner")
		a = Tumbling(time.Millisecond)
	}
	if p.Has("offset") {
		a = a.WithOffset(p.Duration("offset", 0))
	}
	if p.Enum("time", "event", "event", "processing") == "processing" {
		a = a.InProcessingTime()
	}
	if err := a.Validate(); err != nil {
		p.Errorf("assigner", "%v", err)
	}
	cfg.Assigner = a
	cfg.Trigger = triggerFromParams(p)
	cfg.AllowedLateness = p.Duration("allowed-lateness", 0)
	if cfg.AllowedLateness < 0 {
		p.Errorf("allowed-lateness", "must not be negative")
	}
	if cfg.AllowedLateness > 0 && !a.IsEventTime() {
		p.Errorf("allowed-lateness", "applies to event-time windows only")
	}
	cfg.LateOutput = p.String("late-output", "")

	if v, ok := p.Raw("aggregate"); ok {
		if _, isMap := v.V.(map[string]params.Value); isMap {
			return cfg, moduleAggregate(p, resolve, &cfg)
		}
	}
	aggName := p.String("aggregate", "")
	kind, ok := ParseNumericKind(aggName)
	if !ok {
		if p.Required("aggregate") {
			p.Errorf("aggregate", "%q is not one of count, sum, min, max, avg", aggName)
		}
		kind = CountAgg
	}
	cfg.Aggregate = Numeric(kind)
	switch {
	case kind == CountAgg:
		cfg.Input = NoInput
		if p.Has("field") {
			p.Errorf("field", "count takes no field")
		}
	case p.Has("field"):
		path, err := jsonpath.Parse(p.String("field", ""))
		if err != nil {
			p.Errorf("field", "%v", err)
		}
		cfg.Input = NumberField(path)
	default:
		cfg.Input = NumberField(jsonpath.Path{})
	}
	isJSON := p.Enum("format", "json", "json", "csv") == "json"
	name := kind.String()
	cfg.newProcess = func() ProcessWindowFunc { return formatResult(name, isJSON) }
	cfg.OnError = onerror.FromParams(p, "")
	return cfg, nil
}

// moduleAggregate completes cfg for an aggregate given as a mapping: each
// record's element is its value, or the JSON text of `field`; rows carry
// the result as "result" (JSON as is, other bytes as a JSON string).
func moduleAggregate(p *params.Params, resolve AggregateResolver, cfg *Config) error {
	sub := p.Sub("aggregate")
	if resolve == nil {
		p.Errorf("aggregate", "a module aggregate needs the WebAssembly runtime; run the job with freshet run")
		return nil
	}
	newAgg, err := resolve(sub)
	if err != nil {
		return err
	}
	cfg.NewAggregate = newAgg
	if p.Has("field") {
		path, err := jsonpath.Parse(p.String("field", ""))
		if err != nil {
			p.Errorf("field", "%v", err)
		}
		cfg.Input = RawField(path)
	}
	isJSON := p.Enum("format", "json", "json", "csv") == "json"
	cfg.newProcess = func() ProcessWindowFunc {
		return (&resultFormat{name: "result", isJSON: isJSON, quote: true}).process
	}
	cfg.OnError = onerror.FromParams(p, "")
	return nil
}

// triggerFromParams reads `trigger`: a type name, or a mapping with type,
// count, interval and purge.
func triggerFromParams(p *params.Params) Trigger {
	v, ok := p.Raw("trigger")
	if !ok {
		return nil
	}
	tp := params.New(p.Path()+".trigger", v.Pos, nil)
	switch v.V.(type) {
	case string:
		tp = params.New(p.Path()+".trigger", v.Pos, map[string]params.Value{"type": v})
	case map[string]params.Value:
		tp = p.Sub("trigger")
	default:
		p.Errorf("trigger", "expected a trigger type or a mapping with type")
		return nil
	}
	var t Trigger
	switch typ := tp.Enum("type", "", "event-time", "processing-time", "count", "continuous-event-time", "continuous-processing-time", "never"); typ {
	case "event-time":
		t = EventTimeTrigger()
	case "processing-time":
		t = ProcessingTimeTrigger()
	case "count":
		if tp.Required("count") {
			t = CountTrigger(tp.IntRange("count", 1, 1, 1<<40))
		}
	case "continuous-event-time", "continuous-processing-time":
		if !tp.Required("interval") {
			break
		}
		d := tp.Duration("interval", time.Second)
		if d < time.Millisecond {
			tp.Errorf("interval", "must be at least 1ms")
			break
		}
		if typ == "continuous-event-time" {
			t = ContinuousEventTimeTrigger(d)
		} else {
			t = ContinuousProcessingTimeTrigger(d)
		}
	case "never":
		t = NeverTrigger()
	default:
		tp.Required("type")
	}
	if tp.Bool("purge", false) && t != nil {
		t = Purging(t)
	}
	if _, isMap := v.V.(map[string]params.Value); !isMap {
		if err := tp.Err(); err != nil {
			p.Errorf("trigger", "%v", err)
		}
	}
	return t
}

// formatResult emits one record per firing: with JSON
// {"key":"k","start":0,"end":10000,"max":42}, with CSV k,0,10000,42 (the key
// quoted when it holds a comma, quote or line break). Each call returns a
// function with its own buffers, for one subtask.
func formatResult(name string, isJSON bool) ProcessWindowFunc {
	f := &resultFormat{name: name, isJSON: isJSON}
	return f.process
}

type resultFormat struct {
	name   string
	isJSON bool
	quote  bool // results that are not JSON become JSON strings
	buf    []byte
	rec    api.Record
}

func (f *resultFormat) process(key []byte, w Window, elems iter.Seq[[]byte], out api.Output) error {
	for res := range elems {
		b := f.buf[:0]
		if f.isJSON {
			b = append(b, `{"key":`...)
			b = jsonpath.AppendString(b, key)
			b = append(b, `,"start":`...)
			b = strconv.AppendInt(b, w.Start, 10)
			b = append(b, `,"end":`...)
			b = strconv.AppendInt(b, w.End, 10)
			b = append(b, `,"`...)
			b = append(b, f.name...)
			b = append(b, `":`...)
			if f.quote && !json.Valid(res) {
				b = jsonpath.AppendString(b, res)
			} else {
				b = append(b, res...)
			}
			b = append(b, '}')
		} else {
			b = appendCSVField(b, key)
			b = append(b, ',')
			b = strconv.AppendInt(b, w.Start, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, w.End, 10)
			b = append(b, ',')
			b = append(b, res...)
		}
		f.buf = b
		f.rec = api.Record{Key: key, Value: b, Timestamp: w.MaxTimestamp()}
		out.Emit(&f.rec)
	}
	f.rec = api.Record{}
	return nil
}

func appendCSVField(dst, s []byte) []byte {
	quote := false
	for _, c := range s {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for _, c := range s {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
