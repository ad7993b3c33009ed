package operators

import (
	"path/filepath"
	"testing"

	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/registry"
)

// TestExamples parses every job file in examples/ and builds its operators,
// so the examples stay valid as the operators change.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	r := registry.New()
	Register(r)
	for _, file := range files {
		spec, err := jobspec.Load(file)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, n := range spec.Operators {
			op, err := r.Operator(n.Type, n.NewParams())
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			if op.Keyed && n.KeyBy == nil {
				t.Errorf("%s: %s %q needs key-by", file, n.Type, n.Name)
			}
		}
	}
}
