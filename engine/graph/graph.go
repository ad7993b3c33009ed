// Package graph holds the two graphs a job goes through before it runs.
//
// The StreamGraph is what the user wrote (through the Go API or a job file):
// one Node per source, operator and sink, and one Edge per connection, each
// with its partitioning. BuildJobGraph turns it into a JobGraph by chaining:
// nodes joined by a forward edge, with equal parallelism and nothing else
// feeding the downstream node, fuse into one JobVertex whose operators run in
// the same task and hand each other batches by function call. Every other edge
// becomes a JobEdge that the runtime turns into network channels.
//
// The JobManager expands each JobVertex into Parallelism subtasks (the
// execution graph) and deploys them to TaskManager slots.
package graph

import (
	"errors"
	"fmt"
	"strings"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
)

// Kind is the role of a node.
type Kind uint8

const (
	SourceNode Kind = iota + 1
	OperatorNode
	SinkNode
)

func (k Kind) String() string {
	switch k {
	case SourceNode:
		return "source"
	case OperatorNode:
		return "operator"
	case SinkNode:
		return "sink"
	}
	return "unknown"
}

// Partitioning says how records of an edge are spread over the subtasks of
// the downstream node.
type Partitioning uint8

const (
	// Forward sends subtask i's records to subtask i (equal parallelism).
	Forward Partitioning = iota
	// Rebalance sends records round robin.
	Rebalance
	// Hash sends each record to the subtask owning its key's key group.
	Hash
	// Broadcast sends every record to every subtask.
	Broadcast
)

func (p Partitioning) String() string {
	switch p {
	case Forward:
		return "forward"
	case Rebalance:
		return "rebalance"
	case Hash:
		return "hash"
	case Broadcast:
		return "broadcast"
	}
	return "unknown"
}

// KeySelector computes a record's key, appending it to dst.
type KeySelector func(r *api.Record, dst []byte) ([]byte, error)

// Chaining controls whether a node may share a task with its neighbours.
type Chaining uint8

const (
	// ChainAlways chains with upstream and downstream when possible.
	ChainAlways Chaining = iota
	// ChainHead starts a new chain at this node.
	ChainHead
	// ChainNever runs the node in a task of its own.
	ChainNever
)

// Node is one source, operator or sink.
type Node struct {
	ID          int
	Name        string
	Kind        Kind
	Parallelism int
	// MaxParallelism caps Parallelism for nodes that cannot scale (0: none).
	MaxParallelism int
	// NewSource makes one source per subtask (SourceNode only).
	NewSource func() (api.Source, error)
	// NewOperator makes one operator per subtask (OperatorNode, SinkNode).
	NewOperator func() (api.Operator, error)
	// Keyed nodes get keyed state and timers, and need a hash-partitioned input.
	Keyed    bool
	Chaining Chaining
	// Type is the registry type the node was built from ("" for Go code).
	Type string
	// Module is the WebAssembly module the node runs ("" for others).
	Module string
	// Rebuild makes a constructor of the same operator running another
	// module (hot-swap); nil when the node cannot swap its code.
	Rebuild func(module string) (func() (api.Operator, error), error)
}

// Edge connects two nodes.
type Edge struct {
	From, To     int
	Partitioning Partitioning
	// KeySelector sets the record key before hashing (Hash only). Nil means
	// the record already carries its key.
	KeySelector KeySelector
	// SideOutput names the side output of From this edge carries ("" for the
	// main output).
	SideOutput string
	// Input is the input index at To (0 for single-input operators; 0 or 1
	// for two-input operators such as joins).
	Input int
}

// StreamGraph is the logical graph of a job.
type StreamGraph struct {
	JobName        string
	MaxParallelism int
	Nodes          []*Node
	Edges          []*Edge
}

// AddNode appends n, assigning its ID.
func (g *StreamGraph) AddNode(n *Node) *Node {
	n.ID = len(g.Nodes)
	g.Nodes = append(g.Nodes, n)
	return n
}

// AddEdge appends e.
func (g *StreamGraph) AddEdge(e *Edge) { g.Edges = append(g.Edges, e) }

// Inputs returns the edges into node id.
func (g *StreamGraph) Inputs(id int) []*Edge {
	var out []*Edge
	for _, e := range g.Edges {
		if e.To == id {
			out = append(out, e)
		}
	}
	return out
}

// Outputs returns the edges out of node id.
func (g *StreamGraph) Outputs(id int) []*Edge {
	var out []*Edge
	for _, e := range g.Edges {
		if e.From == id {
			out = append(out, e)
		}
	}
	return out
}

// Validate checks the graph is runnable: parallelism in range, sources have
// no inputs and every other node has one, keyed nodes are fed by hash edges,
// forward edges join equal parallelism, and there is no cycle.
func (g *StreamGraph) Validate() error {
	var errs []error
	if g.MaxParallelism == 0 {
		g.MaxParallelism = keygroup.DefaultMaxParallelism
	}
	if len(g.Nodes) == 0 {
		return errors.New("the job has no sources")
	}
	if err := g.checkStructure(); err != nil {
		return err // the checks below would index missing nodes
	}
	hasSource := false
	for _, n := range g.Nodes {
		if err := keygroup.Validate(n.Parallelism, g.MaxParallelism); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", n.Kind, n.Name, err))
		}
		if n.MaxParallelism > 0 && n.Parallelism > n.MaxParallelism {
			errs = append(errs, fmt.Errorf("%s %q: parallelism %d exceeds its maximum of %d", n.Kind, n.Name, n.Parallelism, n.MaxParallelism))
		}
		ins := g.Inputs(n.ID)
		switch n.Kind {
		case SourceNode:
			hasSource = true
			if len(ins) > 0 {
				errs = append(errs, fmt.Errorf("source %q has an input", n.Name))
			}
			if n.NewSource == nil {
				errs = append(errs, fmt.Errorf("source %q has no constructor", n.Name))
			}
		default:
			if len(ins) == 0 {
				errs = append(errs, fmt.Errorf("%s %q has no input", n.Kind, n.Name))
			}
			if n.NewOperator == nil {
				errs = append(errs, fmt.Errorf("%s %q has no constructor", n.Kind, n.Name))
			}
		}
		for _, e := range ins {
			from := g.Nodes[e.From]
			if n.Keyed && e.Partitioning != Hash {
				errs = append(errs, fmt.Errorf("%s %q uses keyed state but its input from %q is not keyed (add a key-by)", n.Kind, n.Name, from.Name))
			}
			if e.Partitioning == Forward && from.Parallelism != n.Parallelism {
				errs = append(errs, fmt.Errorf("forward edge %q → %q joins parallelism %d and %d (use rebalance, or equal parallelism)", from.Name, n.Name, from.Parallelism, n.Parallelism))
			}
		}
	}
	if !hasSource {
		errs = append(errs, errors.New("the job has no sources"))
	}
	if _, err := g.TopoOrder(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkStructure reports nil nodes and edges, nodes whose ID is not their
// index (added without AddNode), and edges to nodes that do not exist: a
// graph built by hand is reported, not a panic.
func (g *StreamGraph) checkStructure() error {
	var errs []error
	for i, n := range g.Nodes {
		switch {
		case n == nil:
			errs = append(errs, fmt.Errorf("node %d is nil", i))
		case n.ID != i:
			errs = append(errs, fmt.Errorf("%s %q has ID %d but is node %d (add nodes with AddNode)", n.Kind, n.Name, n.ID, i))
		}
	}
	for i, e := range g.Edges {
		if e == nil {
			errs = append(errs, fmt.Errorf("edge %d is nil", i))
			continue
		}
		for _, id := range [2]int{e.From, e.To} {
			if id < 0 || id >= len(g.Nodes) {
				errs = append(errs, fmt.Errorf("edge %d (%d → %d) refers to node %d, which does not exist", i, e.From, e.To, id))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// TopoOrder returns node IDs so that every edge goes forward.
func (g *StreamGraph) TopoOrder() ([]int, error) {
	if err := g.checkStructure(); err != nil {
		return nil, err
	}
	indeg := make([]int, len(g.Nodes))
	for _, e := range g.Edges {
		indeg[e.To]++
	}
	var order, queue []int
	for id, d := range indeg {
		if d == 0 {
			queue = append(queue, id)
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		order = append(order, id)
		for _, e := range g.Outputs(id) {
			indeg[e.To]--
			if indeg[e.To] == 0 {
				queue = append(queue, e.To)
			}
		}
	}
	if len(order) != len(g.Nodes) {
		var names []string
		for id, on := range g.onCycles(indeg) {
			if on {
				names = append(names, g.Nodes[id].Name)
			}
		}
		return nil, fmt.Errorf("the job graph has a cycle through %s", strings.Join(names, ", "))
	}
	return order, nil
}

// onCycles narrows the nodes Kahn's algorithm left unordered (indeg > 0),
// which include everything downstream of a cycle, to those with a path back
// into the unordered set: the nodes on cycles and between them.
func (g *StreamGraph) onCycles(indeg []int) []bool {
	left := make([]bool, len(g.Nodes))
	outdeg := make([]int, len(g.Nodes))
	for id, d := range indeg {
		left[id] = d > 0
	}
	for _, e := range g.Edges {
		if left[e.From] && left[e.To] {
			outdeg[e.From]++
		}
	}
	var queue []int
	for id := range left {
		if left[id] && outdeg[id] == 0 {
			queue = append(queue, id)
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		left[id] = false
		for _, e := range g.Inputs(id) {
			if left[e.From] {
				if outdeg[e.From]--; outdeg[e.From] == 0 {
					queue = append(queue, e.From)
				}
			}
		}
	}
	return left
}
