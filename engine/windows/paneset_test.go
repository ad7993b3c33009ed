package windows

import (
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// TestFarPaneJoinsItsSetPane covers the moment the runtime's processing-time
// timers allow and the harness does not: records of a far pane reach the
// key's set (the clock has passed the pane's move time) before the far
// pane's timer moved it there. The move must merge the two.
func TestFarPaneJoinsItsSetPane(t *testing.T) {
	o, err := NewOperator(Config{Assigner: Sliding(10*time.Millisecond, 5*time.Millisecond),
		Aggregate: Numeric(SumAgg), Input: NumberField(jsonpath.Path{})})
	if err != nil {
		t.Fatal(err)
	}
	if !o.paneSet {
		t.Fatal("10 ms every 5 ms should keep a key's panes in one value")
	}
	h, err := windowstest.New(o, windowstest.Options{Keyed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rec := func(v string, ts int64) api.Record {
		return api.Record{Key: []byte("a"), Value: []byte(v), Timestamp: ts}
	}
	// Before any watermark every pane is far.
	if err := h.Process(rec("1", 200)); err != nil {
		t.Fatal(err)
	}
	// A record of the same pane that lands in the set (as if the pane had
	// come within the horizon), while the far pane waits for its timer.
	horizon := o.horizon
	o.horizon = 1 << 40
	if err := h.Process(rec("2", 201)); err != nil {
		t.Fatal(err)
	}
	o.horizon = horizon
	if err := h.Finish(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range h.Records() {
		got = append(got, string(r.Value))
	}
	if want := "3\n3"; strings.Join(got, "\n") != want {
		t.Errorf("window sums %q, want both windows of the pane at 3", got)
	}
	if n := h.PendingTimers(); n != 0 {
		t.Errorf("%d timers left", n)
	}
}
