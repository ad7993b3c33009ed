package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardUsesOnlyExportedMetrics keeps
// deploy/grafana/freshet-dashboard.json in step with the metrics: every
// freshet_* name its queries use must be one this package exports.
func TestDashboardUsesOnlyExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/freshet-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	exported := map[string]bool{
		"freshet_rest_requests_total":                  true,
		"freshet_rest_request_duration_seconds_bucket": true,
		"freshet_rest_request_duration_seconds_sum":    true,
		"freshet_rest_request_duration_seconds_count":  true,
	}
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for _, d := range descs {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		exported[m[1]] = true
	}
	name := regexp.MustCompile(`freshet_[a-z_]+`)
	used := map[string]bool{}
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, n := range name.FindAllString(tg.Expr, -1) {
				used[n] = true
				if !exported[n] {
					t.Errorf("panel %q uses %s, which engine/metrics does not export", p.Title, n)
				}
			}
		}
	}
	if queries < 20 {
		t.Fatalf("only %d queries in the dashboard", queries)
	}
	for _, want := range []string{"records_out", "back_pressured", "checkpoint", "watermark", "network_memory"} {
		found := false
		for n := range used {
			found = found || strings.Contains(n, want)
		}
		if !found {
			t.Errorf("the dashboard has no panel over *%s* metrics", want)
		}
	}
}
