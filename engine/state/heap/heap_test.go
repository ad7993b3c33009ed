package heap_test

import (
	"testing"

	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
	"github.com/freshet/freshet/engine/state/statetest"
)

func newBackend(t *testing.T, opts state.Options) state.Backend {
	t.Helper()
	b, err := heap.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) { statetest.Run(t, newBackend) }
