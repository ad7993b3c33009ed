package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/metrics"
	"github.com/freshet/freshet/engine/stream"
)

// start runs a job file on its own MiniCluster.
func start(t *testing.T, yaml string) *stream.JobClient {
	t.Helper()
	spec, err := jobspec.Parse("job.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	env, err := job.Build(spec, stream.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.ExecuteAsync(context.Background(), spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Cancel(context.Background()); _, _ = c.Wait(context.Background()) })
	return c
}

// value returns the value of the series of name whose labels include
// want ("k=v"), and whether there is one.
func value(t *testing.T, reg *prometheus.Registry, name string, want ...string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, w := range want {
				k, v, _ := strings.Cut(w, "=")
				if !hasLabel(m, k, v) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestJobCheckpointAndClusterMetrics(t *testing.T) {
	dir := t.TempDir()
	c := start(t, fmt.Sprintf(`apiVersion: freshet/v1
name: metered
parallelism: 2
config:
  checkpointing: {interval: 50ms, dir: %s}
sources:
  - {name: gen, type: datagen, rows-per-second: 2000}
sinks:
  - {name: out, type: file, path: %s}
`, filepath.Join(dir, "cp"), filepath.Join(dir, "out")))
	reg := metrics.NewRegistry(c.Cluster())
	job := "job=" + c.ID
	eventually(t, "two checkpoints", func() bool {
		n, _ := value(t, reg, "freshet_job_checkpoints_completed_total", job)
		return n >= 2
	})
	id, ok := value(t, reg, "freshet_job_last_checkpoint_id", job)
	if !ok || id < 1 {
		t.Fatalf("last checkpoint id %v %v", id, ok)
	}
	if size, _ := value(t, reg, "freshet_job_last_checkpoint_size_bytes", job); size <= 0 {
		t.Fatalf("last checkpoint size %v", size)
	}
	if ts, _ := value(t, reg, "freshet_job_last_checkpoint_completed_timestamp_seconds", job); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Fatalf("last checkpoint time %v", ts)
	}
	for _, name := range []string{"freshet_job_last_checkpoint_duration_seconds", "freshet_job_last_checkpoint_sync_duration_seconds"} {
		if _, ok := value(t, reg, name, job); !ok {
			t.Fatalf("no %s", name)
		}
	}
	if n, _ := value(t, reg, "freshet_job_last_checkpoint_checkpointed_size_bytes", job); n <= 0 {
		t.Fatalf("checkpointed size %v", n)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"freshet_job_state", []string{job, "state=RUNNING"}, 1},
		{"freshet_job_state", []string{job, "state=FAILED"}, 0},
		{"freshet_job_running", []string{job}, 1},
		{"freshet_jobmanager_jobs", []string{"state=RUNNING"}, 1},
		{"freshet_jobmanager_jobs", []string{"state=CANCELED"}, 0},
		{"freshet_job_restarts_total", []string{job}, 0},
		{"freshet_job_checkpoints_failed_total", []string{job}, 0},
		// Emitted before the registry existed, counted once.
		{"freshet_job_events_total", []string{job, "type=JOB_STATE_CHANGED"}, 1},
		{"freshet_vertex_parallelism", []string{job}, 2},
		{"freshet_task_back_pressure_level", []string{job}, 0},
		{"freshet_jobmanager_taskmanagers", nil, 1},
		{"freshet_jobmanager_slots_total", nil, 2},
		{"freshet_taskmanager_slots", []string{"taskmanager=taskmanager-0"}, 2},
	} {
		got, ok := value(t, reg, tc.name, tc.labels...)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if up, _ := value(t, reg, "freshet_job_uptime_seconds", job); up <= 0 {
		t.Errorf("uptime %v", up)
	}
	if _, ok := value(t, reg, "freshet_task_current_input_watermark_ms", job); ok {
		t.Error("a job without event time reports a watermark")
	}
	cps, _ := value(t, reg, "freshet_job_events_total", job, "type=CHECKPOINT_COMPLETED")
	done, _ := value(t, reg, "freshet_job_checkpoints_completed_total", job)
	// Read one after the other while checkpoints keep completing (every
	// few milliseconds): either may be ahead by one or two.
	if cps < done-2 || cps > done+2 {
		t.Errorf("events say %v checkpoints completed, the counter %v", cps, done)
	}
}

func TestRestartsAreCounted(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(input, []byte("{\"a\":1}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := start(t, fmt.Sprintf(`apiVersion: freshet/v1
name: flaky
config:
  restart-strategy: {type: fixed-delay, attempts: 2, delay: 10ms}
sources:
  - {name: in, type: file, format: json, path: %s}
sinks:
  - {name: out, type: discard}
`, input))
	reg := metrics.NewRegistry(c.Cluster())
	if _, err := c.Wait(context.Background()); err == nil {
		t.Fatal("the job should fail")
	}
	job := "job=" + c.ID
	eventually(t, "the failure to be counted", func() bool {
		n, _ := value(t, reg, "freshet_job_state", job, "state=FAILED")
		return n == 1
	})
	if n, _ := value(t, reg, "freshet_job_restarts_total", job); n != 2 {
		t.Errorf("restarts %v, want 2", n)
	}
	if n, _ := value(t, reg, "freshet_job_events_total", job, "type=TASK_FAILED"); n != 3 {
		t.Errorf("task failures %v, want 3", n)
	}
}

func TestRESTRequestsAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.NewREST(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("{}"))
	})
	srv := httptest.NewServer(m.Wrap(mux))
	defer srv.Close()
	for _, p := range []string{"/v1/jobs/a", "/v1/jobs/b", "/v1/jobs/missing", "/v1/elsewhere", "/v1/other"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"freshet_rest_requests_total", []string{"route=GET /v1/jobs/{id}", "code=200"}, 2},
		{"freshet_rest_requests_total", []string{"route=GET /v1/jobs/{id}", "code=404"}, 1},
		{"freshet_rest_requests_total", []string{"route=unmatched", "code=404"}, 2},
		{"freshet_rest_request_duration_seconds", []string{"route=GET /v1/jobs/{id}"}, 3},
	} {
		if got, _ := value(t, reg, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if _, err := metrics.NewREST(reg); err == nil {
		t.Error("registering the REST metrics twice should fail")
	}
}
