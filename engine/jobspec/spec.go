// Package jobspec owns Freshet's job file format: a versioned YAML document
// that declares a job as a directed acyclic graph of named sources, operators
// and sinks (docs/job-spec.md describes every field).
//
// Parse decodes a file into a Spec and validates its structure: known fields,
// unique names, inputs that exist, no cycles, parallelism in range. Every
// problem is reported, not just the first, each as file:line:col, the field's
// path and what is wrong:
//
//	job.yaml:12:7: operators[1].key-by: "user" is not value or key; ...
//
// What each component does with its own fields (a file source's path, a
// tokenize operator's min-length) is not known here: a Node's Params carry
// them, with positions, to the registry builder of its type, which validates
// them. Check runs those builders against a registry, so `freshet validate`
// reports the mistakes of the whole file at once.
//
// Invariants of a Spec returned by Parse or Overrides.Apply:
//   - node names are unique across sources, operators and sinks, and consist
//     of letters, digits, '-' and '_';
//   - sources have no inputs; every operator and sink has at least one input,
//     each the name of a source or operator, and the graph has no cycle;
//   - every source and operator feeds at least one node;
//   - a Node's Parallelism is 0 (the job's) or within [1, MaxParallelism].
package jobspec

import (
	"fmt"
	"strings"

	"github.com/freshet/freshet/engine/params"
	"gopkg.in/yaml.v3"
)

// APIVersionV1 is the only job file version so far.
const APIVersionV1 = "freshet/v1"

// SupportedAPIVersions lists the apiVersion values Parse accepts.
var SupportedAPIVersions = []string{APIVersionV1}

// On-error policies: what a component does with a record it cannot process.
const (
	OnErrorFail       = "fail"        // fail the task (and restart the job)
	OnErrorSkip       = "skip"        // drop the record and count it
	OnErrorDeadLetter = "dead-letter" // send the record to the "dead-letter" side output
)

// OnErrorPolicies lists the on-error values.
var OnErrorPolicies = []string{OnErrorFail, OnErrorSkip, OnErrorDeadLetter}

// Partitioning of an edge.
const (
	PartitionForward   = "forward"   // subtask i to subtask i; needs equal parallelism
	PartitionRebalance = "rebalance" // round robin
	PartitionBroadcast = "broadcast" // every record to every subtask
	PartitionHash      = "hash"      // by key group of the record key; written as key-by
)

// Partitions lists the values a job file may give `partition`.
var Partitions = []string{PartitionForward, PartitionRebalance, PartitionBroadcast}

// Kind is the role of a node.
type Kind uint8

const (
	SourceKind Kind = iota + 1
	OperatorKind
	SinkKind
)

func (k Kind) String() string {
	switch k {
	case SourceKind:
		return "source"
	case OperatorKind:
		return "operator"
	case SinkKind:
		return "sink"
	}
	return "unknown"
}

// Section is the top-level field that lists nodes of kind k.
func (k Kind) Section() string { return k.String() + "s" }

// KeyByKind says what a key selector takes as the record key.
type KeyByKind uint8

const (
	// KeyByValue keys by the whole record value.
	KeyByValue KeyByKind = iota + 1
	// KeyByKey keeps the record key as it is (for example a Kafka key).
	KeyByKey
	// KeyByField keys by a field of a JSON value.
	KeyByField
)

// KeyBy is how a node's input is partitioned by key.
type KeyBy struct {
	Kind KeyByKind
	// Field is the JSON field path (see package jsonpath) for KeyByField.
	Field string
	Pos   params.Pos
}

func (k *KeyBy) String() string {
	switch k.Kind {
	case KeyByValue:
		return "value"
	case KeyByKey:
		return "key"
	case KeyByField:
		return "field " + k.Field
	}
	return "unknown"
}

// Spec is a parsed and validated job file.
type Spec struct {
	APIVersion string
	Name       string
	// Parallelism is the default parallelism of every node (default 1).
	Parallelism int
	// MaxParallelism is the number of key groups (default 128).
	MaxParallelism int
	// OnError is the default on-error policy (default fail).
	OnError string
	// DeadLetterPath is the default file for records set aside by the
	// dead-letter policy ("" for none).
	DeadLetterPath string
	// Config holds engine settings (memory, checkpointing, ...); the
	// runtime reads and validates them.
	Config *params.Params

	Sources, Operators, Sinks []*Node

	// File is the name Parse was given.
	File string

	pos    params.Pos
	root   *yaml.Node            // the document, kept for Overrides
	origin map[*yaml.Node]string // nodes that came from overrides
	byName map[string]*Node
}

// Node is one source, operator or sink.
type Node struct {
	Name string
	Type string
	Kind Kind
	// Inputs names the nodes this one reads from, in order (none for sources).
	Inputs []string
	// KeyBy, when set, partitions every input by key.
	KeyBy *KeyBy
	// Partition is forward, rebalance or broadcast, or "" for the default
	// (see Spec.PartitionOf).
	Partition string
	// Parallelism is 0 for the job's default.
	Parallelism int
	// OnError is "" for the job's default.
	OnError string
	// Params carries every field that is not structural, for the registry
	// builder. It also holds the effective on-error policy under "on-error"
	// and, for nodes whose policy is dead-letter and that set no
	// dead-letter-path of their own, the job's dead-letter-path. Both are
	// marked read, so builders of components that meet bad records can read
	// them (see engine/onerror) and others need not.
	Params *params.Params
	// Pos is where the node's mapping starts.
	Pos params.Pos

	index      int
	values     map[string]params.Value
	onError    params.Value // effective policy, with where it was written
	deadLetter params.Value // the job's dead-letter-path, when the node inherits it
	fieldPos   map[string]params.Pos
	inputPos   []params.Pos
	defaulted  bool // Inputs were not written: the previous node
}

// Path is the node's place in the file, e.g. "operators[1]".
func (n *Node) Path() string { return fmt.Sprintf("%s[%d]", n.Kind.Section(), n.index) }

// NewParams returns fresh Params for the node (Params can be read once per
// build: they remember which fields were read).
func (n *Node) NewParams() *params.Params {
	vals := make(map[string]params.Value, len(n.values)+1)
	for k, v := range n.values {
		vals[k] = v
	}
	vals["on-error"] = n.onError
	if n.deadLetter.V != nil {
		vals["dead-letter-path"] = n.deadLetter
	}
	p := params.New(n.Path(), n.Pos, vals)
	// Always available, never reported as unknown.
	p.Raw("on-error")
	if n.deadLetter.V != nil {
		p.Raw("dead-letter-path")
	}
	return p
}

// Nodes returns every node in file order: sources, operators, sinks.
func (s *Spec) Nodes() []*Node {
	out := make([]*Node, 0, len(s.Sources)+len(s.Operators)+len(s.Sinks))
	out = append(out, s.Sources...)
	out = append(out, s.Operators...)
	return append(out, s.Sinks...)
}

// Node returns the node called name, or nil.
func (s *Spec) Node(name string) *Node { return s.byName[name] }

// SplitInput splits an input reference into the node it names and the side
// output it reads: "late-bids" reads node late-bids' main output,
// "max-price.late" its side output "late". Node names cannot hold dots.
func SplitInput(in string) (node, side string) {
	node, side, _ = strings.Cut(in, ".")
	return node, side
}

// ParallelismOf is n's parallelism: its own, or the job's.
func (s *Spec) ParallelismOf(n *Node) int {
	if n.Parallelism > 0 {
		return n.Parallelism
	}
	return s.Parallelism
}

// OnErrorOf is n's on-error policy: its own, or the job's.
func (s *Spec) OnErrorOf(n *Node) string {
	if n.OnError != "" {
		return n.OnError
	}
	return s.OnError
}

// PartitionOf is the partitioning of the edge from → to: hash when to has a
// key-by, else to's partition, else forward when both run with the same
// parallelism and rebalance otherwise.
func (s *Spec) PartitionOf(from, to *Node) string {
	switch {
	case to.KeyBy != nil:
		return PartitionHash
	case to.Partition != "":
		return to.Partition
	case s.ParallelismOf(from) == s.ParallelismOf(to):
		return PartitionForward
	}
	return PartitionRebalance
}

// Edge is one connection of the job graph.
type Edge struct {
	From, To *Node
	// Partition is forward, rebalance, broadcast or hash.
	Partition string
	// KeyBy is set for hash edges.
	KeyBy *KeyBy
}

// Edges lists every edge, by consumer in file order, then by input order.
func (s *Spec) Edges() []Edge {
	var out []Edge
	for _, to := range s.Nodes() {
		for _, in := range to.Inputs {
			name, _ := SplitInput(in)
			from := s.byName[name]
			out = append(out, Edge{From: from, To: to, Partition: s.PartitionOf(from, to), KeyBy: to.KeyBy})
		}
	}
	return out
}

// TopoOrder returns every node so that each comes after its inputs; where
// the graph leaves a choice, nodes come in file order, each preceded by the
// inputs it still needs.
func (s *Spec) TopoOrder() []*Node {
	nodes := s.Nodes()
	state := make(map[*Node]uint8, len(nodes)) // 1 visiting, 2 done
	out := make([]*Node, 0, len(nodes))
	var visit func(n *Node)
	visit = func(n *Node) {
		if state[n] != 0 {
			return // done, or on a cycle (impossible for a validated Spec)
		}
		state[n] = 1
		for _, in := range n.Inputs {
			name, _ := SplitInput(in)
			if from := s.byName[name]; from != nil {
				visit(from)
			}
		}
		state[n] = 2
		out = append(out, n)
	}
	for _, n := range nodes {
		visit(n)
	}
	return out
}
