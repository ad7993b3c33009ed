package jobspec

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/params"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.golden from the current output")

// TestGolden parses every testdata/good/*.yaml and compares a dump of the
// spec with its .golden file, and every testdata/bad/*.yaml and compares the
// error text.
func TestGolden(t *testing.T) {
	for _, dir := range []string{"good", "bad"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no test files in testdata/%s: %v", dir, err)
		}
		for _, file := range files {
			t.Run(dir+"/"+filepath.Base(file), func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				name := filepath.Base(file)
				spec, err := Parse(name, data)
				var got string
				switch dir {
				case "good":
					if err != nil {
						t.Fatalf("Parse: %v", err)
					}
					got = dump(spec)
				case "bad":
					if err == nil {
						t.Fatalf("Parse accepted a bad file")
					}
					if !errors.Is(err, ErrInvalid) {
						t.Errorf("error does not match ErrInvalid: %v", err)
					}
					got = err.Error() + "\n"
				}
				golden := strings.TrimSuffix(file, ".yaml") + ".golden"
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("output differs from %s (run go test -update to accept)\n--- got\n%s--- want\n%s", golden, got, want)
				}
			})
		}
	}
}

// dump prints a spec with every resolved default and every param with its
// position, in a stable order.
func dump(s *Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: %s\nname: %s\nparallelism: %d\nmax-parallelism: %d\non-error: %s\n",
		s.APIVersion, s.Name, s.Parallelism, s.MaxParallelism, s.OnError)
	fmt.Fprintf(&b, "config: %s\n", dumpParams(s.Config))
	for _, n := range s.Nodes() {
		fmt.Fprintf(&b, "%s %s %q type=%s @%s parallelism=%d on-error=%s\n", n.Path(), n.Kind, n.Name, n.Type, n.Pos, s.ParallelismOf(n), s.OnErrorOf(n))
		if len(n.Inputs) > 0 {
			def := ""
			if n.defaulted {
				def = " (default)"
			}
			fmt.Fprintf(&b, "  inputs: %s%s\n", strings.Join(n.Inputs, ", "), def)
		}
		if n.KeyBy != nil {
			fmt.Fprintf(&b, "  key-by: %s @%s\n", n.KeyBy, n.KeyBy.Pos)
		}
		if n.Partition != "" {
			fmt.Fprintf(&b, "  partition: %s\n", n.Partition)
		}
		fmt.Fprintf(&b, "  params: %s\n", dumpParams(n.Params))
	}
	b.WriteString("edges:\n")
	for _, e := range s.Edges() {
		fmt.Fprintf(&b, "  %s -> %s %s\n", e.From.Name, e.To.Name, e.Partition)
	}
	b.WriteString("order:")
	for _, n := range s.TopoOrder() {
		b.WriteString(" " + n.Name)
	}
	b.WriteString("\n")
	return b.String()
}

func dumpParams(p *params.Params) string {
	var parts []string
	for _, k := range p.Keys() {
		v, _ := p.Raw(k)
		parts = append(parts, k+"="+dumpValue(v))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func dumpValue(v params.Value) string {
	var s string
	switch x := v.V.(type) {
	case []params.Value:
		var items []string
		for _, e := range x {
			items = append(items, dumpValue(e))
		}
		s = "[" + strings.Join(items, " ") + "]"
	case map[string]params.Value:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var items []string
		for _, k := range keys {
			items = append(items, k+":"+dumpValue(x[k]))
		}
		s = "{" + strings.Join(items, " ") + "}"
	case string:
		s = fmt.Sprintf("%q", x)
	default:
		s = fmt.Sprintf("%v(%T)", x, x)
	}
	if v.Pos.Line > 0 {
		s += fmt.Sprintf("@%d:%d", v.Pos.Line, v.Pos.Col)
	} else if v.Pos.File != "" {
		s += "@" + v.Pos.File
	}
	return s
}
