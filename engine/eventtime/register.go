package eventtime

import (
	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// Register adds the `watermarks` operator type to r.
func Register(r *registry.Registry) {
	r.AddOperator("watermarks", "assigns event time from the record, a header or a JSON field and generates watermarks (bounded-out-of-orderness, monotonous, punctuated)", build)
}

func build(p *params.Params) (registry.Operator, error) {
	s := FromParams(p, "")
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	newOp, err := New(s)
	if err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{New: newOp}, nil
}

// FromParams reads a watermark strategy from job-file fields (see
// docs/windows.md): the fields of a `watermarks` operator, or of a
// `watermarks:` block on a source (pass p.Sub("watermarks")). jobOnError is
// the job's default on-error policy. Mistakes are recorded in p.
func FromParams(p *params.Params, jobOnError string) Strategy {
	var s Strategy
	kind := p.Enum("strategy", "bounded-out-of-orderness", "bounded-out-of-orderness", "monotonous", "punctuated")
	format := Millis
	if p.Has("timestamp-format") {
		f, err := ParseFormat(p.String("timestamp-format", "ms"))
		if err != nil {
			p.Errorf("timestamp-format", "%v", err)
		}
		format = f
	}
	switch {
	case p.Has("timestamp-field") && p.Has("timestamp-header"):
		p.Errorf("timestamp-header", "set timestamp-field or timestamp-header, not both")
	case p.Has("timestamp-field"):
		if path, ok := readPath(p, "timestamp-field"); ok {
			s.Timestamps = FieldTimestamp(path, format)
		}
	case p.Has("timestamp-header"):
		s.Timestamps = HeaderTimestamp(p.String("timestamp-header", ""), format)
	case p.Has("timestamp-format"):
		p.Errorf("timestamp-format", "applies to timestamp-field or timestamp-header, and neither is set")
	}
	switch kind {
	case "bounded-out-of-orderness":
		d := p.Duration("max-out-of-orderness", 0)
		if d < 0 {
			p.Errorf("max-out-of-orderness", "must not be negative")
		}
		s.Watermarks = BoundedOutOfOrderness(d)
	case "monotonous":
		s.Watermarks = Monotonous()
	case "punctuated":
		if !p.Required("watermark-field") {
			break
		}
		path, ok := readPath(p, "watermark-field")
		if !ok {
			break
		}
		s.Watermarks = Punctuated(func(r *api.Record, ts int64) (int64, bool) {
			v, k := path.Get(r.Value)
			if k != jsonpath.Number && k != jsonpath.String {
				return 0, false
			}
			wm, err := format.parse(v)
			return wm, err == nil
		})
	}
	s.Interval = p.Duration("interval", DefaultInterval)
	if s.Interval <= 0 {
		p.Errorf("interval", "must be positive")
	}
	s.Idleness = p.Duration("idleness", 0)
	if s.Idleness < 0 {
		p.Errorf("idleness", "must not be negative")
	}
	if p.Has("alignment-group") || p.Has("alignment-max-drift") {
		s.Alignment.Group = p.String("alignment-group", "")
		s.Alignment.MaxDrift = p.Duration("alignment-max-drift", 0)
		if s.Alignment.Group == "" {
			p.Errorf("alignment-group", "required with alignment-max-drift")
		}
		if s.Alignment.MaxDrift <= 0 {
			p.Errorf("alignment-max-drift", "required with alignment-group, and positive")
		}
	}
	s.OnError = onerror.FromParams(p, jobOnError)
	if s.Watermarks == nil {
		s.Watermarks = Monotonous() // keeps Validate quiet; p already holds the error
	}
	return s
}

func readPath(p *params.Params, name string) (jsonpath.Path, bool) {
	path, err := jsonpath.Parse(p.String(name, ""))
	if err != nil {
		p.Errorf(name, "%v", err)
		return jsonpath.Path{}, false
	}
	return path, true
}
