package spec_test

import (
	"errors"
	"os"
	"testing"

	"github.com/freshet/freshet/host/harness/spec"
)

// FuzzParse: a spec is user input; Parse never panics and every error it
// returns is a malformed-spec error.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/guest.yaml", "../../../plugins/tests/fraud.yaml", "../../../plugins/tests/tokenizer.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("cases:\n  - name: c\n    steps:\n      - record: {value: {json: {a: [1, 2]}}}\n        output: [x]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("cases: [{name: x, open-error: y}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := spec.Parse("f.yaml", data)
		if err != nil {
			if !errors.Is(err, spec.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(s.Cases) == 0 {
			t.Fatal("a valid spec without cases")
		}
	})
}
