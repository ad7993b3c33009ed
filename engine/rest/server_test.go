package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/rest"
	"github.com/freshet/freshet/engine/rest/resttest"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/modules"
)

// env is a REST server over a real MiniCluster and a real module store.
type env struct {
	t     *testing.T
	url   string
	srv   *rest.Server
	mc    *cluster.MiniCluster
	store *modules.Store
	dir   string
}

type envOpts struct {
	noStore     bool
	maxJobBytes int64
	maxModBytes int64
	wrap        func(*rest.LocalCluster) rest.Cluster
	registry    *registry.Registry
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	dir := t.TempDir() // removed after the cluster has stopped writing to it
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mc, err := cluster.NewMiniCluster(cluster.MiniClusterConfig{TaskManagers: 2, TaskManager: cluster.TaskManagerConfig{Slots: 2}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Close() })
	var c rest.Cluster = rest.NewLocalCluster(mc, rest.LocalConfig{Logger: log, Registry: o.registry})
	if o.wrap != nil {
		c = o.wrap(c.(*rest.LocalCluster))
	}
	cfg := rest.Config{Cluster: c, Version: "test", Logger: log, MaxJobFileBytes: o.maxJobBytes, MaxModuleBytes: o.maxModBytes}
	e := &env{t: t, mc: mc, dir: dir}
	if !o.noStore {
		ctx := context.Background()
		rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: "off"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rt.Close(ctx) })
		if e.store, err = modules.Open(filepath.Join(e.dir, "modules"), rt); err != nil {
			t.Fatal(err)
		}
		cfg.Modules = e.store
	}
	if e.srv, err = rest.NewServer(cfg); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(e.srv)
	t.Cleanup(func() { hs.Close(); _ = e.srv.Close() })
	e.url = hs.URL
	return e
}

// call sends a request and returns the status and body.
func (e *env) call(method, path, contentType string, body []byte) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("%s %s: Content-Type %q, want application/json; body %s", method, path, ct, b)
	}
	return resp.StatusCode, b
}

// ok sends a request that must succeed with status and decodes its body.
func (e *env) ok(method, path, contentType string, body []byte, status int, out any) {
	e.t.Helper()
	got, b := e.call(method, path, contentType, body)
	if got != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, got, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v; body %s", method, path, err, b)
		}
	}
}

// fails sends a request that must fail with status and code, with a
// message containing every want.
func (e *env) fails(method, path, contentType string, body []byte, status int, code string, want ...string) rest.ErrorBody {
	e.t.Helper()
	got, b := e.call(method, path, contentType, body)
	var eb rest.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil {
		e.t.Fatalf("%s %s: error body is not JSON: %s", method, path, b)
	}
	if got != status || eb.Code != code {
		e.t.Fatalf("%s %s: %d %q, want %d %q; message %q", method, path, got, eb.Code, status, code, eb.Message)
	}
	all := eb.Message + "\n" + strings.Join(eb.Details, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			e.t.Fatalf("%s %s: message %q lacks %q", method, path, all, w)
		}
	}
	return eb
}

func (e *env) submit(job string) string {
	e.t.Helper()
	var res rest.SubmitResponse
	e.ok("POST", "/v1/jobs", "application/yaml", []byte(job), http.StatusCreated, &res)
	if res.ID == "" {
		e.t.Fatal("submit returned no job ID")
	}
	return res.ID
}

func (e *env) job(id string) rest.JobDetails {
	e.t.Helper()
	var d rest.JobDetails
	e.ok("GET", "/v1/jobs/"+id, "", nil, http.StatusOK, &d)
	return d
}

// eventually polls cond every 50 ms for up to 15 s.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) waitState(id, state string) rest.JobDetails {
	e.t.Helper()
	var d rest.JobDetails
	e.eventually("job "+id+" to be "+state, func() bool { d = e.job(id); return d.State == state })
	return d
}

// endless is an unbounded, paced job writing a sequence to a file sink,
// with checkpoints every 100 ms.
func endless(name, dir string, parallelism int) string {
	return fmt.Sprintf(`apiVersion: freshet/v1
name: %s
parallelism: %d
config:
  checkpointing: {interval: 100ms, dir: %s}
sources:
  - {name: gen, type: datagen, rows-per-second: 2000}
operators:
  - {name: upper, type: uppercase}
sinks:
  - {name: out, type: file, path: %s}
`, name, parallelism, filepath.Join(dir, name+"-checkpoints"), filepath.Join(dir, name+"-out"))
}

func TestOverviewAndTaskManagers(t *testing.T) {
	e := newEnv(t, envOpts{})
	var o rest.Overview
	e.ok("GET", "/v1/overview", "", nil, http.StatusOK, &o)
	if o != (rest.Overview{Version: "test", TaskManagers: 2, Slots: 4}) {
		t.Fatalf("overview %+v", o)
	}
	id := e.submit(endless("a", e.dir, 2))
	e.ok("PATCH", "/v1/jobs/"+id+"?mode=cancel", "", nil, http.StatusAccepted, nil)
	e.waitState(id, rest.StateCanceled)
	e.submit(endless("b", e.dir, 1))
	e.ok("GET", "/v1/overview", "", nil, http.StatusOK, &o)
	if o.JobsRunning != 1 || o.JobsCancelled != 1 || o.JobsFinished != 0 || o.JobsFailed != 0 {
		t.Fatalf("overview %+v", o)
	}
	var tms rest.TaskManagerList
	e.ok("GET", "/v1/taskmanagers", "", nil, http.StatusOK, &tms)
	if len(tms.TaskManagers) != 2 || tms.TaskManagers[0].Slots != 2 || tms.TaskManagers[0].NetworkMemory.Total <= 0 {
		t.Fatalf("taskmanagers %+v", tms)
	}
}

func TestSubmitListDetailsCancel(t *testing.T) {
	e := newEnv(t, envOpts{})
	var empty rest.JobList
	e.ok("GET", "/v1/jobs", "", nil, http.StatusOK, &empty)
	if empty.Jobs == nil || len(empty.Jobs) != 0 {
		t.Fatalf("no jobs should be an empty list, got %s", mustJSON(empty))
	}
	id := e.submit(endless("endless", e.dir, 2))
	var list rest.JobList
	e.ok("GET", "/v1/jobs", "", nil, http.StatusOK, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != id || list.Jobs[0].Name != "endless" || list.Jobs[0].State != rest.StateRunning || list.Jobs[0].EndTime != nil {
		t.Fatalf("jobs %s", mustJSON(list))
	}

	var d rest.JobDetails
	e.eventually("records to flow", func() bool {
		d = e.job(id)
		return len(d.Vertices) > 0 && len(d.Vertices[0].Operators) == 3 && d.Vertices[0].Operators[2].RecordsIn > 0
	})
	if len(d.Vertices) != 1 { // gen -> upper -> out, chained
		t.Fatalf("vertices %s", mustJSON(d.Vertices))
	}
	v := d.Vertices[0]
	if v.Parallelism != 2 || v.Status != "RUNNING" || !v.Source || !v.Sink || len(v.Operators) != 3 || v.Operators[1].Name != "upper" ||
		v.BackPressure == "" || v.WatermarkState != rest.WatermarkNone || v.Watermark != nil {
		t.Fatalf("vertex %s", mustJSON(v))
	}
	var byName rest.Vertex
	e.ok("GET", "/v1/jobs/"+id+"/vertices/upper", "", nil, http.StatusOK, &byName)
	if byName.ID != v.ID {
		t.Fatalf("vertex by operator name: %s", mustJSON(byName))
	}
	e.ok("GET", fmt.Sprintf("/v1/jobs/%s/vertices/%d", id, v.ID), "", nil, http.StatusOK, &byName)
	e.fails("GET", "/v1/jobs/"+id+"/vertices/nope", "", nil, 404, rest.CodeNotFound, `no vertex or operator "nope"`, "0 (")

	var js rest.JobSummary
	e.ok("PATCH", "/v1/jobs/"+id+"?mode=cancel", "", nil, http.StatusAccepted, &js)
	if js.State != rest.StateCancelling && js.State != rest.StateCanceled {
		t.Fatalf("after cancel: %s", js.State)
	}
	d = e.waitState(id, rest.StateCanceled)
	if d.EndTime == nil || d.EndTime.Before(d.StartTime) {
		t.Fatalf("end time %v, start %v", d.EndTime, d.StartTime)
	}
	e.fails("PATCH", "/v1/jobs/"+id+"?mode=cancel", "", nil, 409, rest.CodeConflict, "already ended CANCELED")
}

func TestUnknownJobAndRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, path := range []string{"/v1/jobs/0123456789abcdef", "/v1/jobs/nope/checkpoints", "/v1/jobs/nope/exceptions", "/v1/jobs/nope/events",
		"/v1/jobs/nope/vertices/0", "/v1/jobs/nope/savepoints/r1", "/v1/jobs/nope/swaps/r1"} {
		e.fails("GET", path, "", nil, 404, rest.CodeNotFound, "no job with ID")
	}
	e.fails("PATCH", "/v1/jobs/nope?mode=cancel", "", nil, 404, rest.CodeNotFound, `"nope"`)
	e.fails("POST", "/v1/jobs/nope/stop", "", nil, 404, rest.CodeNotFound)
	e.fails("POST", "/v1/jobs/nope/savepoints", "application/json", []byte(`{"target-directory": "/tmp/x"}`), 404, rest.CodeNotFound)
	e.fails("GET", "/v1/nothing", "", nil, 404, rest.CodeNotFound, "no such endpoint")
	e.fails("GET", "/v2/jobs", "", nil, 404, rest.CodeNotFound)
	e.fails("DELETE", "/v1/jobs", "", nil, 405, rest.CodeMethodNotAllowed, "DELETE is not allowed", "GET")
	e.fails("PUT", "/v1/jobs/x", "", nil, 405, rest.CodeMethodNotAllowed)
}

func TestSubmitRefusesBadInput(t *testing.T) {
	e := newEnv(t, envOpts{maxJobBytes: 4096})
	good := endless("good", e.dir, 1)
	tests := []struct {
		name, path, ctype, body string
		status                  int
		code                    string
		want                    []string
	}{
		{"malformed YAML", "/v1/jobs?file=bad.yaml", "application/yaml", "name: [unclosed\n", 400, rest.CodeInvalidJob, []string{"bad.yaml:1", "invalid YAML"}},
		{"unknown source type", "/v1/jobs?file=j.yaml", "application/yaml", strings.Replace(good, "type: datagen", "type: datagenn", 1), 400, rest.CodeInvalidJob, []string{"j.yaml:", "sources[0].type", "datagen"}},
		{"several mistakes", "/v1/jobs", "application/yaml", strings.Replace(strings.Replace(good, "rows-per-second: 2000", "rows-per-second: -1", 1), "type: uppercase", "type: nope", 1), 400, rest.CodeInvalidJob, []string{"2 problems", "rows-per-second", "operators[0].type"}},
		{"bad parameter", "/v1/jobs", "", strings.Replace(good, "rows-per-second: 2000", "rows-per-second: fast", 1), 400, rest.CodeInvalidJob, []string{"job.yaml:", "rows-per-second"}},
		{"empty body", "/v1/jobs", "application/yaml", "  \n", 400, rest.CodeBadRequest, []string{"no job file"}},
		{"wrong content type", "/v1/jobs", "application/wasm", good, 415, rest.CodeUnsupportedMediaType, []string{"application/yaml"}},
		{"curl's default", "/v1/jobs", "application/x-www-form-urlencoded", good, 415, rest.CodeUnsupportedMediaType, []string{"-H 'Content-Type: application/yaml'"}},
		{"malformed content type", "/v1/jobs", "a/b; =", good, 400, rest.CodeBadRequest, []string{"Content-Type"}},
		{"too large", "/v1/jobs", "application/yaml", good + "#" + strings.Repeat("x", 5000) + "\n", 413, rest.CodeTooLarge, []string{"4096"}},
		{"unknown query parameter", "/v1/jobs?fromSavepoint=x", "application/yaml", good, 400, rest.CodeBadRequest, []string{`"fromSavepoint"`, "from-savepoint"}},
		{"bad parallelism", "/v1/jobs?parallelism=zero", "application/yaml", good, 400, rest.CodeBadRequest, []string{"parallelism"}},
		{"bad bool", "/v1/jobs?allow-non-restored-state=maybe", "application/yaml", good, 400, rest.CodeBadRequest, []string{"allow-non-restored-state"}},
		{"bad override", "/v1/jobs?set=sources.nope.x=1", "application/yaml", good, 400, rest.CodeInvalidJob, []string{"nope"}},
		{"missing savepoint", "/v1/jobs?from-savepoint=" + filepath.Join(e.dir, "absent"), "application/yaml", good, 400, rest.CodeBadRequest, []string{"absent"}},
		{"too many slots", "/v1/jobs?parallelism=5", "application/yaml", good, 409, rest.CodeConflict, []string{"needs 5 slots", "has 4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.fails("POST", tc.path, tc.ctype, []byte(tc.body), tc.status, tc.code, tc.want...)
		})
	}
	e.t = t
	var list rest.JobList
	e.ok("GET", "/v1/jobs", "", nil, http.StatusOK, &list)
	if len(list.Jobs) != 0 {
		t.Fatalf("refused submissions started jobs: %s", mustJSON(list))
	}
}

func TestSubmitAppliesOverridesAndWarns(t *testing.T) {
	e := newEnv(t, envOpts{})
	job := strings.Replace(endless("o", e.dir, 1), "config:\n", "config:\n  network-memory: 32MiB\n", 1)
	var res rest.SubmitResponse
	e.ok("POST", "/v1/jobs?parallelism=3&set=sources.gen.rows-per-second%3D100", "application/yaml", []byte(job), http.StatusCreated, &res)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "config.network-memory") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	d := e.job(res.ID)
	if d.Vertices[0].Parallelism != 3 {
		t.Fatalf("parallelism override not applied: %s", mustJSON(d.Vertices))
	}
}

func TestCheckpointsSavepointStopAndResume(t *testing.T) {
	e := newEnv(t, envOpts{})
	id := e.submit(endless("resumable", e.dir, 2))
	var cps rest.Checkpoints
	e.eventually("two completed checkpoints", func() bool {
		e.ok("GET", "/v1/jobs/"+id+"/checkpoints", "", nil, http.StatusOK, &cps)
		return cps.Counts.Completed >= 2
	})
	if cps.Latest == nil || cps.Latest.Status != rest.StatusCompleted || cps.Latest.Path == "" || cps.Latest.Acknowledged != 2 || cps.Latest.StateSize <= 0 {
		t.Fatalf("latest checkpoint %s", mustJSON(cps.Latest))
	}
	if cps.Counts.Total != len(cps.History) || cps.History[0].ID >= cps.History[len(cps.History)-1].ID || cps.History[0].TriggerTime.IsZero() {
		t.Fatalf("history %s", mustJSON(cps))
	}

	// A savepoint, polled to completion.
	spDir := filepath.Join(e.dir, "savepoints")
	var acc rest.Accepted
	e.ok("POST", "/v1/jobs/"+id+"/savepoints", "application/json", []byte(`{"target-directory": "`+spDir+`"}`), http.StatusAccepted, &acc)
	sp := e.pollOperation(id, acc.RequestID)
	if sp.Status != rest.StatusCompleted || !strings.HasPrefix(sp.Location, spDir) {
		t.Fatalf("savepoint %s", mustJSON(sp))
	}
	if _, err := os.Stat(filepath.Join(sp.Location, "_metadata")); err != nil {
		t.Fatalf("savepoint has no metadata: %v", err)
	}
	e.ok("GET", "/v1/jobs/"+id+"/checkpoints", "", nil, http.StatusOK, &cps)
	if !cps.Latest.Savepoint && !hasSavepoint(cps) {
		t.Fatalf("the savepoint is not in the history: %s", mustJSON(cps))
	}

	// Stop with a savepoint: the job finishes.
	stopDir := filepath.Join(e.dir, "stop")
	e.ok("POST", "/v1/jobs/"+id+"/stop", "application/json", []byte(`{"target-directory": "`+stopDir+`", "drain": true}`), http.StatusAccepted, &acc)
	stop := e.pollOperation(id, acc.RequestID)
	if stop.Status != rest.StatusCompleted || !strings.HasPrefix(stop.Location, stopDir) {
		t.Fatalf("stop %s", mustJSON(stop))
	}
	if d := e.job(id); d.State != rest.StateFinished {
		t.Fatalf("after stop the job is %s", d.State)
	}
	e.fails("POST", "/v1/jobs/"+id+"/savepoints", "application/json", []byte(`{"target-directory": "`+spDir+`"}`), 409, rest.CodeConflict, "FINISHED")

	// Resume from the stop's savepoint: the sequence goes on where it was.
	var res rest.SubmitResponse
	e.ok("POST", "/v1/jobs?from-savepoint="+stop.Location, "application/yaml", []byte(endless("resumable", e.dir, 2)), http.StatusCreated, &res)
	e.eventually("the resumed job to take a checkpoint", func() bool {
		e.ok("GET", "/v1/jobs/"+res.ID+"/checkpoints", "", nil, http.StatusOK, &cps)
		return cps.Counts.Completed >= 1
	})
	// Stop without a savepoint.
	e.ok("POST", "/v1/jobs/"+res.ID+"/stop", "", nil, http.StatusAccepted, &acc)
	if st := e.pollOperation(res.ID, acc.RequestID); st.Status != rest.StatusCompleted || st.Location != "" {
		t.Fatalf("plain stop %s", mustJSON(st))
	}
	checkSequences(t, readLines(t, filepath.Join(e.dir, "resumable-out")), 2)
}

// checkSequences checks that the datagen sequence of p subtasks was written
// exactly once: subtask i writes i, i+p, i+2p, ... and stops anywhere.
func checkSequences(t *testing.T, lines []string, p int) {
	t.Helper()
	if len(lines) == 0 {
		t.Fatal("no output")
	}
	seen := map[int]bool{}
	top := make([]int, p)
	for _, l := range lines {
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("output line %q", l)
		}
		if seen[n] {
			t.Fatalf("record %d written twice: the resumed job did not start at the savepoint", n)
		}
		seen[n] = true
		top[n%p] = max(top[n%p], n)
	}
	for i := range p {
		for n := i; n <= top[i]; n += p {
			if !seen[n] {
				t.Fatalf("record %d missing (subtask %d wrote up to %d)", n, i, top[i])
			}
		}
	}
}

func hasSavepoint(cps rest.Checkpoints) bool {
	for _, c := range cps.History {
		if c.Savepoint && c.Status == rest.StatusCompleted {
			return true
		}
	}
	return false
}

func (e *env) pollOperation(id, rid string) rest.OperationStatus {
	e.t.Helper()
	var st rest.OperationStatus
	e.eventually("request "+rid, func() bool {
		e.ok("GET", "/v1/jobs/"+id+"/savepoints/"+rid, "", nil, http.StatusOK, &st)
		return st.Status != rest.StatusInProgress
	})
	return st
}

// readLines returns the lines of the committed part files in dir.
func readLines(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}

func TestSavepointAndStopRefuseBadInput(t *testing.T) {
	e := newEnv(t, envOpts{})
	id := e.submit(endless("j", e.dir, 1))
	sp, stop := "/v1/jobs/"+id+"/savepoints", "/v1/jobs/"+id+"/stop"
	tests := []struct {
		name, path, ctype, body string
		status                  int
		code                    string
		want                    []string
	}{
		{"no body", sp, "application/json", "", 400, rest.CodeBadRequest, []string{"JSON body"}},
		{"no target", sp, "application/json", `{}`, 400, rest.CodeBadRequest, []string{"target-directory is required"}},
		{"malformed", sp, "application/json", `{"target-directory": `, 400, rest.CodeBadRequest, []string{"malformed JSON"}},
		{"wrong type", sp, "application/json", `{"target-directory": 7}`, 400, rest.CodeBadRequest, []string{`"target-directory"`, "string"}},
		{"unknown field", sp, "application/json", `{"target-dir": "/tmp"}`, 400, rest.CodeBadRequest, []string{`unknown field "target-dir"`}},
		{"two values", sp, "application/json", `{"target-directory": "/tmp"} {}`, 400, rest.CodeBadRequest, []string{"more than one"}},
		{"not JSON", sp, "text/plain", `target`, 415, rest.CodeUnsupportedMediaType, []string{"application/json"}},
		{"huge", sp, "application/json", `{"target-directory": "` + strings.Repeat("a", 2<<20) + `"}`, 413, rest.CodeTooLarge, nil},
		{"no drain", stop, "application/json", `{"drain": false}`, 501, rest.CodeNotImplemented, []string{"without draining"}},
		{"stop unknown field", stop, "application/json", `{"savepoint": "/tmp"}`, 400, rest.CodeBadRequest, []string{"savepoint"}},
		{"cancel without mode", "/v1/jobs/" + id, "", "", 400, rest.CodeBadRequest, []string{"mode=cancel"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			method := "POST"
			if tc.name == "cancel without mode" {
				method = "PATCH"
			}
			e.fails(method, tc.path, tc.ctype, []byte(tc.body), tc.status, tc.code, tc.want...)
		})
	}
	e.t = t
	e.fails("PATCH", "/v1/jobs/"+id+"?mode=stop", "", nil, 400, rest.CodeBadRequest, `mode "stop"`)
	e.fails("GET", sp+"/0000", "", nil, 404, rest.CodeNotFound, `request "0000"`)
	if d := e.job(id); d.State != rest.StateRunning {
		t.Fatalf("refused requests changed the job: %s", d.State)
	}
	// A request ID of another job is not found under this one.
	other := e.submit(endless("k", e.dir, 1))
	var acc rest.Accepted
	e.ok("POST", sp, "application/json", []byte(`{"target-directory": "`+filepath.Join(e.dir, "sp")+`"}`), http.StatusAccepted, &acc)
	e.fails("GET", "/v1/jobs/"+other+"/savepoints/"+acc.RequestID, "", nil, 404, rest.CodeNotFound)
	e.pollOperation(id, acc.RequestID)
}

func TestExceptionsOfAFailedJob(t *testing.T) {
	e := newEnv(t, envOpts{})
	input := filepath.Join(e.dir, "in.jsonl")
	if err := os.WriteFile(input, []byte("{\"a\":1}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := e.submit(fmt.Sprintf(`apiVersion: freshet/v1
name: failing
sources:
  - {name: in, type: file, format: json, path: %s}
sinks:
  - {name: out, type: discard}
`, input))
	d := e.waitState(id, rest.StateFailed)
	if !strings.Contains(d.Error, "in.jsonl:2") {
		t.Fatalf("job error %q does not name the bad line", d.Error)
	}
	var ex rest.Exceptions
	e.eventually("the job's failure in the exceptions", func() bool {
		e.ok("GET", "/v1/jobs/"+id+"/exceptions", "", nil, http.StatusOK, &ex)
		return len(ex.Exceptions) >= 2
	})
	if ex.RootException != d.Error {
		t.Fatalf("exceptions %s", mustJSON(ex))
	}
	types := map[string]bool{}
	for _, x := range ex.Exceptions {
		types[x.Type] = true
	}
	if !types[string(cluster.EventTaskFailed)] || !types[string(cluster.EventJobStateChanged)] {
		t.Fatalf("exceptions lack TASK_FAILED or the FAILED state: %s", mustJSON(ex))
	}
	if ex.Exceptions[0].Time.Before(ex.Exceptions[len(ex.Exceptions)-1].Time) {
		t.Fatal("exceptions are not newest first")
	}
	var evs rest.EventList
	e.ok("GET", "/v1/jobs/"+id+"/events", "", nil, http.StatusOK, &evs)
	if len(evs.Events) < 3 || evs.Events[0].Type != string(cluster.EventJobStateChanged) || evs.Events[0].State != rest.StateRunning {
		t.Fatalf("events %s", mustJSON(evs))
	}
}

func TestModules(t *testing.T) {
	e := newEnv(t, envOpts{maxModBytes: 1 << 16})
	var list rest.ModuleList
	e.ok("GET", "/v1/modules", "", nil, http.StatusOK, &list)
	if list.Modules == nil || len(list.Modules) != 0 {
		t.Fatalf("empty store: %s", mustJSON(list))
	}
	v1 := resttest.Module(abi.KindMap, 1)
	var m rest.Module
	e.ok("POST", "/v1/modules?name=upper&version=1.0.0", "application/wasm", v1, http.StatusCreated, &m)
	if m.Ref != "upper@1.0.0" || m.Size != int64(len(v1)) || len(m.SHA256) != 64 || m.ABIVersion != abi.Version || len(m.Functions) != 1 || m.Functions[0].Kind != "map" {
		t.Fatalf("module %s", mustJSON(m))
	}
	e.ok("POST", "/v1/modules?name=upper&version=1.0.0", "application/octet-stream", v1, http.StatusOK, &m) // same bytes again
	e.ok("POST", "/v1/modules?name=upper&version=1.1.0", "", resttest.Module(abi.KindMap, 2), http.StatusCreated, nil)

	// Multipart, as a browser form or curl -F sends it.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("name", "filters")
	_ = mw.WriteField("version", "0.1")
	fw, _ := mw.CreateFormFile("module", "filters.wasm")
	_, _ = fw.Write(resttest.Module(abi.KindFilter, 3))
	_ = mw.Close()
	e.ok("POST", "/v1/modules", mw.FormDataContentType(), form.Bytes(), http.StatusCreated, &m)
	if m.Ref != "filters@0.1" || m.Functions[0].Kind != "filter" {
		t.Fatalf("multipart module %s", mustJSON(m))
	}

	e.ok("GET", "/v1/modules", "", nil, http.StatusOK, &list)
	var refs []string
	for _, m := range list.Modules {
		refs = append(refs, m.Ref)
	}
	if strings.Join(refs, " ") != "filters@0.1 upper@1.0.0 upper@1.1.0" {
		t.Fatalf("modules %v", refs)
	}
	e.ok("GET", "/v1/modules/upper@1.1.0", "", nil, http.StatusOK, &m)
	if m.SDK != "resttest 2" {
		t.Fatalf("module info %s", mustJSON(m))
	}

	tests := []struct {
		name, path, ctype string
		body              []byte
		status            int
		code              string
		want              []string
	}{
		{"other bytes, same version", "/v1/modules?name=upper&version=1.0.0", "application/wasm", resttest.Module(abi.KindMap, 9), 409, rest.CodeConflict, []string{"already exists"}},
		{"not wasm", "/v1/modules?name=junk&version=1", "application/wasm", []byte("hello, world"), 400, rest.CodeInvalidModule, []string{"not a WebAssembly binary"}},
		{"truncated", "/v1/modules?name=junk&version=1", "application/wasm", v1[:len(v1)/2], 400, rest.CodeInvalidModule, []string{"invalid WebAssembly module"}},
		{"bad name", "/v1/modules?name=Upper!&version=1", "application/wasm", v1, 400, rest.CodeInvalidModule, []string{`name "Upper!"`}},
		{"no version", "/v1/modules?name=upper", "application/wasm", v1, 400, rest.CodeBadRequest, []string{"name and a version"}},
		{"empty", "/v1/modules?name=upper&version=2", "application/wasm", nil, 400, rest.CodeBadRequest, []string{"no module"}},
		{"unknown parameter", "/v1/modules?name=upper&version=2&force=1", "application/wasm", v1, 400, rest.CodeBadRequest, []string{`"force"`}},
		{"wrong content type", "/v1/modules?name=upper&version=2", "application/json", v1, 415, rest.CodeUnsupportedMediaType, []string{"application/wasm"}},
		{"too large", "/v1/modules?name=upper&version=2", "application/wasm", make([]byte, 1<<16+1), 413, rest.CodeTooLarge, []string{"65536"}},
		{"malformed multipart", "/v1/modules?name=upper&version=2", "multipart/form-data", v1, 400, rest.CodeBadRequest, []string{"multipart"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.fails("POST", tc.path, tc.ctype, tc.body, tc.status, tc.code, tc.want...)
		})
	}
	e.t = t
	e.fails("GET", "/v1/modules/upper@9", "", nil, 404, rest.CodeNotFound, "upper@9")
	e.fails("GET", "/v1/modules/upper", "", nil, 400, rest.CodeInvalidModule, "name@version")
	e.ok("GET", "/v1/modules", "", nil, http.StatusOK, &list)
	if len(list.Modules) != 3 {
		t.Fatalf("refused uploads changed the store: %s", mustJSON(list))
	}
}

func TestModulesWithoutAStore(t *testing.T) {
	e := newEnv(t, envOpts{noStore: true})
	e.fails("GET", "/v1/modules", "", nil, 501, rest.CodeNotImplemented, "no module store")
	e.fails("POST", "/v1/modules?name=a&version=1", "application/wasm", resttest.Module(abi.KindMap, 1), 501, rest.CodeNotImplemented)
	e.fails("GET", "/v1/modules/a@1", "", nil, 501, rest.CodeNotImplemented)
}

// noSwap is a Cluster that cannot swap modules: it has only the methods of
// Cluster.
type noSwap struct{ rest.Cluster }

func TestSwapWithoutSupportAnswers501AfterChecks(t *testing.T) {
	e := newEnv(t, envOpts{wrap: func(lc *rest.LocalCluster) rest.Cluster { return noSwap{lc} }})
	e.ok("POST", "/v1/modules?name=upper&version=2", "application/wasm", resttest.Module(abi.KindMap, 1), http.StatusCreated, nil)
	id := e.submit(endless("s", e.dir, 1))
	path := "/v1/jobs/" + id + "/vertices/upper/module"
	e.fails("POST", path, "application/json", []byte(`{"module": "upper@2"}`), 501, rest.CodeNotImplemented, "cannot hot-swap")
	e.fails("GET", "/v1/jobs/"+id+"/swaps/abc", "", nil, 501, rest.CodeNotImplemented)
	e.fails("POST", path, "application/json", []byte(`{"module": "upper@3"}`), 404, rest.CodeNotFound, "upper@3", "POST /v1/modules")
	e.fails("POST", path, "application/json", []byte(`{"module": "upper"}`), 400, rest.CodeInvalidModule, "name@version")
	e.fails("POST", path, "application/json", []byte(`{}`), 400, rest.CodeBadRequest, "module is required")
	e.fails("POST", path, "application/json", []byte(`{"module": 1}`), 400, rest.CodeBadRequest, `"module"`)
	e.fails("POST", "/v1/jobs/"+id+"/vertices/nope/module", "application/json", []byte(`{"module": "upper@2"}`), 404, rest.CodeNotFound, `"nope"`)
	e.fails("POST", "/v1/jobs/nope/vertices/upper/module", "application/json", []byte(`{"module": "upper@2"}`), 404, rest.CodeNotFound, "no job")
	e.ok("PATCH", "/v1/jobs/"+id+"?mode=cancel", "", nil, http.StatusAccepted, nil)
	e.waitState(id, rest.StateCanceled)
	e.fails("POST", path, "application/json", []byte(`{"module": "upper@2"}`), 409, rest.CodeConflict, "CANCELED")
}

// recordingSwapper is a Cluster whose JobManager swaps modules: it records
// the swap and completes it when told to.
type recordingSwapper struct {
	*rest.LocalCluster
	calls  []string
	status map[string]string
	refuse error
}

func (r *recordingSwapper) SwapModule(ctx context.Context, job, vertex, module string) (string, error) {
	if r.refuse != nil {
		return "", r.refuse
	}
	rid := fmt.Sprintf("swap-%d", len(r.calls))
	r.calls = append(r.calls, job+" "+vertex+" "+module)
	r.status[rid] = rest.StatusInProgress
	return rid, nil
}

func (r *recordingSwapper) SwapStatus(job, rid string) (string, string, error) {
	st, ok := r.status[rid]
	if !ok {
		return "", "", fmt.Errorf("%w: no swap %s", rest.ErrNotFound, rid)
	}
	if st == rest.StatusFailed {
		return st, "the new module does not describe function f", nil
	}
	return st, "", nil
}

func TestSwapCallsTheClustersSwapper(t *testing.T) {
	sw := &recordingSwapper{status: map[string]string{}}
	e := newEnv(t, envOpts{wrap: func(lc *rest.LocalCluster) rest.Cluster { sw.LocalCluster = lc; return sw }})
	e.ok("POST", "/v1/modules?name=upper&version=2", "application/wasm", resttest.Module(abi.KindMap, 1), http.StatusCreated, nil)
	id := e.submit(endless("s", e.dir, 1))
	var acc rest.Accepted
	e.ok("POST", "/v1/jobs/"+id+"/vertices/upper/module", "application/json", []byte(`{"module": "upper@2"}`), http.StatusAccepted, &acc)
	if len(sw.calls) != 1 || sw.calls[0] != id+" upper upper@2" {
		t.Fatalf("calls %q", sw.calls)
	}
	var st rest.SwapStatus
	e.ok("GET", "/v1/jobs/"+id+"/swaps/"+acc.RequestID, "", nil, http.StatusOK, &st)
	if st.Status != rest.StatusInProgress {
		t.Fatalf("status %+v", st)
	}
	sw.status[acc.RequestID] = rest.StatusFailed
	e.ok("GET", "/v1/jobs/"+id+"/swaps/"+acc.RequestID, "", nil, http.StatusOK, &st)
	if st.Status != rest.StatusFailed || !strings.Contains(st.Failure, "function f") {
		t.Fatalf("status %+v", st)
	}
	e.fails("GET", "/v1/jobs/"+id+"/swaps/other", "", nil, 404, rest.CodeNotFound, "no swap other")

	for _, tc := range []struct {
		refuse error
		status int
		code   string
	}{
		{fmt.Errorf("a swap is already in progress"), 409, rest.CodeConflict},
		{fmt.Errorf("%w: module kind", rest.ErrBadRequest), 400, rest.CodeBadRequest},
		{fmt.Errorf("%w: vertex 0 runs no module", rest.ErrNotFound), 404, rest.CodeNotFound},
	} {
		sw.refuse = tc.refuse
		e.fails("POST", "/v1/jobs/"+id+"/vertices/0/module", "application/json", []byte(`{"module": "upper@2"}`), tc.status, tc.code, tc.refuse.Error())
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
