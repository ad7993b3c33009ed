package nexmark_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

func buildSource(t testing.TB, fields map[string]any) (func() (api.Source, error), error) {
	t.Helper()
	r := registry.New()
	nexmark.Register(r)
	return r.Source("nexmark", params.FromMap("sources[0]", fields))
}

func TestSourceThroughRegistry(t *testing.T) {
	for _, format := range []string{"json", "binary"} {
		t.Run(format, func(t *testing.T) {
			newSrc, err := buildSource(t, map[string]any{"events": 5000, "seed": 3, "format": format,
				"start-time": "2024-01-01T00:00:00Z", "events-per-second": 1000})
			if err != nil {
				t.Fatal(err)
			}
			base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
			var kinds [3]int
			total := 0
			for i := range 2 {
				src, _ := newSrc()
				got, _, err := conntest.RunSource(conntest.NewContext("events", i, 2), src, 300, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range got.Batch.Records {
					var ev nexmark.Event
					if format == "binary" {
						if err := nexmark.DecodeBinary(r.Value, &ev); err != nil {
							t.Fatal(err)
						}
					} else {
						var m struct {
							Type     string `json:"type"`
							DateTime int64  `json:"dateTime"`
						}
						if err := json.Unmarshal(r.Value, &m); err != nil {
							t.Fatal(err)
						}
						ev.Kind = map[string]nexmark.Kind{"person": 0, "auction": 1, "bid": 2}[m.Type]
						ev.Bid.DateTime, ev.Person.DateTime, ev.Auction.DateTime = m.DateTime, m.DateTime, m.DateTime
					}
					if r.Timestamp != ev.Timestamp() || r.Timestamp < base || r.Timestamp > base+5000 {
						t.Fatalf("record timestamp %d, event dateTime %d, base %d", r.Timestamp, ev.Timestamp(), base)
					}
					kinds[ev.Kind]++
					total++
				}
			}
			if total != 5000 || kinds != [3]int{100, 300, 4600} {
				t.Fatalf("%d events, kinds %v", total, kinds)
			}
		})
	}
}

func TestSourceParamErrors(t *testing.T) {
	tests := []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"format": "avro"}, `sources[0].format: "avro" is not one of json, binary`},
		{map[string]any{"start-time": "yesterday"}, "sources[0].start-time: expected an RFC 3339 time"},
		{map[string]any{"events": 0}, "sources[0].events: 0 is out of range"},
		{map[string]any{"events-per-second": 0}, "sources[0].events-per-second: must be a positive number"},
		{map[string]any{"hot-bidder-ratio": 0}, "sources[0].hot-bidder-ratio: 0 is out of range"},
		{map[string]any{"evnets": 10}, "sources[0].evnets: unknown field"},
		{map[string]any{"out-of-order": "-1s"}, "sources[0].out-of-order: must not be negative"},
	}
	for _, tc := range tests {
		_, err := buildSource(t, tc.fields)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.fields, err, tc.want)
		}
	}
}

func TestSourcePacing(t *testing.T) {
	newSrc, err := buildSource(t, map[string]any{"events": 60, "rows-per-second": 300})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := newSrc()
	start := time.Now()
	got, st, err := conntest.RunSource(conntest.NewContext("events", 0, 1), src, 1000, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); got.Batch.Len() != 60 || took < 150*time.Millisecond || st.Polls > 200 {
		t.Fatalf("%d events in %v with %d polls; want 60 in about 200ms", got.Batch.Len(), took, st.Polls)
	}
}

func TestSourcePollAllocatesNothing(t *testing.T) {
	if conntest.RaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, format := range []string{"json", "binary"} {
		newSrc, err := buildSource(t, map[string]any{"format": format})
		if err != nil {
			t.Fatal(err)
		}
		src, _ := newSrc()
		if err := src.Open(conntest.NewContext("events", 0, 1)); err != nil {
			t.Fatal(err)
		}
		out := conntest.NewSourceContext(500)
		src.Poll(out)
		allocs := testing.AllocsPerRun(20, func() {
			out.Batch.Reset()
			src.Poll(out)
		})
		src.Close()
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Poll of 500 events", format, allocs)
		}
	}
}
