package jobspec

import (
	"fmt"

	"github.com/freshet/freshet/engine/params"
	"sort"
	"strings"
)

// validate checks the graph of a decoded spec: names, inputs, cycles, unused
// outputs, partitioning. It fills in default inputs and s.byName.
func (d *decoder) validate(s *Spec) {
	if len(s.Sources) == 0 && !d.badSection["sources"] {
		d.c.add(d.sectionPos(s, "sources"), "sources", "a job needs at least one source")
	}
	if len(s.Sinks) == 0 && !d.badSection["sinks"] {
		d.c.add(d.sectionPos(s, "sinks"), "sinks", "a job needs at least one sink")
	}

	// Names.
	for _, n := range s.Nodes() {
		if n.Name == "" {
			continue
		}
		if first, dup := s.byName[n.Name]; dup {
			d.c.add(n.fieldPos["name"], n.Path()+".name", "%q is already the name of %s (%s)", n.Name, first.Path(), first.Pos)
			continue
		}
		s.byName[n.Name] = n
	}

	// Default inputs: an operator reads the node before it in the file, a
	// sink the last operator (or the last source when there is none).
	written := func(n *Node) bool {
		_, in := n.fieldPos["input"]
		_, ins := n.fieldPos["inputs"]
		return in || ins
	}
	prev := ""
	if len(s.Sources) > 0 {
		prev = s.Sources[len(s.Sources)-1].Name
	}
	for _, n := range s.Operators {
		if !written(n) && prev != "" {
			n.Inputs, n.inputPos, n.defaulted = []string{prev}, []params.Pos{n.Pos}, true
		}
		prev = n.Name
	}
	last := ""
	if len(s.Operators) > 0 {
		last = s.Operators[len(s.Operators)-1].Name
	} else if len(s.Sources) > 0 {
		last = s.Sources[len(s.Sources)-1].Name
	}
	for _, n := range s.Sinks {
		if !written(n) && last != "" {
			n.Inputs, n.inputPos, n.defaulted = []string{last}, []params.Pos{n.Pos}, true
		}
	}

	// Inputs exist and are streams.
	names := make([]string, 0, len(s.byName))
	for name, n := range s.byName {
		if n.Kind != SinkKind {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	used := map[string]bool{}
	for _, n := range append(append([]*Node(nil), s.Operators...), s.Sinks...) {
		field := n.Path() + ".input"
		if _, ok := n.fieldPos["inputs"]; ok {
			field = n.Path() + ".inputs"
		}
		seen := map[string]bool{}
		for i, ref := range n.Inputs {
			pos := n.inputPos[i]
			in, side := SplitInput(ref)
			from, ok := s.byName[in]
			switch {
			case !ok:
				d.c.add(pos, field, "no source or operator is named %q%s", in, suggestName(in, names))
				d.broken = true // the output it meant to read would look unread
			case from.Kind == SinkKind:
				d.c.add(pos, field, "%q is a sink; a sink's output cannot be read", in)
			case from == n:
				d.c.add(pos, field, "%q cannot read its own output", in)
			case side != "" && !validName.MatchString(side):
				d.c.add(pos, field, "%q: side output name %q is not valid", ref, side)
			case seen[ref]:
				d.c.add(pos, field, "%q is listed twice", ref)
			default:
				used[in] = true
				if n.KeyBy == nil && n.Partition == PartitionForward && s.ParallelismOf(from) != s.ParallelismOf(n) {
					d.c.add(n.fieldPos["partition"], n.Path()+".partition",
						"forward needs the same parallelism as input %q (%d here, %d there); use rebalance", in, s.ParallelismOf(n), s.ParallelismOf(from))
				}
			}
			seen[ref] = true
		}
	}

	// Every stream is read.
	for _, n := range s.Nodes() {
		if n.Name != "" && !validName.MatchString(n.Name) {
			d.broken = true
		}
	}
	if d.broken || len(s.Sinks) == 0 {
		d.cycles(s)
		return
	}
	for _, n := range append(append([]*Node(nil), s.Sources...), s.Operators...) {
		if n.Name != "" && !used[n.Name] && s.byName[n.Name] == n {
			d.c.add(n.Pos, n.Path(), "the output of %s %q is not read by any operator or sink", n.Kind, n.Name)
		}
	}

	d.cycles(s)
}

// sectionPos is where a section was written, or the top of the file.
func (d *decoder) sectionPos(s *Spec, section string) params.Pos {
	if p, ok := d.sections[section]; ok {
		return p
	}
	return s.pos
}

// cycles reports every cycle among operators once, by its first node in file order.
func (d *decoder) cycles(s *Spec) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	reported := map[string]bool{}
	var visit func(n *Node)
	visit = func(n *Node) {
		color[n.Name] = grey
		stack = append(stack, n.Name)
		for _, ref := range n.Inputs {
			in, _ := SplitInput(ref)
			from, ok := s.byName[in]
			if !ok || from.Kind == SinkKind || from == n {
				continue
			}
			switch color[in] {
			case white:
				visit(from)
			case grey:
				// stack holds ... in ... n; the cycle is in -> ... -> n -> in in
				// data-flow order reversed, so print it along the data flow.
				i := len(stack) - 1
				for stack[i] != in {
					i--
				}
				cycle := append([]string(nil), stack[i:]...)
				for l, r := 0, len(cycle)-1; l < r; l, r = l+1, r-1 {
					cycle[l], cycle[r] = cycle[r], cycle[l]
				}
				// Start at the member that comes first in the file.
				start := 0
				for j, name := range cycle {
					if s.byName[name].index < s.byName[cycle[start]].index {
						start = j
					}
				}
				cycle = append(cycle[start:], cycle[:start]...)
				key := strings.Join(cycle, " ")
				if !reported[key] {
					reported[key] = true
					head := s.byName[cycle[0]]
					d.c.add(head.Pos, head.Path(), "cycle: %s -> %s", strings.Join(cycle, " -> "), cycle[0])
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n.Name] = black
	}
	for _, n := range s.Operators {
		if s.byName[n.Name] == n && color[n.Name] == white {
			visit(n)
		}
	}
}

// suggestName is suggest for node names, listing them when none is close.
func suggestName(s string, names []string) string {
	if h := suggest(s, names); h != "" {
		return h
	}
	if len(names) == 0 || len(names) > 12 {
		return ""
	}
	return fmt.Sprintf(" (nodes: %s)", strings.Join(names, ", "))
}
