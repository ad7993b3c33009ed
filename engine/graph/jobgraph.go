package graph

import "strings"

// JobVertex is a chain of nodes that runs as one task per subtask.
type JobVertex struct {
	ID          int
	Name        string
	Parallelism int
	// Nodes are the chained nodes in topological order; Nodes[0] is the head.
	Nodes []*Node
	// Internal are the forward edges inside the chain.
	Internal []*Edge
	// Inputs and Outputs are the network edges of the vertex.
	Inputs  []*JobEdge
	Outputs []*JobEdge
}

// Head is the first node of the chain.
func (v *JobVertex) Head() *Node { return v.Nodes[0] }

// Contains reports whether node id runs in this vertex.
func (v *JobVertex) Contains(id int) bool {
	for _, n := range v.Nodes {
		if n.ID == id {
			return true
		}
	}
	return false
}

// JobEdge is a network connection between two vertices.
type JobEdge struct {
	ID             int
	Source, Target *JobVertex
	// Edge is the stream edge it carries (From is in Source, To in Target).
	Edge *Edge
}

// JobGraph is the chained graph the JobManager schedules.
type JobGraph struct {
	JobName        string
	MaxParallelism int
	Vertices       []*JobVertex
	Edges          []*JobEdge
	Stream         *StreamGraph
}

// Chainable reports whether e may be a call inside one task.
func (g *StreamGraph) Chainable(e *Edge) bool {
	from, to := g.Nodes[e.From], g.Nodes[e.To]
	return e.Partitioning == Forward &&
		e.SideOutput == "" &&
		from.Parallelism == to.Parallelism &&
		from.Chaining != ChainNever && to.Chaining == ChainAlways &&
		len(g.Inputs(e.To)) == 1
}

// BuildJobGraph chains g (which must be valid) into a JobGraph.
func BuildJobGraph(g *StreamGraph) (*JobGraph, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	order, _ := g.TopoOrder()
	vertexOf := make([]*JobVertex, len(g.Nodes))
	jg := &JobGraph{JobName: g.JobName, MaxParallelism: g.MaxParallelism, Stream: g}
	for _, id := range order {
		n := g.Nodes[id]
		ins := g.Inputs(id)
		if len(ins) == 1 && g.Chainable(ins[0]) {
			v := vertexOf[ins[0].From]
			v.Nodes = append(v.Nodes, n)
			v.Internal = append(v.Internal, ins[0])
			vertexOf[id] = v
			continue
		}
		v := &JobVertex{ID: len(jg.Vertices), Parallelism: n.Parallelism, Nodes: []*Node{n}}
		jg.Vertices = append(jg.Vertices, v)
		vertexOf[id] = v
	}
	for _, e := range g.Edges {
		if vertexOf[e.From] == vertexOf[e.To] {
			continue
		}
		je := &JobEdge{ID: len(jg.Edges), Source: vertexOf[e.From], Target: vertexOf[e.To], Edge: e}
		jg.Edges = append(jg.Edges, je)
		je.Source.Outputs = append(je.Source.Outputs, je)
		je.Target.Inputs = append(je.Target.Inputs, je)
	}
	for _, v := range jg.Vertices {
		names := make([]string, len(v.Nodes))
		for i, n := range v.Nodes {
			names[i] = n.Name
		}
		v.Name = strings.Join(names, " -> ")
	}
	return jg, nil
}
