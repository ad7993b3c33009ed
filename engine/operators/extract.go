package operators

import (
	"fmt"
	"sort"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// JSONExtract reads JSON record values. With one path it emits the value at
// that path: a string as its text (unquoted, unescaped) unless Raw, anything
// else as its JSON text. With fields it emits a new JSON object holding each
// field's value under its name, null for fields the record lacks.
//
// A record that lacks the single path, or that is not a JSON object when
// projecting, is a bad record for the node's on-error policy.
type JSONExtract struct {
	api.BaseOperator
	Path   jsonpath.Path
	Raw    bool
	Fields []Field // projection; when set, Path is unused

	bad      badRecords
	rec      api.Record
	buf      []byte
	missing  error
	notJSON  error
	badEsc   error
	projects bool
}

// Field is one field of a json-extract projection.
type Field struct {
	Name string
	Path jsonpath.Path

	quoted []byte // Name as a JSON string followed by ':'
}

func buildJSONExtract(p *params.Params) (registry.Operator, error) {
	var path jsonpath.Path
	var fields []Field
	switch {
	case p.Has("path") && p.Has("fields"):
		p.Raw("fields")
		p.Errorf("fields", "give either path or fields, not both")
	case p.Has("path"):
		path = readPath(p, "path")
	case p.Has("fields"):
		fields = readFields(p)
	default:
		p.Errorf("", "json-extract needs path (one value) or fields (a projection)")
	}
	raw := p.Bool("raw", false)
	if raw && len(fields) > 0 {
		p.Errorf("raw", "applies to path only: a projection always writes JSON")
	}
	policy := onerror.FromParams(p, "")
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{New: func() (api.Operator, error) {
		x := &JSONExtract{Path: path, Raw: raw, Fields: fields}
		x.bad.policy = policy
		return x, nil
	}}, nil
}

// readPath reads field name of p as a JSON field path.
func readPath(p *params.Params, name string) jsonpath.Path {
	s := p.String(name, "")
	path, err := jsonpath.Parse(s)
	if err != nil {
		p.Errorf(name, "%v", err)
	}
	return path
}

// readFields reads `fields`: a list of paths (named by their last key) or a
// mapping from output name to path.
func readFields(p *params.Params) []Field {
	v, _ := p.Raw("fields")
	var fields []Field
	add := func(name, path string) {
		fp, err := jsonpath.Parse(path)
		if err != nil {
			p.Errorf("fields", "%s: %v", name, err)
			return
		}
		if name == "" {
			name = fp.Last()
		}
		if name == "" {
			p.Errorf("fields", "%q has no key to name the output field; use a mapping {name: path}", path)
			return
		}
		for _, f := range fields {
			if f.Name == name {
				p.Errorf("fields", "two fields are named %q; use a mapping {name: path} to rename one", name)
				return
			}
		}
		fields = append(fields, Field{Name: name, Path: fp})
	}
	switch x := v.V.(type) {
	case []params.Value:
		if len(x) == 0 {
			p.Errorf("fields", "names no field")
		}
		for i, e := range x {
			s, ok := e.V.(string)
			if !ok {
				p.Errorf("fields", "element %d: expected a field path, got %v", i, e.V)
				continue
			}
			add("", s)
		}
	case map[string]params.Value:
		if len(x) == 0 {
			p.Errorf("fields", "names no field")
		}
		names := make([]string, 0, len(x))
		for k := range x {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			s, ok := x[k].V.(string)
			if !ok {
				p.Errorf("fields", "%s: expected a field path, got %v", k, x[k].V)
				continue
			}
			add(k, s)
		}
	default:
		p.Errorf("fields", "expected a list of field paths or a mapping {name: path}")
	}
	return fields
}

func (x *JSONExtract) Open(ctx api.Context) error {
	x.projects = len(x.Fields) > 0
	// Fields may be shared by every subtask's instance (the builder's slice):
	// work on this instance's own copy.
	x.Fields = append([]Field(nil), x.Fields...)
	for i := range x.Fields {
		f := &x.Fields[i]
		f.quoted = append(jsonpath.AppendString(nil, []byte(f.Name)), ':')
	}
	x.missing = fmt.Errorf("json-extract %s: %w", x.Path, ErrFieldNotFound)
	x.notJSON = fmt.Errorf("json-extract: %w: the value is not a JSON object", onerror.ErrMalformed)
	x.badEsc = fmt.Errorf("json-extract %s: %w: malformed string escape", x.Path, onerror.ErrMalformed)
	return x.bad.open(ctx)
}

func (x *JSONExtract) Close() error { return x.bad.close() }

func (x *JSONExtract) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		var err error
		if x.projects {
			err = x.project(r.Value)
		} else {
			err = x.extract(r.Value)
		}
		if err != nil {
			if err := x.bad.handle(r, err); err != nil {
				return err
			}
			continue
		}
		x.rec = *r
		x.rec.Value = x.buf
		out.Emit(&x.rec)
	}
	return nil
}

func (x *JSONExtract) extract(doc []byte) error {
	v, k := x.Path.Get(doc)
	if k == jsonpath.Missing {
		return x.missing
	}
	if x.Raw {
		x.buf = jsonpath.AppendJSON(x.buf[:0], v, k)
		return nil
	}
	var err error
	if x.buf, err = jsonpath.AppendText(x.buf[:0], v, k); err != nil {
		return x.badEsc
	}
	return nil
}

func (x *JSONExtract) project(doc []byte) error {
	if !isObject(doc) {
		return x.notJSON
	}
	b := append(x.buf[:0], '{')
	for i := range x.Fields {
		f := &x.Fields[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.quoted...)
		if v, k := f.Path.Get(doc); k != jsonpath.Missing {
			b = jsonpath.AppendJSON(b, v, k)
		} else {
			b = append(b, "null"...)
		}
	}
	x.buf = append(b, '}')
	return nil
}

// isObject reports whether doc starts, after white space, with '{'.
func isObject(doc []byte) bool {
	for _, c := range doc {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}
