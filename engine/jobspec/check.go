package jobspec

import (
	"sort"

	"github.com/freshet/freshet/engine/registry"
)

// Check builds every node of s with the registry r, as the runtime will, and
// reports every problem at once: unknown types, mistakes in a component's
// fields, keyed operators whose input has no key-by, and parallelism above
// what a component supports. The error is an ErrorList, or nil.
func Check(s *Spec, r *registry.Registry) error {
	var c collector
	for _, n := range s.Nodes() {
		known := r.Doc(n.Kind.String())
		if _, ok := known[n.Type]; !ok {
			names := make([]string, 0, len(known))
			for k := range known {
				names = append(names, k)
			}
			sort.Strings(names)
			hint := suggest(n.Type, names)
			if hint == "" {
				hint = " (known: " + joinOrNone(names) + ")"
			}
			c.add(n.fieldPos["type"], n.Path()+".type", "unknown %s type %q%s", n.Kind, n.Type, hint)
			continue
		}
		p := n.NewParams()
		var op registry.Operator
		var err error
		switch n.Kind {
		case SourceKind:
			_, err = r.Source(n.Type, p)
		case OperatorKind:
			op, err = r.Operator(n.Type, p)
		case SinkKind:
			op, err = r.Sink(n.Type, p)
		}
		if err != nil {
			c.addErr(err)
			continue
		}
		if op.Keyed && n.KeyBy == nil {
			c.add(n.fieldPos["type"], n.Path()+".key-by", "%s %q keeps state per key, so its input needs key-by (value, key or {field: path})", n.Kind, n.Type)
		}
		if op.MaxParallelism > 0 && n.Parallelism > op.MaxParallelism {
			c.add(n.fieldPos["parallelism"], n.Path()+".parallelism", "%s %q runs with parallelism at most %d", n.Kind, n.Type, op.MaxParallelism)
		}
	}
	return c.err()
}

func joinOrNone(names []string) string {
	if len(names) == 0 {
		return "none registered"
	}
	out := names[0]
	for _, n := range names[1:] {
		out += ", " + n
	}
	return out
}
