package jobspec

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"gopkg.in/yaml.v3"
)

// TopLevelFields are the fields a job file may have.
var TopLevelFields = []string{"apiVersion", "name", "parallelism", "max-parallelism", "on-error", "dead-letter-path", "config", "sources", "operators", "sinks"}

// StructuralFields are the node fields jobspec reads itself; every other
// field of a node goes to its Params. Components must not use these names.
var StructuralFields = []string{"name", "type", "input", "inputs", "key-by", "partition", "parallelism", "on-error"}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

const maxNameLen = 128

func (d *decoder) spec(root *yaml.Node) *Spec {
	s := &Spec{
		File:           d.file,
		Parallelism:    1,
		MaxParallelism: keygroup.DefaultMaxParallelism,
		OnError:        OnErrorFail,
		byName:         map[string]*Node{},
	}
	rootPos := d.pos(root)
	s.pos = rootPos
	s.Config = params.New("config", rootPos, nil)
	r := resolve(root)
	if r.Kind != yaml.MappingNode {
		d.c.add(rootPos, "", "a job file is a mapping with apiVersion, name, sources, operators and sinks; got %s", describe(r))
		return s
	}
	seen := map[string]bool{}
	var parallelism *entry
	onError := params.Value{V: OnErrorFail, Pos: params.Pos{File: d.file}}
	var deadLetter params.Value
	for _, e := range d.mapping(r, "", 0) {
		seen[e.key] = true
		d.sections[e.key] = d.pos(e.k)
		switch e.key {
		case "apiVersion":
			if v, ok := d.str(e, e.key); ok {
				s.APIVersion = v
				if !contains(SupportedAPIVersions, v) {
					d.c.add(d.pos(e.v), e.key, "unsupported version %q (supported: %s)", v, strings.Join(SupportedAPIVersions, ", "))
				}
			}
		case "name":
			if v, ok := d.str(e, e.key); ok {
				s.Name = v
				if strings.TrimSpace(v) == "" {
					d.c.add(d.pos(e.v), e.key, "must not be empty")
				}
			}
		case "parallelism":
			parallelism = &e
		case "max-parallelism":
			if v, ok := d.integer(e, e.key, 1, keygroup.UpperBound); ok {
				s.MaxParallelism = v
			}
		case "on-error":
			if v, ok := d.enum(e, e.key, OnErrorPolicies); ok {
				s.OnError = v
				onError = params.Value{V: v, Pos: d.pos(e.v)}
			}
		case "dead-letter-path":
			if v, ok := d.str(e, e.key); ok {
				s.DeadLetterPath = v
				deadLetter = params.Value{V: v, Pos: d.pos(e.v)}
				if strings.TrimSpace(v) == "" {
					d.c.add(d.pos(e.v), e.key, "must not be empty")
				}
			}
		case "config":
			v := d.value(e.v, "config", 1)
			switch m := v.V.(type) {
			case map[string]params.Value:
				s.Config = params.New("config", v.Pos, m)
			case nil:
				s.Config = params.New("config", v.Pos, nil)
			default:
				d.c.add(v.Pos, "config", "expected a mapping, got %s", describe(resolve(e.v)))
			}
		case "sources", "operators", "sinks":
			d.nodes(s, e, kindOf(e.key))
		default:
			d.c.add(d.pos(e.k), e.key, "unknown field%s", suggest(e.key, TopLevelFields))
		}
	}
	if parallelism != nil {
		if v, ok := d.integer(*parallelism, "parallelism", 1, s.MaxParallelism); ok {
			s.Parallelism = v
		}
	}
	for _, f := range []string{"apiVersion", "name"} {
		if !seen[f] {
			hint := ""
			if f == "apiVersion" {
				hint = fmt.Sprintf(" (write apiVersion: %s)", APIVersionV1)
			}
			d.c.add(rootPos, f, "required field is missing%s", hint)
		}
	}
	for _, n := range s.Nodes() {
		n.onError = onError
		if n.OnError != "" {
			n.onError = params.Value{V: n.OnError, Pos: n.fieldPos["on-error"]}
		}
		if _, own := n.values["dead-letter-path"]; !own && deadLetter.V != nil && n.onError.V == OnErrorDeadLetter {
			n.deadLetter = deadLetter
		}
		if n.Parallelism > s.MaxParallelism {
			d.c.add(n.fieldPos["parallelism"], n.Path()+".parallelism", "%d is more than max-parallelism %d", n.Parallelism, s.MaxParallelism)
		}
	}
	return s
}

func kindOf(section string) Kind {
	switch section {
	case "sources":
		return SourceKind
	case "operators":
		return OperatorKind
	}
	return SinkKind
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nodes decodes the list of nodes of one section.
func (d *decoder) nodes(s *Spec, e entry, kind Kind) {
	r := resolve(e.v)
	switch {
	case r.Kind == yaml.ScalarNode && r.Tag == "!!null":
		return // reported as "no sources" / "no sinks" by validate
	case r.Kind != yaml.SequenceNode:
		d.c.add(d.pos(e.v), e.key, "expected a list of %ss, got %s", kind, describe(r))
		d.broken, d.badSection[e.key] = true, true
		return
	}
	for i, item := range r.Content {
		if !d.spend(item) {
			return
		}
		n := d.node(item, kind, i)
		if n == nil {
			d.broken, d.badSection[e.key] = true, true
			continue
		}
		switch kind {
		case SourceKind:
			s.Sources = append(s.Sources, n)
		case OperatorKind:
			s.Operators = append(s.Operators, n)
		case SinkKind:
			s.Sinks = append(s.Sinks, n)
		}
	}
}

// node decodes one node; it returns nil when the item is not a mapping.
func (d *decoder) node(item *yaml.Node, kind Kind, index int) *Node {
	n := &Node{Kind: kind, Pos: d.pos(item), index: index, values: map[string]params.Value{}, fieldPos: map[string]params.Pos{}}
	path := n.Path()
	r := resolve(item)
	if r.Kind != yaml.MappingNode {
		d.c.add(n.Pos, path, "expected a mapping with name and type, got %s", describe(r))
		return nil
	}
	var input, inputs *entry
	for _, e := range d.mapping(r, path, 1) {
		field := join(path, e.key)
		n.fieldPos[e.key] = d.pos(e.v)
		if kind == SourceKind && (e.key == "input" || e.key == "inputs" || e.key == "key-by" || e.key == "partition") {
			d.c.add(d.pos(e.k), field, "a source reads from outside the job: it takes no %s", e.key)
			continue
		}
		switch e.key {
		case "name":
			if v, ok := d.str(e, field); ok {
				n.Name = v
				switch {
				case v == "":
					d.c.add(d.pos(e.v), field, "must not be empty")
				case len(v) > maxNameLen:
					d.c.add(d.pos(e.v), field, "is longer than %d characters", maxNameLen)
				case !validName.MatchString(v):
					d.c.add(d.pos(e.v), field, "%q may hold only letters, digits, '-' and '_', and starts with a letter or digit", v)
				}
			}
		case "type":
			if v, ok := d.str(e, field); ok {
				n.Type = v
				if v == "" {
					d.c.add(d.pos(e.v), field, "must not be empty")
				}
			}
		case "input":
			input = &e
			if rr := resolve(e.v); rr.Kind == yaml.SequenceNode {
				d.c.add(d.pos(e.v), field, "takes one node name; write inputs: [a, b] to read from several")
			} else if v, ok := d.str(e, field); ok {
				n.Inputs = []string{v}
				n.inputPos = []params.Pos{d.pos(e.v)}
			}
		case "inputs":
			inputs = &e
			d.inputs(n, e, field)
		case "key-by":
			n.KeyBy = d.keyBy(e, field)
		case "partition":
			if rr := resolve(e.v); rr.Kind == yaml.ScalarNode && rr.Value == PartitionHash {
				d.c.add(d.pos(e.v), field, "to partition by key, write key-by (value, key or {field: path}) instead")
			} else if v, ok := d.enum(e, field, Partitions); ok {
				n.Partition = v
			}
		case "parallelism":
			if v, ok := d.integer(e, field, 1, keygroup.UpperBound); ok {
				n.Parallelism = v
			}
		case "on-error":
			if v, ok := d.enum(e, field, OnErrorPolicies); ok {
				n.OnError = v
			}
		default:
			if s := structuralAlias(e.key); s != "" {
				d.c.add(d.pos(e.k), field, "unknown field (did you mean %q?)", s)
				continue
			}
			n.values[e.key] = d.value(e.v, field, 2)
		}
	}
	if input != nil && inputs != nil {
		d.c.add(d.pos(inputs.k), path+".inputs", "give either input or inputs, not both")
		n.Inputs, n.inputPos = nil, nil
	}
	if (input != nil || inputs != nil) && len(n.Inputs) == 0 {
		d.broken = true // a written input is wrong: do not guess the graph
	}
	if n.KeyBy != nil && n.Partition != "" {
		d.c.add(n.fieldPos["partition"], path+".partition", "cannot be combined with key-by, which partitions by key")
	}
	if _, ok := n.fieldPos["name"]; !ok {
		d.c.add(n.Pos, path+".name", "required field is missing")
	}
	if n.Name == "" {
		d.broken = true
	}
	if _, ok := n.fieldPos["type"]; !ok {
		d.c.add(n.Pos, path+".type", "required field is missing")
	}
	return n
}

func (d *decoder) inputs(n *Node, e entry, field string) {
	r := resolve(e.v)
	if r.Kind != yaml.SequenceNode {
		d.c.add(d.pos(e.v), field, "expected a list of node names, got %s", describe(r))
		return
	}
	if len(r.Content) == 0 {
		d.c.add(d.pos(e.v), field, "must name at least one node")
		return
	}
	for i, item := range r.Content {
		ir := resolve(item)
		if ir.Kind != yaml.ScalarNode || ir.Tag != "!!str" {
			d.c.add(d.pos(item), fmt.Sprintf("%s[%d]", field, i), "expected a node name, got %s", describe(ir))
			continue
		}
		n.Inputs = append(n.Inputs, ir.Value)
		n.inputPos = append(n.inputPos, d.pos(item))
	}
}

// keyBy decodes `key-by: value`, `key-by: key` or `key-by: {field: path}`.
func (d *decoder) keyBy(e entry, field string) *KeyBy {
	r := resolve(e.v)
	k := &KeyBy{Pos: d.pos(e.v)}
	switch r.Kind {
	case yaml.ScalarNode:
		if r.Tag == "!!str" {
			switch r.Value {
			case "value":
				k.Kind = KeyByValue
				return k
			case "key":
				k.Kind = KeyByKey
				return k
			}
			d.c.add(k.Pos, field, "%q is not value or key; to key by a JSON field write key-by: {field: %s}", r.Value, r.Value)
			return nil
		}
	case yaml.MappingNode:
		k.Kind = KeyByField
		found := false
		for _, f := range d.mapping(r, field, 2) {
			if f.key != "field" {
				d.c.add(d.pos(f.k), join(field, f.key), "unknown field%s", suggest(f.key, []string{"field"}))
				continue
			}
			found = true
			v, ok := d.str(f, field+".field")
			if !ok {
				return nil
			}
			if _, err := jsonpath.Parse(v); err != nil {
				d.c.add(d.pos(f.v), field+".field", "%v", err)
				return nil
			}
			k.Field = v
		}
		if !found {
			d.c.add(k.Pos, field+".field", "required field is missing")
			return nil
		}
		return k
	}
	d.c.add(k.Pos, field, "expected value, key or {field: path}, got %s", describe(r))
	return nil
}

// normalize folds the spellings people reach for (keyBy, key_by, KEY-BY).
func normalize(s string) string {
	return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
}

// structuralAlias returns the structural field that key is a misspelling of
// by case, '-' or '_' only, or "".
func structuralAlias(key string) string {
	for _, f := range StructuralFields {
		if key != f && normalize(key) == normalize(f) {
			return f
		}
	}
	return ""
}

// suggest returns ` (did you mean "x"?)` for the closest of known, or "".
func suggest(s string, known []string) string {
	if len(known) > 1000 || len(s) > 100 {
		return "" // not worth the quadratic work
	}
	best, bestD := "", max(2, len(s)/3)+1
	for _, k := range known {
		d := distance(s, k)
		if normalize(s) == normalize(k) {
			d = 0
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
