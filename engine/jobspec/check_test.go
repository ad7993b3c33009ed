package jobspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

type nopOperator struct{ api.BaseOperator }

func (nopOperator) ProcessBatch(*api.Batch, api.Output) error { return nil }

// testRegistry has a source that needs a path, a keyed operator with an
// integer field, and a sink limited to parallelism 1.
func testRegistry() *registry.Registry {
	r := registry.New()
	r.AddSource("file", "reads files", func(p *params.Params) (func() (api.Source, error), error) {
		p.Required("path")
		p.String("path", "")
		return func() (api.Source, error) { return nil, nil }, p.Err()
	})
	r.AddOperator("count", "counts per key", func(p *params.Params) (registry.Operator, error) {
		p.IntRange("limit", 0, 0, 10)
		return registry.Operator{New: func() (api.Operator, error) { return nopOperator{}, nil }, Keyed: true}, p.Err()
	})
	r.AddOperator("identity", "passes records", func(p *params.Params) (registry.Operator, error) {
		return registry.Operator{New: func() (api.Operator, error) { return nopOperator{}, nil }}, p.Err()
	})
	r.AddSink("stdout", "prints", func(p *params.Params) (registry.Operator, error) {
		return registry.Operator{New: func() (api.Operator, error) { return nopOperator{}, nil }, MaxParallelism: 1}, p.Err()
	})
	return r
}

func TestCheck(t *testing.T) {
	const file = `apiVersion: freshet/v1
name: check
sources:
  - name: a
    type: file
    pth: x.txt
operators:
  - name: b
    type: count
  - name: c
    type: idenity
  - name: d
    input: b
    type: count
    key-by: value
    limit: 11
    limitt: 1
sinks:
  - name: out
    inputs: [c, d]
    type: stdout
    parallelism: 2
`
	s, err := Parse("check.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	err = Check(s, testRegistry())
	want := `check.yaml:4:5: sources[0].path: required field is missing
check.yaml:6:10: sources[0].pth: unknown field (did you mean "path"?)
check.yaml:9:11: operators[0].key-by: operator "count" keeps state per key, so its input needs key-by (value, key or {field: path})
check.yaml:11:11: operators[1].type: unknown operator type "idenity" (did you mean "identity"?)
check.yaml:16:12: operators[2].limit: 11 is out of range [0, 10]
check.yaml:17:13: operators[2].limitt: unknown field (did you mean "limit"?)
check.yaml:22:18: sinks[0].parallelism: sink "stdout" runs with parallelism at most 1`
	if err == nil || err.Error() != want {
		t.Errorf("Check:\n%v\nwant:\n%s", err, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Check error does not match ErrInvalid")
	}
	var pe *params.Error
	if !errors.As(err, &pe) || pe.Pos.Line != 4 {
		t.Errorf("errors.As(*params.Error) = %v", pe)
	}

	// Check can run twice: Params are fresh each time.
	if err2 := Check(s, testRegistry()); err2 == nil || err2.Error() != want {
		t.Errorf("second Check differs:\n%v", err2)
	}
}

func TestCheckAcceptsGoodFiles(t *testing.T) {
	s := loadGood(t, "defaults.yaml")
	r := testRegistry()
	for _, typ := range []string{"uppercase", "filter"} {
		r.AddOperator(typ, "", func(p *params.Params) (registry.Operator, error) {
			for _, k := range p.Keys() {
				p.Raw(k)
			}
			return registry.Operator{New: func() (api.Operator, error) { return nopOperator{}, nil }}, nil
		})
	}
	r.AddSource("datagen", "", func(p *params.Params) (func() (api.Source, error), error) {
		return func() (api.Source, error) { return nil, nil }, p.Err()
	})
	if err := Check(s, r); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestLoad(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "good", "wordcount.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "word-count" || !strings.HasSuffix(s.Node("lines").Pos.File, "wordcount.yaml") {
		t.Errorf("Load: name %q, pos %s", s.Name, s.Node("lines").Pos)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "loading job file: ") {
		t.Errorf("Load of a missing file: %v", err)
	}
	big := make([]byte, MaxFileSize+1)
	if _, err := Parse("big.yaml", big); err == nil || !strings.Contains(err.Error(), "the limit is") {
		t.Errorf("Parse of a huge file: %v", err)
	}
}
