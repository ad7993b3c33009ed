package spec_test

import (
	"context"
	"fmt"
	"log"

	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/harness/spec"
)

// Operator authors run their specs from `go test` as well as with
// `freshet test`: load the spec (spec.Load for a file, or spec.Run in one
// call), run it against the built module, and fail the test with the report.
// guestWasm is testdata/guest, built as `freshet build testdata/guest` does.
func Example() {
	ctx := context.Background()
	rt, err := host.NewRuntime(ctx, host.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)

	s, err := spec.Parse("words.yaml", []byte(`
function: words
cases:
  - name: splits on spaces
    steps:
      - record: {key: line-1, value: "to be", timestamp: 7}
        output:
          - {key: to, value: to, timestamp: 7}
          - {key: be, value: be, timestamp: 7}
  - name: a wrong expectation
    steps:
      - record: "or not"
        output: [or, knot]
`))
	if err != nil {
		log.Fatal(err) // a malformed spec: file:line:column and what is wrong
	}
	rep, err := s.Run(ctx, rt, guestWasm, spec.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d passed, %d failed\n", rep.Passed(), rep.Failed())
	for _, c := range rep.Cases {
		for _, f := range c.Failures {
			fmt.Printf("%s: %s\n", c.Name, f)
		}
	}
	// In a test: if rep.Failed() > 0 { t.Fatal(rep) }

	// Output:
	// 1 passed, 1 failed
	// a wrong expectation: step 1 (words.yaml:12, record): output differs: expected 2 records, got 2 (- expected, + got):
	//     [0] {key "or", value "or", timestamp none}
	//   - [1] {value "knot"}
	//   + [1] {key "not", value "not", timestamp none}
}
