package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startCluster starts `freshet cluster` and returns its REST API's URL.
func startCluster(t *testing.T, dir string, args ...string) (url string, stop func() (int, string)) {
	t.Helper()
	cmd := exec.Command(freshet, append([]string{"cluster", "--rest-addr", "127.0.0.1:0", "--log-level", "warn",
		"--module-dir", filepath.Join(dir, "modules")}, args...)...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "REST API: "); ok {
				urls <- u
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case url = <-urls:
	case err := <-exited:
		t.Fatalf("freshet cluster exited: %v\n%s", err, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("freshet cluster printed no address\n%s", stderr.String())
	}
	return url, func() (int, string) {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			return code, stderr.String()
		case <-time.After(40 * time.Second):
			t.Fatal("freshet cluster did not exit after SIGINT")
			return 0, ""
		}
	}
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// completed returns the completed checkpoints of a job.
func completed(t *testing.T, url, id string) int {
	var cps struct {
		Counts struct{ Completed int } `json:"counts"`
	}
	getJSON(t, url+"/v1/jobs/"+id+"/checkpoints", &cps)
	return cps.Counts.Completed
}

func jobState(t *testing.T, url, id string) string {
	var d struct{ State string }
	getJSON(t, url+"/v1/jobs/"+id, &d)
	return d.State
}

// TestSessionClusterLifecycle drives a `freshet cluster` process as an
// operator would: submit, list, watch checkpoints, savepoint, stop with a
// savepoint, resume from it, cancel, and shut the cluster down; the output
// must hold every record of the resumed sequence exactly once.
func TestSessionClusterLifecycle(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	metricsAddr := freePort(t)
	url, stopCluster := startCluster(t, dir, "--slots", "2", "--metrics-addr", metricsAddr)
	out := filepath.Join(dir, "out")
	job := filepath.Join(dir, "seq.yaml")
	writeFile(t, job, fmt.Sprintf(`apiVersion: freshet/v1
name: seq
parallelism: 2
config:
  checkpointing: {interval: 200ms, dir: %s}
sources:
  - {name: gen, type: datagen, rows-per-second: 4000}
sinks:
  - {name: out, type: file, path: %s}
`, filepath.Join(dir, "checkpoints"), out))
	jm := []string{"--jobmanager", url}

	r := run(t, dir, append([]string{"submit", job, "--quiet"}, jm...)...)
	id := strings.TrimSpace(r.stdout)
	if r.code != 0 || len(id) != 16 {
		t.Fatalf("submit: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, dir, append([]string{"list"}, jm...)...); r.code != 0 || !regexp.MustCompile(id+`\s+seq\s+RUNNING`).MatchString(r.stdout) {
		t.Fatalf("list: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	waitUntil(t, "two completed checkpoints", func() bool { return completed(t, url, id) >= 2 })

	r = run(t, dir, append([]string{"savepoint", id, "sp"}, jm...)...)
	sp, ok := strings.CutPrefix(strings.TrimSpace(r.stdout), "Savepoint completed: ")
	if r.code != 0 || !ok || !strings.HasPrefix(sp, filepath.Join(dir, "sp")) {
		t.Fatalf("savepoint: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(sp, "_metadata")); err != nil {
		t.Fatalf("the savepoint has no metadata: %v", err)
	}

	r = run(t, dir, append([]string{"stop", id, "--savepoint", "stop"}, jm...)...)
	m := regexp.MustCompile(`Savepoint completed: (\S+)`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || !strings.Contains(r.stdout, "Job "+id+" stopped") {
		t.Fatalf("stop: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if st := jobState(t, url, id); st != "FINISHED" {
		t.Fatalf("after stop the job is %s", st)
	}
	firstRun := len(committed(t, out))

	r = run(t, dir, append([]string{"submit", job, "--quiet", "--from-savepoint", m[1]}, jm...)...)
	id2 := strings.TrimSpace(r.stdout)
	if r.code != 0 || len(id2) != 16 {
		t.Fatalf("submit --from-savepoint: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	waitUntil(t, "the resumed job to commit output", func() bool {
		return completed(t, url, id2) >= 2 && len(committed(t, out)) > firstRun
	})
	if r := run(t, dir, append([]string{"cancel", id2}, jm...)...); r.code != 0 || !strings.Contains(r.stdout, "CANCELED") {
		t.Fatalf("cancel: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, dir, append([]string{"cancel", id2}, jm...)...); r.code != 2 || !strings.Contains(r.stderr, "already ended CANCELED") {
		t.Fatalf("cancelling a cancelled job: exit %d %s", r.code, r.stderr)
	}

	// The metrics endpoint of the cluster counts checkpoints and REST calls.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`freshet_job_checkpoints_completed_total{job="` + id + `"}`, `freshet_rest_requests_total{code="202",route="POST /v1/jobs/{id}/stop"} 1`,
		`freshet_job_state{job="` + id2 + `",name="seq",state="CANCELED"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	if code, stderr := stopCluster(); code != 0 {
		t.Fatalf("freshet cluster exited %d after SIGINT: %s", code, stderr)
	}
	checkExactlyOnce(t, committed(t, out), 2)
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("the lifecycle took %s, more than a minute", d)
	}
}

// committed returns the records in the committed part files of dir.
func committed(t *testing.T, dir string) []string {
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

// checkExactlyOnce checks the datagen sequence of p subtasks: subtask i
// writes i, i+p, i+2p, ... — each once, none skipped.
func checkExactlyOnce(t *testing.T, lines []string, p int) {
	t.Helper()
	perSubtask := make([][]int, p)
	for _, l := range lines {
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("output line %q", l)
		}
		perSubtask[n%p] = append(perSubtask[n%p], n)
	}
	for i, ns := range perSubtask {
		sort.Ints(ns)
		for k, n := range ns {
			if n != i+k*p {
				t.Fatalf("subtask %d: record %d where %d was expected (%d records): duplicated or lost across the savepoint", i, n, i+k*p, len(ns))
			}
		}
		if len(ns) < 100 {
			t.Fatalf("subtask %d wrote only %d records", i, len(ns))
		}
	}
}

func TestClientCommandsWithoutACluster(t *testing.T) {
	url := "http://" + freePort(t)
	for _, args := range [][]string{{"list"}, {"cancel", "x"}, {"modules", "list"}} {
		r := run(t, t.TempDir(), append(args, "--jobmanager", url)...)
		if r.code != 1 || strings.TrimSpace(r.stderr) == "" || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 ||
			!strings.Contains(r.stderr, "cannot reach the JobManager at "+url) {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}
