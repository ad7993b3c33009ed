package jobspec_test

import (
	"fmt"

	"github.com/freshet/freshet/engine/jobspec"
)

func ExampleParse() {
	spec, err := jobspec.Parse("job.yaml", []byte(`
apiVersion: freshet/v1
name: word-count
parallelism: 2
sources:
  - {name: lines, type: file, path: in.txt, parallelism: 1}
operators:
  - {name: words, type: tokenize}
  - {name: counts, type: count, key-by: value}
sinks:
  - {name: out, type: stdout}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range spec.Edges() {
		fmt.Printf("%s -> %s (%s)\n", e.From.Name, e.To.Name, e.Partition)
	}
	// Output:
	// lines -> words (rebalance)
	// words -> counts (hash)
	// counts -> out (forward)
}

func ExampleParse_errors() {
	_, err := jobspec.Parse("job.yaml", []byte(`
apiVersion: freshet/v1
name: broken
paralelism: 2
sources:
  - {name: lines, type: file}
operators:
  - {name: counts, input: line, type: count, key-by: user.id}
sinks:
  - {name: out, type: stdout}
`))
	fmt.Println(err)
	// Output:
	// job.yaml:4:1: paralelism: unknown field (did you mean "parallelism"?)
	// job.yaml:8:27: operators[0].input: no source or operator is named "line" (did you mean "lines"?)
	// job.yaml:8:54: operators[0].key-by: "user.id" is not value or key; to key by a JSON field write key-by: {field: user.id}
}

func ExampleOverrides() {
	spec, _ := jobspec.Parse("job.yaml", []byte(`
apiVersion: freshet/v1
name: job
sources: [{name: lines, type: file, path: in.txt}]
sinks: [{name: out, type: stdout}]
`))
	_, err := jobspec.Overrides{Set: []string{"sources.line.path=/tmp/x"}, Parallelism: 4}.Apply(spec)
	fmt.Println(err)
	spec, _ = jobspec.Overrides{Set: []string{"sources.lines.path=/tmp/x"}, Parallelism: 4}.Apply(spec)
	fmt.Println(spec.Parallelism, spec.Node("lines").Params.String("path", ""))
	// Output:
	// --set sources.line.path: there is no source named "line" (did you mean "lines"?)
	// 4 /tmp/x
}
