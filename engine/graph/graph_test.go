package graph

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
)

func newSource() (api.Source, error)     { return nil, nil }
func newOperator() (api.Operator, error) { return nil, nil }

// src, op and sink make nodes with constructors; opts adjust them.
func src(name string, par int, opts ...func(*Node)) *Node {
	return node(&Node{Name: name, Kind: SourceNode, Parallelism: par, NewSource: newSource}, opts)
}

func op(name string, par int, opts ...func(*Node)) *Node {
	return node(&Node{Name: name, Kind: OperatorNode, Parallelism: par, NewOperator: newOperator}, opts)
}

func sink(name string, par int, opts ...func(*Node)) *Node {
	return node(&Node{Name: name, Kind: SinkNode, Parallelism: par, NewOperator: newOperator}, opts)
}

func node(n *Node, opts []func(*Node)) *Node {
	for _, o := range opts {
		o(n)
	}
	return n
}

func keyed(n *Node)            { n.Keyed = true }
func chainHead(n *Node)        { n.Chaining = ChainHead }
func chainNever(n *Node)       { n.Chaining = ChainNever }
func maxPar(m int) func(*Node) { return func(n *Node) { n.MaxParallelism = m } }

// builder assembles a StreamGraph by node name.
type builder struct{ g *StreamGraph }

func build(nodes ...*Node) *builder {
	b := &builder{g: &StreamGraph{JobName: "job"}}
	for _, n := range nodes {
		b.g.AddNode(n)
	}
	return b
}

func (b *builder) id(name string) int {
	for _, n := range b.g.Nodes {
		if n.Name == name {
			return n.ID
		}
	}
	panic("test graph has no node " + name)
}

// edge adds from → to; opts adjust the edge.
func (b *builder) edge(from, to string, p Partitioning, opts ...func(*Edge)) *builder {
	e := &Edge{From: b.id(from), To: b.id(to), Partitioning: p}
	for _, o := range opts {
		o(e)
	}
	b.g.AddEdge(e)
	return b
}

func side(name string) func(*Edge) { return func(e *Edge) { e.SideOutput = name } }
func input(i int) func(*Edge)      { return func(e *Edge) { e.Input = i } }

// lines splits a joined error into its messages (nil error: none).
func lines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		graph func() *StreamGraph
		want  []string // the messages, in order; nil: valid
	}{
		{
			name: "valid pipeline",
			graph: func() *StreamGraph {
				return build(src("in", 2), op("map", 2), op("count", 4, keyed), sink("out", 4)).
					edge("in", "map", Forward).edge("map", "count", Hash).edge("count", "out", Forward).g
			},
		},
		{
			name:  "no nodes",
			graph: func() *StreamGraph { return &StreamGraph{} },
			want:  []string{"the job has no sources"},
		},
		{
			name: "parallelism zero",
			graph: func() *StreamGraph {
				return build(src("in", 0), sink("out", 1)).edge("in", "out", Rebalance).g
			},
			want: []string{`source "in": parallelism 0 is out of range [1, max parallelism 128]`},
		},
		{
			name: "parallelism above the job's max parallelism",
			graph: func() *StreamGraph {
				b := build(src("in", 1), op("map", 5), sink("out", 1)).edge("in", "map", Rebalance).edge("map", "out", Rebalance)
				b.g.MaxParallelism = 4
				return b.g
			},
			want: []string{`operator "map": parallelism 5 is out of range [1, max parallelism 4]`},
		},
		{
			name: "parallelism above the node's own maximum",
			graph: func() *StreamGraph {
				return build(src("in", 3), sink("out", 2, maxPar(1))).edge("in", "out", Rebalance).g
			},
			want: []string{`sink "out": parallelism 2 exceeds its maximum of 1`},
		},
		{
			name: "node maximum equal to its parallelism",
			graph: func() *StreamGraph {
				return build(src("in", 1, maxPar(1)), sink("out", 1)).edge("in", "out", Forward).g
			},
		},
		{
			name: "source with an input",
			graph: func() *StreamGraph {
				return build(src("a", 1), src("b", 1), sink("out", 1)).edge("a", "b", Forward).edge("b", "out", Forward).g
			},
			want: []string{`source "b" has an input`},
		},
		{
			name: "operator and sink without input",
			graph: func() *StreamGraph {
				return build(src("in", 1), op("map", 1), sink("out", 1)).g
			},
			want: []string{`operator "map" has no input`, `sink "out" has no input`},
		},
		{
			name: "missing constructors",
			graph: func() *StreamGraph {
				b := build(src("in", 1), op("map", 1), sink("out", 1)).edge("in", "map", Forward).edge("map", "out", Forward)
				b.g.Nodes[0].NewSource = nil
				b.g.Nodes[1].NewOperator = nil
				b.g.Nodes[2].NewOperator = nil
				return b.g
			},
			want: []string{`source "in" has no constructor`, `operator "map" has no constructor`, `sink "out" has no constructor`},
		},
		{
			name: "keyed node fed by a forward and a rebalance edge",
			graph: func() *StreamGraph {
				return build(src("a", 2), src("b", 1), op("join", 2, keyed), sink("out", 2)).
					edge("a", "join", Forward).edge("b", "join", Rebalance, input(1)).edge("join", "out", Forward).g
			},
			want: []string{
				`operator "join" uses keyed state but its input from "a" is not keyed (add a key-by)`,
				`operator "join" uses keyed state but its input from "b" is not keyed (add a key-by)`,
			},
		},
		{
			name: "keyed sink fed by broadcast",
			graph: func() *StreamGraph {
				return build(src("in", 1), sink("out", 2, keyed)).edge("in", "out", Broadcast).g
			},
			want: []string{`sink "out" uses keyed state but its input from "in" is not keyed (add a key-by)`},
		},
		{
			name: "forward edge between unequal parallelism",
			graph: func() *StreamGraph {
				return build(src("in", 2), op("map", 3), sink("out", 3)).edge("in", "map", Forward).edge("map", "out", Forward).g
			},
			want: []string{`forward edge "in" → "map" joins parallelism 2 and 3 (use rebalance, or equal parallelism)`},
		},
		{
			name: "unequal parallelism through rebalance, hash and broadcast",
			graph: func() *StreamGraph {
				return build(src("in", 2), op("a", 3), op("b", 5, keyed), sink("out", 1)).
					edge("in", "a", Rebalance).edge("a", "b", Hash).edge("b", "out", Broadcast).g
			},
		},
		{
			name: "cycle names only the nodes on it",
			graph: func() *StreamGraph {
				return build(src("in", 1), op("a", 1), op("b", 1), op("c", 1), sink("out", 1)).
					edge("in", "a", Forward).edge("a", "b", Forward).edge("b", "c", Forward).edge("c", "a", Forward).
					edge("c", "out", Forward).g
			},
			want: []string{`the job graph has a cycle through a, b, c`},
		},
		{
			name: "self loop",
			graph: func() *StreamGraph {
				return build(src("in", 1), op("iterate", 1), sink("out", 1)).
					edge("in", "iterate", Forward).edge("iterate", "iterate", Forward).edge("iterate", "out", Forward).g
			},
			want: []string{`the job graph has a cycle through iterate`},
		},
		{
			name: "no source at all",
			graph: func() *StreamGraph {
				return build(op("a", 1), op("b", 1)).edge("a", "b", Forward).edge("b", "a", Forward).g
			},
			want: []string{`the job has no sources`, `the job graph has a cycle through a, b`},
		},
		{
			name: "every problem is reported",
			graph: func() *StreamGraph {
				return build(src("in", 2), op("count", 1, keyed), sink("out", 0)).
					edge("in", "count", Forward).edge("count", "out", Forward).g
			},
			want: []string{
				`operator "count" uses keyed state but its input from "in" is not keyed (add a key-by)`,
				`forward edge "in" → "count" joins parallelism 2 and 1 (use rebalance, or equal parallelism)`,
				`sink "out": parallelism 0 is out of range [1, max parallelism 128]`,
				`forward edge "count" → "out" joins parallelism 1 and 0 (use rebalance, or equal parallelism)`,
			},
		},
		// Malformed graphs built by hand are reported, not a panic.
		{
			name: "edge to a node that does not exist",
			graph: func() *StreamGraph {
				b := build(src("in", 1), sink("out", 1)).edge("in", "out", Forward)
				b.g.AddEdge(&Edge{From: 0, To: 7})
				b.g.AddEdge(&Edge{From: -1, To: 1})
				return b.g
			},
			want: []string{`edge 1 (0 → 7) refers to node 7, which does not exist`, `edge 2 (-1 → 1) refers to node -1, which does not exist`},
		},
		{
			name: "nil edge and nil node",
			graph: func() *StreamGraph {
				b := build(src("in", 1), sink("out", 1)).edge("in", "out", Forward)
				b.g.AddEdge(nil)
				b.g.Nodes = append(b.g.Nodes, nil)
				return b.g
			},
			want: []string{`node 2 is nil`, `edge 1 is nil`},
		},
		{
			name: "node appended without AddNode",
			graph: func() *StreamGraph {
				b := build(src("in", 1))
				b.g.Nodes = append(b.g.Nodes, sink("out", 1))
				b.g.AddEdge(&Edge{From: 0, To: 1})
				return b.g
			},
			want: []string{`sink "out" has ID 0 but is node 1 (add nodes with AddNode)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.graph().Validate()
			if got := lines(err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate:\n  got  %q\n  want %q", got, tt.want)
			}
		})
	}
}

func TestValidateMaxParallelism(t *testing.T) {
	g := build(src("in", 1), sink("out", 1)).edge("in", "out", Forward).g
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if g.MaxParallelism != keygroup.DefaultMaxParallelism {
		t.Errorf("MaxParallelism = %d after Validate, want the default %d", g.MaxParallelism, keygroup.DefaultMaxParallelism)
	}

	g.MaxParallelism = keygroup.UpperBound + 1
	err := g.Validate()
	if err == nil || !strings.Contains(err.Error(), "max parallelism 32769 is out of range [1, 32768]") {
		t.Errorf("Validate with max parallelism above the bound = %v", err)
	}
	g.MaxParallelism = keygroup.UpperBound
	if err := g.Validate(); err != nil {
		t.Errorf("Validate with max parallelism at the bound = %v", err)
	}
}

func TestTopoOrder(t *testing.T) {
	tests := []struct {
		name  string
		graph *StreamGraph
		want  []string
	}{
		{
			name:  "chain",
			graph: build(sink("out", 1), op("map", 1), src("in", 1)).edge("in", "map", Forward).edge("map", "out", Forward).g,
			want:  []string{"in", "map", "out"},
		},
		{
			name: "diamond",
			graph: build(src("in", 1), op("a", 1), op("b", 1), op("join", 1), sink("out", 1)).
				edge("in", "b", Forward).edge("in", "a", Forward).edge("a", "join", Forward).edge("b", "join", Forward).edge("join", "out", Forward).g,
			want: []string{"in", "b", "a", "join", "out"},
		},
		{
			name: "two sources, roots first in ID order",
			graph: build(src("s1", 1), op("u", 1), src("s2", 1), sink("out", 1)).
				edge("s2", "u", Forward).edge("s1", "u", Forward).edge("u", "out", Forward).g,
			want: []string{"s1", "s2", "u", "out"},
		},
		{
			name:  "parallel edges",
			graph: build(src("in", 1), sink("out", 1)).edge("in", "out", Forward).edge("in", "out", Forward, side("late")).g,
			want:  []string{"in", "out"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, err := tt.graph.TopoOrder()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			pos := map[int]int{}
			for i, id := range order {
				got = append(got, tt.graph.Nodes[id].Name)
				pos[id] = i
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("TopoOrder = %q, want %q", got, tt.want)
			}
			for _, e := range tt.graph.Edges {
				if pos[e.From] >= pos[e.To] {
					t.Errorf("edge %d → %d goes backwards in %v", e.From, e.To, order)
				}
			}
		})
	}
}

func TestTopoOrderCycle(t *testing.T) {
	tests := []struct {
		name  string
		graph *StreamGraph
		want  string
	}{
		{
			name: "downstream of a cycle is not on it",
			graph: build(src("in", 1), op("a", 1), op("b", 1), sink("out", 1)).
				edge("in", "a", Forward).edge("a", "b", Forward).edge("b", "a", Forward).edge("b", "out", Forward).g,
			want: "the job graph has a cycle through a, b",
		},
		{
			name: "two cycles",
			graph: build(src("in", 1), op("a", 1), op("b", 1), op("c", 1), op("d", 1), sink("out", 1)).
				edge("in", "a", Forward).edge("a", "b", Forward).edge("b", "a", Forward).
				edge("in", "c", Forward).edge("c", "d", Forward).edge("d", "c", Forward).edge("d", "out", Forward).g,
			want: "the job graph has a cycle through a, b, c, d",
		},
		{
			name:  "self loop on a source",
			graph: build(src("in", 1)).edge("in", "in", Forward).g,
			want:  "the job graph has a cycle through in",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, err := tt.graph.TopoOrder()
			if err == nil || err.Error() != tt.want || order != nil {
				t.Errorf("TopoOrder = %v, %v; want error %q", order, err, tt.want)
			}
		})
	}
	g := build(src("in", 1)).g
	g.AddEdge(&Edge{From: 0, To: 3})
	if _, err := g.TopoOrder(); err == nil {
		t.Error("TopoOrder of an edge to a missing node: no error")
	}
}

func TestInputsOutputs(t *testing.T) {
	b := build(src("a", 1), src("b", 1), op("j", 1), sink("x", 1), sink("y", 1)).
		edge("a", "j", Forward).edge("b", "j", Rebalance, input(1)).edge("j", "x", Forward).edge("j", "y", Forward, side("late"))
	g := b.g
	if got := g.Inputs(b.id("j")); len(got) != 2 || got[0] != g.Edges[0] || got[1] != g.Edges[1] {
		t.Errorf("Inputs(j) = %v", got)
	}
	if got := g.Outputs(b.id("j")); len(got) != 2 || got[0] != g.Edges[2] || got[1] != g.Edges[3] {
		t.Errorf("Outputs(j) = %v", got)
	}
	if got := g.Inputs(b.id("a")); got != nil {
		t.Errorf("Inputs(a) = %v, want none", got)
	}
	if got := g.Outputs(b.id("x")); got != nil {
		t.Errorf("Outputs(x) = %v, want none", got)
	}
}

func TestChainable(t *testing.T) {
	tests := []struct {
		name string
		b    *builder
		want bool
	}{
		{"forward, equal parallelism, single input", build(src("s", 2), op("m", 2)).edge("s", "m", Forward), true},
		{"rebalance", build(src("s", 2), op("m", 2)).edge("s", "m", Rebalance), false},
		{"hash", build(src("s", 2), op("m", 2)).edge("s", "m", Hash), false},
		{"broadcast", build(src("s", 2), op("m", 2)).edge("s", "m", Broadcast), false},
		{"unequal parallelism", build(src("s", 2), op("m", 3)).edge("s", "m", Forward), false},
		{"side output", build(src("s", 2), op("m", 2)).edge("s", "m", Forward, side("late")), false},
		{"downstream has another input", build(src("s", 2), src("t", 2), op("m", 2)).edge("s", "m", Forward).edge("t", "m", Forward), false},
		{"upstream ChainHead", build(src("s", 2, chainHead), op("m", 2)).edge("s", "m", Forward), true},
		{"upstream ChainNever", build(src("s", 2, chainNever), op("m", 2)).edge("s", "m", Forward), false},
		{"downstream ChainHead", build(src("s", 2), op("m", 2, chainHead)).edge("s", "m", Forward), false},
		{"downstream ChainNever", build(src("s", 2), op("m", 2, chainNever)).edge("s", "m", Forward), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.g.Chainable(tt.b.g.Edges[0]); got != tt.want {
				t.Errorf("Chainable = %v, want %v", got, tt.want)
			}
		})
	}
}

// describe renders a job graph as vertex lines "name ×parallelism" and edge
// lines "source => target (partitioning[, side output][, input i])".
func describe(jg *JobGraph) (vertices, edges []string) {
	for _, v := range jg.Vertices {
		vertices = append(vertices, v.Name+" ×"+itoa(v.Parallelism))
	}
	for _, e := range jg.Edges {
		s := e.Source.Name + " => " + e.Target.Name + " (" + e.Edge.Partitioning.String()
		if e.Edge.SideOutput != "" {
			s += ", side " + e.Edge.SideOutput
		}
		if e.Edge.Input != 0 {
			s += ", input " + itoa(e.Edge.Input)
		}
		edges = append(edges, s+")")
	}
	return vertices, edges
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestBuildJobGraph(t *testing.T) {
	tests := []struct {
		name     string
		b        *builder
		vertices []string
		edges    []string
	}{
		{
			name:     "forward pipeline of equal parallelism is one chain",
			b:        build(src("in", 2), op("parse", 2), op("filter", 2), sink("out", 2)).edge("in", "parse", Forward).edge("parse", "filter", Forward).edge("filter", "out", Forward),
			vertices: []string{"in -> parse -> filter -> out ×2"},
		},
		{
			name:     "rebalance to another parallelism",
			b:        build(src("in", 1), op("map", 3), sink("out", 3)).edge("in", "map", Rebalance).edge("map", "out", Forward),
			vertices: []string{"in ×1", "map -> out ×3"},
			edges:    []string{"in => map -> out (rebalance)"},
		},
		{
			name:     "rebalance at equal parallelism still breaks the chain",
			b:        build(src("in", 2), sink("out", 2)).edge("in", "out", Rebalance),
			vertices: []string{"in ×2", "out ×2"},
			edges:    []string{"in => out (rebalance)"},
		},
		{
			name:     "key-by",
			b:        build(src("in", 2), op("parse", 2), op("count", 2, keyed), sink("out", 2)).edge("in", "parse", Forward).edge("parse", "count", Hash).edge("count", "out", Forward),
			vertices: []string{"in -> parse ×2", "count -> out ×2"},
			edges:    []string{"in -> parse => count -> out (hash)"},
		},
		{
			name:     "broadcast",
			b:        build(src("rules", 1), sink("out", 4)).edge("rules", "out", Broadcast),
			vertices: []string{"rules ×1", "out ×4"},
			edges:    []string{"rules => out (broadcast)"},
		},
		{
			name:     "ChainHead starts a new chain",
			b:        build(src("in", 2), op("a", 2, chainHead), op("b", 2), sink("out", 2)).edge("in", "a", Forward).edge("a", "b", Forward).edge("b", "out", Forward),
			vertices: []string{"in ×2", "a -> b -> out ×2"},
			edges:    []string{"in => a -> b -> out (forward)"},
		},
		{
			name:     "ChainNever runs alone",
			b:        build(src("in", 2), op("a", 2, chainNever), op("b", 2), sink("out", 2)).edge("in", "a", Forward).edge("a", "b", Forward).edge("b", "out", Forward),
			vertices: []string{"in ×2", "a ×2", "b -> out ×2"},
			edges:    []string{"in => a (forward)", "a => b -> out (forward)"},
		},
		{
			name:     "ChainNever source",
			b:        build(src("in", 2, chainNever), op("a", 2), sink("out", 2)).edge("in", "a", Forward).edge("a", "out", Forward),
			vertices: []string{"in ×2", "a -> out ×2"},
			edges:    []string{"in => a -> out (forward)"},
		},
		{
			name: "side outputs are never chained",
			b: build(src("in", 2), op("window", 2), sink("out", 2), sink("late", 2)).
				edge("in", "window", Forward).edge("window", "out", Forward).edge("window", "late", Forward, side("late")),
			vertices: []string{"in -> window -> out ×2", "late ×2"},
			edges:    []string{"in -> window -> out => late (forward, side late)"},
		},
		{
			name: "fan-out chains every forward branch",
			b: build(src("in", 2), sink("a", 2), sink("b", 2), sink("c", 3)).
				edge("in", "a", Forward).edge("in", "b", Forward).edge("in", "c", Rebalance),
			vertices: []string{"in -> a -> b ×2", "c ×3"},
			edges:    []string{"in -> a -> b => c (rebalance)"},
		},
		{
			name: "union becomes one vertex with several inputs",
			b: build(src("s1", 2), src("s2", 2), op("union", 2), sink("out", 2)).
				edge("s1", "union", Forward).edge("s2", "union", Forward).edge("union", "out", Forward),
			vertices: []string{"s1 ×2", "s2 ×2", "union -> out ×2"},
			edges:    []string{"s1 => union -> out (forward)", "s2 => union -> out (forward)"},
		},
		{
			name: "diamond rejoins in a new vertex",
			b: build(src("in", 2), op("a", 2), op("b", 2), op("join", 2), sink("out", 2)).
				edge("in", "a", Forward).edge("in", "b", Forward).edge("a", "join", Forward).edge("b", "join", Forward).edge("join", "out", Forward),
			vertices: []string{"in -> a -> b ×2", "join -> out ×2"},
			edges:    []string{"in -> a -> b => join -> out (forward)", "in -> a -> b => join -> out (forward)"},
		},
		{
			name: "two-input keyed join",
			b: build(src("orders", 2), src("users", 1), op("join", 4, keyed), sink("out", 4)).
				edge("orders", "join", Hash).edge("users", "join", Hash, input(1)).edge("join", "out", Forward),
			vertices: []string{"orders ×2", "users ×1", "join -> out ×4"},
			edges:    []string{"orders => join -> out (hash)", "users => join -> out (hash, input 1)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jg, err := BuildJobGraph(tt.b.g)
			if err != nil {
				t.Fatal(err)
			}
			vertices, edges := describe(jg)
			if !reflect.DeepEqual(vertices, tt.vertices) {
				t.Errorf("vertices:\n  got  %q\n  want %q", vertices, tt.vertices)
			}
			if !reflect.DeepEqual(edges, tt.edges) {
				t.Errorf("edges:\n  got  %q\n  want %q", edges, tt.edges)
			}
			checkJobGraph(t, tt.b.g, jg)
		})
	}
}

// checkJobGraph checks what holds for every job graph: each node runs in
// exactly one vertex, in topological order, at the vertex's parallelism;
// each stream edge is either inside one vertex's chain or carried by one
// job edge; job edges are wired to both ends.
func checkJobGraph(t *testing.T, g *StreamGraph, jg *JobGraph) {
	t.Helper()
	if jg.JobName != g.JobName || jg.MaxParallelism != g.MaxParallelism || jg.Stream != g {
		t.Errorf("job graph header %q/%d, want %q/%d and the stream graph", jg.JobName, jg.MaxParallelism, g.JobName, g.MaxParallelism)
	}
	order, _ := g.TopoOrder()
	rank := map[int]int{}
	for i, id := range order {
		rank[id] = i
	}
	vertexOf := map[int]*JobVertex{}
	for i, v := range jg.Vertices {
		if v.ID != i {
			t.Errorf("vertex %q has ID %d at index %d", v.Name, v.ID, i)
		}
		if v.Head() != v.Nodes[0] {
			t.Errorf("vertex %q: Head is not Nodes[0]", v.Name)
		}
		for j, n := range v.Nodes {
			if prev, dup := vertexOf[n.ID]; dup {
				t.Errorf("node %q in vertices %q and %q", n.Name, prev.Name, v.Name)
			}
			vertexOf[n.ID] = v
			if !v.Contains(n.ID) {
				t.Errorf("vertex %q does not contain its node %q", v.Name, n.Name)
			}
			if n.Parallelism != v.Parallelism {
				t.Errorf("node %q ×%d in vertex %q ×%d", n.Name, n.Parallelism, v.Name, v.Parallelism)
			}
			if j > 0 && rank[n.ID] < rank[v.Nodes[j-1].ID] {
				t.Errorf("vertex %q: nodes not in topological order", v.Name)
			}
		}
		for _, e := range v.Internal {
			if !v.Contains(e.From) || !v.Contains(e.To) || !g.Chainable(e) {
				t.Errorf("vertex %q: internal edge %d → %d is not a chainable edge inside it", v.Name, e.From, e.To)
			}
		}
	}
	if len(vertexOf) != len(g.Nodes) {
		t.Errorf("%d of %d nodes are in a vertex", len(vertexOf), len(g.Nodes))
	}
	carried := map[*Edge]int{}
	for _, v := range jg.Vertices {
		for _, e := range v.Internal {
			carried[e]++
		}
	}
	for i, je := range jg.Edges {
		carried[je.Edge]++
		if je.ID != i {
			t.Errorf("job edge %d has ID %d", i, je.ID)
		}
		if !je.Source.Contains(je.Edge.From) || !je.Target.Contains(je.Edge.To) {
			t.Errorf("job edge %d: stream edge %d → %d is not from %q to %q", i, je.Edge.From, je.Edge.To, je.Source.Name, je.Target.Name)
		}
		if je.Source == je.Target {
			t.Errorf("job edge %d loops on %q", i, je.Source.Name)
		}
		if count(je.Source.Outputs, je) != 1 || count(je.Target.Inputs, je) != 1 {
			t.Errorf("job edge %d is not once in its source's outputs and its target's inputs", i)
		}
	}
	for _, v := range jg.Vertices {
		for _, je := range v.Outputs {
			if je.Source != v {
				t.Errorf("vertex %q lists output %d of %q", v.Name, je.ID, je.Source.Name)
			}
		}
		for _, je := range v.Inputs {
			if je.Target != v {
				t.Errorf("vertex %q lists input %d of %q", v.Name, je.ID, je.Target.Name)
			}
		}
	}
	for i, e := range g.Edges {
		if carried[e] != 1 {
			t.Errorf("stream edge %d (%d → %d) is carried %d times", i, e.From, e.To, carried[e])
		}
	}
}

func count(es []*JobEdge, e *JobEdge) int {
	n := 0
	for _, x := range es {
		if x == e {
			n++
		}
	}
	return n
}

// The job edges of a vertex come in the order of the stream graph's edges,
// which is the order the runtime numbers their channels in.
func TestBuildJobGraphEdgeOrder(t *testing.T) {
	b := build(src("a", 1), src("b", 1), op("u", 2), sink("x", 1), sink("y", 1)).
		edge("b", "u", Rebalance).edge("a", "u", Rebalance).edge("u", "y", Rebalance).edge("u", "x", Rebalance)
	jg, err := BuildJobGraph(b.g)
	if err != nil {
		t.Fatal(err)
	}
	u := jg.Vertices[2]
	if u.Name != "u" || len(u.Inputs) != 2 || len(u.Outputs) != 2 {
		t.Fatalf("vertex %q with %d inputs, %d outputs", u.Name, len(u.Inputs), len(u.Outputs))
	}
	if u.Inputs[0].Source.Name != "b" || u.Inputs[1].Source.Name != "a" {
		t.Errorf("inputs from %q, %q; want b, a", u.Inputs[0].Source.Name, u.Inputs[1].Source.Name)
	}
	if u.Outputs[0].Target.Name != "y" || u.Outputs[1].Target.Name != "x" {
		t.Errorf("outputs to %q, %q; want y, x", u.Outputs[0].Target.Name, u.Outputs[1].Target.Name)
	}
	for i, je := range jg.Edges {
		if je.Edge != b.g.Edges[i] {
			t.Errorf("job edge %d carries stream edge %v, want %v", i, je.Edge, b.g.Edges[i])
		}
	}
}

func TestBuildJobGraphInvalid(t *testing.T) {
	g := build(src("in", 2), op("count", 2, keyed)).edge("in", "count", Forward).g
	jg, err := BuildJobGraph(g)
	if jg != nil || err == nil {
		t.Fatalf("BuildJobGraph = %v, %v; want the validation error", jg, err)
	}
	if want := g.Validate().Error(); err.Error() != want {
		t.Errorf("error %q, want Validate's %q", err, want)
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{SourceNode.String(), "source"},
		{OperatorNode.String(), "operator"},
		{SinkNode.String(), "sink"},
		{Kind(0).String(), "unknown"},
		{Forward.String(), "forward"},
		{Rebalance.String(), "rebalance"},
		{Hash.String(), "hash"},
		{Broadcast.String(), "broadcast"},
		{Partitioning(9).String(), "unknown"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}
