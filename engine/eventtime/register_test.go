package eventtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// TestFromParamsSourceBlock reads a `watermarks:` block of a source, the
// way the job builder hands it over (p.Sub("watermarks")).
func TestFromParamsSourceBlock(t *testing.T) {
	p := params.FromMap("sources[0]", map[string]any{
		"type": "kafka",
		"watermarks": map[string]any{
			"strategy":             "bounded-out-of-orderness",
			"max-out-of-orderness": "3s",
			"timestamp-header":     "ts",
			"timestamp-format":     "s",
			"idleness":             "1m",
			"alignment-group":      "g",
			"alignment-max-drift":  "10s",
		},
	})
	p.Raw("type")
	s := eventtime.FromParams(p.Sub("watermarks"), "skip")
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	if s.Idleness != time.Minute || s.Alignment.Group != "g" || s.Alignment.MaxDrift != 10*time.Second || s.Interval != eventtime.DefaultInterval {
		t.Errorf("strategy %+v", s)
	}
	if s.OnError.Action != "skip" {
		t.Errorf("on-error %q, want the job default skip", s.OnError.Action)
	}
	s.Alignment.Coordinator = &eventtime.InProcessCoordinator{}
	op, err := eventtime.NewOperator(s)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windowstest.New(op, windowstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_ = h.Process(api.Record{Value: []byte("x"), Headers: []api.Header{{Key: []byte("ts"), Value: []byte("100")}}})
	_ = h.SetProcessingTime(300)
	var got []string
	for _, e := range h.Events() {
		got = append(got, e.String())
	}
	if want := `record ""="x"@100000|watermark 96999`; strings.Join(got, "|") != want {
		t.Errorf("got %q, want %q", strings.Join(got, "|"), want)
	}
}

func TestFromParamsMistakes(t *testing.T) {
	p := params.FromMap("operators[0]", map[string]any{"strategy": "punctuated", "interval": "0s", "idleness": "-1s", "bogus": 1})
	eventtime.FromParams(p, "")
	err := p.Err()
	for _, want := range []string{"watermark-field: required", "interval: must be positive", "idleness: must not be negative", "bogus: unknown field"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}
