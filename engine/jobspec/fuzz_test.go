package jobspec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.yaml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "sources.lines.path=/x")
	}
	f.Add([]byte("a: &a [*a]\n"), "config.a.b=[1, {c: *d}]")
	f.Add([]byte("<<: {<<: {<<: {}}}\n"), "x")
}

// FuzzParse checks that Parse and Overrides never panic, that every error
// matches ErrInvalid, and that an accepted spec keeps the package invariants.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			return
		}
		checkInvariants(t, s)
		s2, err := Overrides{Set: []string{set}, Parallelism: 2}.Apply(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("override error does not match ErrInvalid: %v", err)
			}
			return
		}
		checkInvariants(t, s2)
	})
}

func checkInvariants(t *testing.T, s *Spec) {
	t.Helper()
	nodes := s.Nodes()
	names := map[string]bool{}
	for _, n := range nodes {
		if names[n.Name] || !validName.MatchString(n.Name) {
			t.Fatalf("bad or duplicate name %q", n.Name)
		}
		names[n.Name] = true
		if (n.Kind == SourceKind) != (len(n.Inputs) == 0) {
			t.Fatalf("%s %q has %d inputs", n.Kind, n.Name, len(n.Inputs))
		}
		if p := s.ParallelismOf(n); p < 1 || p > s.MaxParallelism {
			t.Fatalf("%q: parallelism %d", n.Name, p)
		}
		if n.Params == nil {
			t.Fatalf("%q: nil params", n.Name)
		}
	}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if from := s.Node(in); from == nil || from.Kind == SinkKind {
				t.Fatalf("%q reads %q", n.Name, in)
			}
		}
	}
	if order := s.TopoOrder(); len(order) != len(nodes) {
		t.Fatalf("topological order has %d of %d nodes: a cycle got through", len(order), len(nodes))
	}
}
