package jobspec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/freshet/freshet/engine/params"
	"gopkg.in/yaml.v3"
)

// Overrides change a parsed job from the command line, as `freshet run
// --set k=v --parallelism N` does.
//
// A Set entry is key=value. The key is a top-level field (name, parallelism,
// max-parallelism, on-error), config.<path>, or <section>.<node name>.<field
// path>, such as sources.lines.path or operators.counts.parallelism. Dots
// separate levels; missing levels are created. The value is read as YAML, so
// 4 is an integer, true a boolean and [a, b] a list; text that is not valid
// YAML is taken as a string.
type Overrides struct {
	Set []string
	// Parallelism, when positive, is the job's new default parallelism.
	// Nodes that set their own parallelism keep it.
	Parallelism int
}

// Apply returns a copy of s with the overrides applied and validated again;
// s is not changed. Errors name the override (`--set sources.x.path: ...`).
func (o Overrides) Apply(s *Spec) (*Spec, error) {
	if s.root == nil {
		return nil, fmt.Errorf("applying overrides: the spec was not parsed from a file: %w", ErrInvalid)
	}
	if len(o.Set) == 0 && o.Parallelism == 0 {
		return s, nil
	}
	cl := cloner{done: map[*yaml.Node]*yaml.Node{}}
	root := cl.clone(s.root)
	origin := map[*yaml.Node]string{}
	for old, label := range s.origin {
		if n, ok := cl.done[old]; ok {
			origin[n] = label
		}
	}
	a := &applier{root: root, origin: origin}
	for _, kv := range o.Set {
		a.set(kv)
	}
	switch {
	case o.Parallelism < 0:
		a.c.add(params.Pos{File: "--parallelism"}, "", "%d is not a positive number", o.Parallelism)
	case o.Parallelism > 0:
		label := "--parallelism"
		v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(o.Parallelism)}
		a.mark(v, label)
		a.put(root, "parallelism", v, label)
	}
	spec, err := decode(s.File, root, origin)
	if len(a.c.errs) > 0 {
		a.c.addErr(err)
		return nil, a.c.err()
	}
	return spec, err
}

// Override applies sets (key=value) and, when positive, a new default
// parallelism to s in place; on error s is unchanged. It is Overrides.Apply
// for callers that keep one *Spec.
func (s *Spec) Override(sets []string, parallelism int) error {
	n, err := Overrides{Set: sets, Parallelism: parallelism}.Apply(s)
	if err != nil {
		return err
	}
	*s = *n
	return nil
}

type applier struct {
	root   *yaml.Node
	origin map[*yaml.Node]string
	c      collector
}

func (a *applier) set(kv string) {
	key, val, ok := strings.Cut(kv, "=")
	label := "--set " + key
	fail := func(format string, args ...any) {
		a.c.add(params.Pos{File: label}, "", format, args...)
	}
	if !ok || key == "" {
		a.c.add(params.Pos{File: "--set " + kv}, "", "expected key=value")
		return
	}
	segs := strings.Split(key, ".")
	for _, s := range segs {
		if s == "" {
			fail("empty field name in %q", key)
			return
		}
	}
	v := parseValue(val)
	a.mark(v, label)
	switch segs[0] {
	case "apiVersion":
		fail("apiVersion cannot be overridden")
	case "name", "parallelism", "max-parallelism", "on-error", "dead-letter-path":
		if len(segs) > 1 {
			fail("%s has no fields", segs[0])
			return
		}
		a.put(a.root, segs[0], v, label)
	case "config":
		a.setPath(a.root, segs, v, label)
	case "sources", "operators", "sinks":
		if len(segs) < 3 {
			fail("write %s.<node name>.<field>=value", segs[0])
			return
		}
		node := a.findNode(segs[0], segs[1], fail)
		if node == nil {
			return
		}
		if segs[2] == "name" {
			fail("a node's name cannot be overridden (inputs refer to it)")
			return
		}
		a.setPath(node, segs[2:], v, label)
	default:
		fail("unknown field %q%s", segs[0], suggest(segs[0], TopLevelFields))
	}
}

// parseValue reads an override value as YAML, or as a plain string when it
// is not valid YAML (or is empty).
func parseValue(s string) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// mark records that n and everything under it came from override label.
func (a *applier) mark(n *yaml.Node, label string) {
	if n == nil {
		return
	}
	if _, done := a.origin[n]; done {
		return
	}
	a.origin[n] = label
	for _, c := range n.Content {
		a.mark(c, label)
	}
	a.mark(n.Alias, label)
}

// findNode returns the mapping of the node called name in section, ready
// to be changed.
func (a *applier) findNode(section, name string, fail func(string, ...any)) *yaml.Node {
	list := resolve(a.get(a.root, section))
	var names []string
	if list.Kind == yaml.SequenceNode {
		for i, item := range list.Content {
			m := resolve(item)
			if m.Kind != yaml.MappingNode {
				continue
			}
			if n := resolve(a.get(m, "name")); n.Kind == yaml.ScalarNode {
				if n.Value == name {
					return a.own(list, i)
				}
				names = append(names, n.Value)
			}
		}
	}
	sort.Strings(names)
	hint := suggest(name, names)
	if hint == "" && len(names) > 0 {
		hint = fmt.Sprintf(" (%s: %s)", section, strings.Join(names, ", "))
	}
	fail("there is no %s named %q%s", strings.TrimSuffix(section, "s"), name, hint)
	return nil
}

// own makes parent.Content[i] safe to change: a node that is reached through
// an alias, or that aliases elsewhere refer to, is replaced by a copy, so an
// override changes this place only. It returns the (resolved) node.
func (a *applier) own(parent *yaml.Node, i int) *yaml.Node {
	n := parent.Content[i]
	if n.Kind != yaml.AliasNode && n.Anchor == "" {
		return n
	}
	c := a.copyOf(n)
	parent.Content[i] = c
	return c
}

// copyOf deep-copies the value of n, keeping the origins of copied nodes.
func (a *applier) copyOf(n *yaml.Node) *yaml.Node {
	cl := cloner{done: map[*yaml.Node]*yaml.Node{}}
	c := cl.clone(resolve(n))
	c.Anchor = ""
	for old, copied := range cl.done {
		if label, ok := a.origin[old]; ok {
			a.origin[copied] = label
		}
	}
	return c
}

// index returns the index in m.Content of the value of key, looking at
// explicit keys only, or -1.
func (a *applier) index(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := resolve(m.Content[i]); k.Kind == yaml.ScalarNode && k.Tag != "!!merge" && k.Value == key {
			return i + 1
		}
	}
	return -1
}

// get returns the value of key in mapping m, explicit or merged (<<), or nil.
func (a *applier) get(m *yaml.Node, key string) *yaml.Node {
	return a.lookup(m, key, 0)
}

func (a *applier) lookup(m *yaml.Node, key string, depth int) *yaml.Node {
	if i := a.index(m, key); i >= 0 {
		return m.Content[i]
	}
	if depth > maxDepth {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := resolve(m.Content[i]); k.Kind != yaml.ScalarNode || k.Tag != "!!merge" {
			continue
		}
		src := resolve(m.Content[i+1])
		srcs := []*yaml.Node{src}
		if src.Kind == yaml.SequenceNode {
			srcs = src.Content
		}
		for _, s := range srcs {
			if s = resolve(s); s.Kind == yaml.MappingNode {
				if v := a.lookup(s, key, depth+1); v != nil {
					return v
				}
			}
		}
	}
	return nil
}

// put sets key in mapping m to v, replacing an explicit entry or adding one
// (which takes precedence over a merged one).
func (a *applier) put(m *yaml.Node, key string, v *yaml.Node, label string) {
	if i := a.index(m, key); i >= 0 {
		m.Content[i] = v
		return
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	a.origin[k] = label
	m.Content = append(m.Content, k, v)
}

// setPath sets the field at path segs under mapping m, creating mappings on
// the way.
func (a *applier) setPath(m *yaml.Node, segs []string, v *yaml.Node, label string) {
	for i, seg := range segs[:len(segs)-1] {
		if a.index(m, seg) < 0 {
			// Absent, or only merged in: make it explicit, starting from a
			// copy of the merged value so its other fields stay.
			child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			a.origin[child] = label
			if merged := a.get(m, seg); merged != nil {
				child = a.copyOf(merged)
			}
			a.put(m, seg, child, label)
		}
		idx := a.index(m, seg)
		r := resolve(m.Content[idx])
		switch {
		case r.Kind == yaml.MappingNode:
			m = a.own(m, idx)
			if m.Kind != yaml.MappingNode {
				m = resolve(m)
			}
			continue
		case r.Kind == yaml.ScalarNode && r.Tag == "!!null":
			child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			a.origin[child] = label
			m.Content[idx] = child
			m = child
			continue
		}
		a.c.add(params.Pos{File: label}, "", "%s is %s, not a mapping with fields", strings.Join(segs[:i+1], "."), describe(r))
		return
	}
	a.put(m, segs[len(segs)-1], v, label)
}

// cloner deep-copies a YAML tree, keeping aliases pointing at the copies.
type cloner struct {
	done map[*yaml.Node]*yaml.Node
}

func (c *cloner) clone(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if d, ok := c.done[n]; ok {
		return d
	}
	d := &yaml.Node{}
	c.done[n] = d
	*d = *n
	if n.Content != nil {
		d.Content = make([]*yaml.Node, len(n.Content))
		for i, ch := range n.Content {
			d.Content[i] = c.clone(ch)
		}
	}
	d.Alias = c.clone(n.Alias)
	return d
}
