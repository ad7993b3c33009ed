package connectors_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/connectors"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

func TestRegisterAddsEveryConnector(t *testing.T) {
	r := registry.New()
	connectors.Register(r)
	if got := slices.Sorted(maps.Keys(r.Doc("source"))); !slices.Equal(got, []string{"datagen", "file", "nexmark", "stdin"}) {
		t.Fatalf("sources %v", got)
	}
	if got := slices.Sorted(maps.Keys(r.Doc("sink"))); !slices.Equal(got, []string{"discard", "file", "stdout"}) {
		t.Fatalf("sinks %v", got)
	}
	for kind, docs := range map[string]map[string]string{"source": r.Doc("source"), "sink": r.Doc("sink")} {
		for name, doc := range docs {
			if doc == "" || strings.Contains(doc, "\n") {
				t.Errorf("%s %s: doc must be one line, got %q", kind, name, doc)
			}
		}
	}
}

// TestNexmarkToFileAndBack runs generated events through the file sink and
// reads the committed part files back with the file source.
func TestNexmarkToFileAndBack(t *testing.T) {
	r := registry.New()
	connectors.Register(r)
	dir := filepath.Join(t.TempDir(), "out")
	newSrc, err := r.Source("nexmark", params.FromMap("sources[0]", map[string]any{"events": 2000, "seed": 1}))
	if err != nil {
		t.Fatal(err)
	}
	sink, err := r.Sink("file", params.FromMap("sinks[0]", map[string]any{"path": dir, "rolling-size": "64KiB", "suffix": ".jsonl"}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		src, _ := newSrc()
		got, _, err := conntest.RunSource(conntest.NewContext("events", i, 2), src, 500, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		op, _ := sink.New()
		if err := conntest.RunSink(conntest.NewContext("out", i, 2), op, true, got.Batch); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) < 4 {
		t.Fatalf("only %d part files for about 600KB at 64KiB each", len(entries))
	}
	back, err := r.Source("file", params.FromMap("sources[1]", map[string]any{"path": dir, "format": "json"}))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := range 3 {
		src, _ := back()
		got, _, err := conntest.RunSource(conntest.NewContext("back", i, 3), src, 128, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		total += got.Batch.Len()
	}
	if total != 2000 {
		t.Fatalf("read back %d events, want 2000", total)
	}
}
