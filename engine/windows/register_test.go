package windows_test

import (
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// buildNode builds node "op" of type typ from a YAML fragment of fields, as
// a job file does.
func buildNode(t *testing.T, typ, fields string) (registry.Operator, error) {
	t.Helper()
	file := "apiVersion: freshet/v1\nname: t\nsources: [{name: s, type: x}]\noperators:\n  - name: op\n    type: " + typ + "\n    key-by: key\n"
	for _, line := range strings.Split(strings.TrimSpace(fields), "\n") {
		if line != "" {
			file += "    " + line + "\n"
		}
	}
	file += "sinks: [{name: k, type: y}]\n"
	spec, err := jobspec.Parse("job.yaml", []byte(file))
	if err != nil {
		t.Fatalf("parsing %q: %v", fields, err)
	}
	r := registry.New()
	windows.Register(r)
	eventtime.Register(r)
	return r.Operator(typ, spec.Node("op").NewParams())
}

func TestJobFileWindows(t *testing.T) {
	bids := []api.Record{
		{Key: []byte("7"), Value: []byte(`{"auction":7,"price":10}`), Timestamp: 1000},
		{Key: []byte("7"), Value: []byte(`{"auction":7,"price":30}`), Timestamp: 4000},
		{Key: []byte("8"), Value: []byte(`{"auction":8,"price":5}`), Timestamp: 9000},
		{Key: []byte("7"), Value: []byte(`{"auction":7,"price":20}`), Timestamp: 12000},
	}
	tests := []struct {
		name, fields string
		want         []string
	}{
		{"tumbling max json", "assigner: tumbling\nsize: 10s\naggregate: max\nfield: price",
			[]string{`{"key":"7","start":0,"end":10000,"max":30}`, `{"key":"8","start":0,"end":10000,"max":5}`, `{"key":"7","start":10000,"end":20000,"max":20}`}},
		{"sliding count csv", "assigner: sliding\nsize: 10s\nslide: 5s\naggregate: count\nformat: csv",
			[]string{"7,-5000,5000,2", "7,0,10000,2", "7,5000,15000,1", "7,10000,20000,1", "8,0,10000,1", "8,5000,15000,1"}},
		{"session avg", "assigner: session\ngap: 5s\naggregate: avg\nfield: price",
			[]string{`{"key":"7","start":1000,"end":9000,"avg":20}`, `{"key":"8","start":9000,"end":14000,"avg":5}`, `{"key":"7","start":12000,"end":17000,"avg":20}`}},
		{"purging count trigger", "assigner: global\ntrigger: {type: count, count: 2, purge: true}\naggregate: sum\nfield: price",
			[]string{`{"key":"7","start":-9223372036854775808,"end":9223372036854775807,"sum":40}`}},
		{"trigger by name", "assigner: tumbling\nsize: 1h\ntrigger: never\naggregate: count", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := buildNode(t, "window", tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			if !b.Keyed {
				t.Error("window is not keyed")
			}
			op, err := b.New()
			if err != nil {
				t.Fatal(err)
			}
			h, err := windowstest.New(op, windowstest.Options{Keyed: true})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.Process(bids...); err != nil {
				t.Fatal(err)
			}
			if err := h.Finish(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range h.Records() {
				got = append(got, string(r.Value))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestJobFileErrors(t *testing.T) {
	tests := []struct {
		typ, fields string
		want        []string
	}{
		{"window", "assigner: tumbling\naggregate: count", []string{"job.yaml:5:", "size: required field is missing"}},
		{"window", "assigner: sliding\nsize: 1s\nslide: 2s\naggregate: count", []string{"slide 2000ms is larger than size"}},
		{"window", "assigner: hopping\naggregate: count", []string{"job.yaml:8:", `"hopping" is not one of`}},
		{"window", "assigner: tumbling\nsize: 1s\naggregate: median", []string{`"median" is not one of count`}},
		{"window", "assigner: tumbling\nsize: 1s\naggregate: count\nfield: price", []string{"count takes no field"}},
		{"window", "assigner: tumbling\nsize: 1s\nsise: 2s\naggregate: count", []string{"job.yaml:10:", "sise: unknown field"}},
		{"window", "assigner: tumbling\ntime: processing\nsize: 1s\nallowed-lateness: 1s\naggregate: count", []string{"allowed-lateness: applies to event-time windows only"}},
		{"window", "assigner: tumbling\nsize: 1s\naggregate: sum\nfield: a..b", []string{"field: invalid field path"}},
		{"window", "assigner: tumbling\nsize: 1s\ntrigger: {type: count}\naggregate: count", []string{"trigger.count: required field is missing"}},
		{"window", "assigner: tumbling\nsize: 1s\ntrigger: sometimes\naggregate: count", []string{`"sometimes" is not one of`}},
		{"watermarks", "strategy: bounded\n", []string{`"bounded" is not one of`}},
		{"watermarks", "strategy: punctuated", []string{"watermark-field: required field is missing"}},
		{"watermarks", "timestamp-field: a\ntimestamp-header: b", []string{"set timestamp-field or timestamp-header, not both"}},
		{"watermarks", "timestamp-format: fortnights\ntimestamp-field: t", []string{"fortnights"}},
		{"watermarks", "alignment-group: g", []string{"alignment-max-drift: required"}},
		{"watermarks", "max-out-of-orderness: soon", []string{"expected a duration"}},
	}
	for _, tt := range tests {
		_, err := buildNode(t, tt.typ, tt.fields)
		if err == nil {
			t.Errorf("%s %q: no error", tt.typ, tt.fields)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %q: error %q does not contain %q", tt.typ, tt.fields, err, w)
			}
		}
	}
}

func TestJobFileWatermarks(t *testing.T) {
	b, err := buildNode(t, "watermarks", "strategy: bounded-out-of-orderness\nmax-out-of-orderness: 2s\ntimestamp-field: dateTime\ninterval: 50ms\non-error: skip")
	if err != nil {
		t.Fatal(err)
	}
	op, err := b.New()
	if err != nil {
		t.Fatal(err)
	}
	if tk, ok := op.(api.Ticker); !ok || tk.TickInterval().Milliseconds() != 50 {
		t.Errorf("operator %T does not tick every 50ms", op)
	}
	h, err := windowstest.New(op, windowstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Process(api.Record{Value: []byte(`{"dateTime":10000}`)}, api.Record{Value: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := h.SetProcessingTime(100); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h.Events() {
		got = append(got, e.String())
	}
	want := []string{`record ""="{\"dateTime\":10000}"@10000`, "watermark 7999"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	if n := h.CounterValue("numRecordsSkipped"); n != 1 {
		t.Errorf("%d records skipped, want 1", n)
	}
}
