package discard_test

import (
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/connectors/discard"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

func TestDiscardCounts(t *testing.T) {
	r := registry.New()
	discard.Register(r)
	op, err := r.Sink("discard", params.FromMap("sinks[0]", nil))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := op.New()
	b := api.NewBatch(3)
	for range 3 {
		b.Append(nil, []byte("x"), 0)
	}
	ctx := conntest.NewContext("null", 0, 1)
	if err := conntest.RunSink(ctx, s, true, b, b); err != nil {
		t.Fatal(err)
	}
	if got := ctx.CounterValue(discard.Counter); got != 6 || s.(*discard.Sink).Count() != 6 {
		t.Fatalf("counted %d, want 6", got)
	}
	if _, err := r.Sink("discard", params.FromMap("sinks[0]", map[string]any{"path": "x"})); err == nil ||
		!strings.Contains(err.Error(), "sinks[0].path: unknown field") {
		t.Fatalf("err = %v", err)
	}
}
