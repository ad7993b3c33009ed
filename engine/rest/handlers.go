package rest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/host/modules"
)

func (s *Server) overview(r *http.Request) (int, any, error) {
	o := Overview{Version: s.cfg.Version}
	for _, tm := range s.cfg.Cluster.TaskManagers() {
		o.TaskManagers++
		o.Slots += tm.Slots
	}
	for _, id := range s.cfg.Cluster.Jobs() {
		st, err := s.cfg.Cluster.Status(id)
		if err != nil {
			continue
		}
		switch st.State {
		case cluster.JobFinished:
			o.JobsFinished++
		case cluster.JobFailed:
			o.JobsFailed++
		case cluster.JobCanceled:
			o.JobsCancelled++
		default:
			o.JobsRunning++
		}
	}
	return http.StatusOK, o, nil
}

func (s *Server) taskManagers(r *http.Request) (int, any, error) {
	tms := s.cfg.Cluster.TaskManagers()
	if tms == nil {
		tms = []TaskManagerInfo{}
	}
	return http.StatusOK, TaskManagerList{TaskManagers: tms}, nil
}

func (s *Server) listJobs(r *http.Request) (int, any, error) {
	list := JobList{Jobs: []JobSummary{}}
	for _, id := range s.cfg.Cluster.Jobs() {
		st, err := s.cfg.Cluster.Status(id)
		if err != nil {
			continue
		}
		list.Jobs = append(list.Jobs, jobSummary(st))
	}
	return http.StatusOK, list, nil
}

// status returns the status of the job in the request's path.
func (s *Server) status(r *http.Request) (cluster.JobStatus, error) {
	id := r.PathValue("id")
	st, err := s.cfg.Cluster.Status(id)
	if err != nil {
		if errors.Is(err, cluster.ErrUnknownJob) {
			return st, markf(ErrNotFound, "no job with ID %q (GET /v1/jobs lists them)", id)
		}
		return st, err
	}
	return st, nil
}

// running returns the status of the job in the path, which must be RUNNING
// for what the request wants to do.
func (s *Server) running(r *http.Request, doing string) (cluster.JobStatus, error) {
	st, err := s.status(r)
	if err != nil {
		return st, err
	}
	if st.State != cluster.JobRunning {
		return st, markf(ErrConflict, "cannot %s job %s: it is %s, not RUNNING", doing, st.ID, st.State)
	}
	return st, nil
}

func (s *Server) jobDetails(r *http.Request) (int, any, error) {
	st, err := s.status(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, jobDetails(st), nil
}

func (s *Server) vertexDetails(r *http.Request) (int, any, error) {
	st, err := s.status(r)
	if err != nil {
		return 0, nil, err
	}
	v, ok := findVertex(st, r.PathValue("vertex"))
	if !ok {
		return 0, nil, unknownVertex(st, r.PathValue("vertex"))
	}
	return http.StatusOK, vertex(v), nil
}

func unknownVertex(st cluster.JobStatus, key string) error {
	var names []string
	for _, v := range st.Vertices {
		names = append(names, fmt.Sprintf("%d (%s)", v.ID, v.Name))
	}
	return markf(ErrNotFound, "job %s has no vertex or operator %q (vertices: %s)", st.ID, key, strings.Join(names, ", "))
}

func (s *Server) checkpoints(r *http.Request) (int, any, error) {
	st, err := s.status(r)
	if err != nil {
		return 0, nil, err
	}
	stats, err := s.cfg.Cluster.Checkpoints(st.ID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, checkpoints(stats), nil
}

func (s *Server) exceptions(r *http.Request) (int, any, error) {
	st, err := s.status(r)
	if err != nil {
		return 0, nil, err
	}
	out := Exceptions{RootException: st.Error, Exceptions: []Event{}}
	evs := s.cfg.Cluster.Events(st.ID)
	for i := len(evs) - 1; i >= 0; i-- {
		if isException(evs[i]) {
			out.Exceptions = append(out.Exceptions, event(evs[i]))
		}
	}
	return http.StatusOK, out, nil
}

func (s *Server) events(r *http.Request) (int, any, error) {
	st, err := s.status(r)
	if err != nil {
		return 0, nil, err
	}
	out := EventList{Events: []Event{}}
	for _, ev := range s.cfg.Cluster.Events(st.ID) {
		out.Events = append(out.Events, event(ev))
	}
	return http.StatusOK, out, nil
}

// query checks that the request's query has only the allowed parameters.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, markf(ErrBadRequest, "malformed query string: %v", err)
	}
	for k := range q {
		if !slices.Contains(allowed, k) {
			return nil, markf(ErrBadRequest, "unknown query parameter %q (this endpoint takes: %s)", k, strings.Join(allowed, ", "))
		}
	}
	return q, nil
}

func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return q.Has(name), nil // "?allow-non-restored-state" alone means true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, markf(ErrBadRequest, "query parameter %s: %q is not true or false", name, v)
	}
	return b, nil
}

// jobFileTypes are the media types a job file may be sent as (JSON is
// YAML too).
var jobFileTypes = []string{"", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "application/json", "text/plain"}

func (s *Server) submitJob(r *http.Request) (int, any, error) {
	q, err := query(r, "file", "from-savepoint", "allow-non-restored-state", "parallelism", "set")
	if err != nil {
		return 0, nil, err
	}
	mt, err := mediaType(r)
	if err != nil {
		return 0, nil, err
	}
	if !slices.Contains(jobFileTypes, mt) {
		return 0, nil, fmt.Errorf("%w: a job file is sent as application/yaml (or JSON), not %s%s", errUnsupportedMedia, mt, curlHint(mt, "application/yaml"))
	}
	opts := SubmitOptions{RestoreFrom: q.Get("from-savepoint")}
	if opts.AllowNonRestoredState, err = boolParam(q, "allow-non-restored-state"); err != nil {
		return 0, nil, err
	}
	parallelism := 0
	if v := q.Get("parallelism"); v != "" {
		if parallelism, err = strconv.Atoi(v); err != nil || parallelism < 1 {
			return 0, nil, markf(ErrBadRequest, "query parameter parallelism: %q is not a positive integer", v)
		}
	}
	file := q.Get("file")
	if file == "" {
		file = "job.yaml"
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.cfg.MaxJobFileBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return 0, nil, fmt.Errorf("%w: the job file is larger than %d bytes", errTooLarge, mb.Limit)
		}
		return 0, nil, markf(ErrBadRequest, "reading the job file: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return 0, nil, markf(ErrBadRequest, "the request has no job file: send its YAML as the body")
	}
	spec, err := jobspec.Parse(file, body)
	if err != nil {
		return 0, nil, err
	}
	if sets := q["set"]; len(sets) > 0 || parallelism > 0 {
		if err := spec.Override(sets, parallelism); err != nil {
			return 0, nil, err
		}
	}
	res, err := s.cfg.Cluster.Submit(r.Context(), spec, opts)
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("job submitted over REST", "job", res.ID, "name", spec.Name)
	return http.StatusCreated, res, nil
}

func (s *Server) patchJob(r *http.Request) (int, any, error) {
	q, err := query(r, "mode")
	if err != nil {
		return 0, nil, err
	}
	switch mode := q.Get("mode"); mode {
	case "cancel":
	case "":
		return 0, nil, markf(ErrBadRequest, "PATCH /v1/jobs/{id} needs ?mode=cancel")
	default:
		return 0, nil, markf(ErrBadRequest, "mode %q is not supported: use mode=cancel (POST /v1/jobs/{id}/stop stops gracefully)", mode)
	}
	st, err := s.status(r)
	if err != nil {
		return 0, nil, err
	}
	if st.State.Terminal() {
		return 0, nil, markf(ErrConflict, "job %s has already ended %s", st.ID, st.State)
	}
	if err := s.cfg.Cluster.Cancel(r.Context(), st.ID); err != nil {
		return 0, nil, fmt.Errorf("cancelling job %s: %w", st.ID, err)
	}
	if now, err := s.cfg.Cluster.Status(st.ID); err == nil {
		st = now
	}
	return http.StatusAccepted, jobSummary(st), nil
}

func (s *Server) triggerSavepoint(r *http.Request) (int, any, error) {
	var req SavepointRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(req.TargetDirectory) == "" {
		return 0, nil, markf(ErrBadRequest, "target-directory is required: the directory to write the savepoint into")
	}
	st, err := s.running(r, "take a savepoint of")
	if err != nil {
		return 0, nil, err
	}
	rid := s.ops.start(st.ID)
	err = s.background(func(ctx context.Context) {
		loc, err := s.cfg.Cluster.TriggerSavepoint(ctx, st.ID, req.TargetDirectory, false)
		s.ops.finish(rid, loc, err)
	})
	if err != nil {
		s.ops.finish(rid, "", err)
		return 0, nil, err
	}
	return http.StatusAccepted, Accepted{RequestID: rid}, nil
}

func (s *Server) stopJob(r *http.Request) (int, any, error) {
	var req StopRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return 0, nil, err
	}
	if req.Drain != nil && !*req.Drain {
		return 0, nil, fmt.Errorf("%w: stopping without draining is not supported: a stop ends the input, so a final watermark fires every timer and window; omit drain or set it to true", errNotImplemented)
	}
	st, err := s.running(r, "stop")
	if err != nil {
		return 0, nil, err
	}
	rid := s.ops.start(st.ID)
	err = s.background(func(ctx context.Context) {
		loc, err := s.stop(ctx, st.ID, req.TargetDirectory)
		s.ops.finish(rid, loc, err)
	})
	if err != nil {
		s.ops.finish(rid, "", err)
		return 0, nil, err
	}
	return http.StatusAccepted, Accepted{RequestID: rid}, nil
}

// stop stops job id (after a savepoint into dir, when set) and waits until
// the job has ended.
func (s *Server) stop(ctx context.Context, id, dir string) (string, error) {
	loc := ""
	if dir != "" {
		var err error
		if loc, err = s.cfg.Cluster.TriggerSavepoint(ctx, id, dir, true); err != nil {
			return "", err
		}
	} else if err := s.cfg.Cluster.Stop(ctx, id); err != nil {
		return "", err
	}
	res, err := s.cfg.Cluster.Wait(ctx, id)
	if err != nil {
		return loc, fmt.Errorf("waiting for job %s to stop: %w", id, err)
	}
	if res.State != cluster.JobFinished {
		msg := fmt.Sprintf("job %s ended %s", id, res.State)
		if res.Err != nil {
			msg += ": " + res.Err.Error()
		}
		if loc != "" {
			msg += " (the savepoint at " + loc + " is complete)"
		}
		return loc, errors.New(msg)
	}
	return loc, nil
}

func (s *Server) operationStatus(r *http.Request) (int, any, error) {
	st, err := s.status(r)
	if err != nil {
		return 0, nil, err
	}
	os, ok := s.ops.get(st.ID, r.PathValue("request"))
	if !ok {
		return 0, nil, markf(ErrNotFound, "job %s has no savepoint or stop request %q", st.ID, r.PathValue("request"))
	}
	return http.StatusOK, os, nil
}

func (s *Server) swapModule(r *http.Request) (int, any, error) {
	var req SwapRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return 0, nil, err
	}
	if req.Module == "" {
		return 0, nil, markf(ErrBadRequest, `module is required: {"module": "name@version"}`)
	}
	if _, _, err := modules.CheckRef(req.Module); err != nil {
		return 0, nil, err
	}
	st, err := s.running(r, "swap a module of")
	if err != nil {
		return 0, nil, err
	}
	key := r.PathValue("vertex")
	if _, ok := findVertex(st, key); !ok {
		return 0, nil, unknownVertex(st, key)
	}
	if s.cfg.Modules != nil {
		if _, err := s.cfg.Modules.Info(req.Module); err != nil {
			return 0, nil, fmt.Errorf("%w (POST /v1/modules uploads it)", err)
		}
	}
	sw, ok := s.cfg.Cluster.(ModuleSwapper)
	if !ok {
		return 0, nil, fmt.Errorf("%w: this cluster cannot hot-swap modules", errNotImplemented)
	}
	rid, err := sw.SwapModule(r.Context(), st.ID, key, req.Module)
	if err != nil {
		err = fmt.Errorf("swapping the module of %s in job %s: %w", key, st.ID, err)
		if status, _ := classify(err); status == http.StatusInternalServerError {
			err = mark(err, ErrConflict)
		}
		return 0, nil, err
	}
	s.log.Info("module swap requested", "job", st.ID, "vertex", key, "module", req.Module, "request", rid)
	return http.StatusAccepted, Accepted{RequestID: rid}, nil
}

func (s *Server) swapStatus(r *http.Request) (int, any, error) {
	st, err := s.status(r)
	if err != nil {
		return 0, nil, err
	}
	sw, ok := s.cfg.Cluster.(ModuleSwapper)
	if !ok {
		return 0, nil, fmt.Errorf("%w: this cluster cannot hot-swap modules", errNotImplemented)
	}
	status, failure, err := sw.SwapStatus(st.ID, r.PathValue("request"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, SwapStatus{Status: status, Failure: failure}, nil
}

// store returns the module store, or a 501 error.
func (s *Server) store() (ModuleStore, error) {
	if s.cfg.Modules == nil {
		return nil, fmt.Errorf("%w: this cluster has no module store (`freshet cluster` keeps one in --module-dir)", errNotImplemented)
	}
	return s.cfg.Modules, nil
}

func (s *Server) listModules(r *http.Request) (int, any, error) {
	st, err := s.store()
	if err != nil {
		return 0, nil, err
	}
	infos, err := st.List()
	if err != nil {
		return 0, nil, err
	}
	out := ModuleList{Modules: make([]Module, 0, len(infos))}
	for _, i := range infos {
		out.Modules = append(out.Modules, module(i))
	}
	return http.StatusOK, out, nil
}

func (s *Server) moduleInfo(r *http.Request) (int, any, error) {
	st, err := s.store()
	if err != nil {
		return 0, nil, err
	}
	ref := r.PathValue("ref")
	if _, _, err := modules.CheckRef(ref); err != nil {
		return 0, nil, err
	}
	info, err := st.Info(ref)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, module(info), nil
}

func (s *Server) uploadModule(r *http.Request) (int, any, error) {
	st, err := s.store()
	if err != nil {
		return 0, nil, err
	}
	q, err := query(r, "name", "version")
	if err != nil {
		return 0, nil, err
	}
	mt, err := mediaType(r)
	if err != nil {
		return 0, nil, err
	}
	name, version := q.Get("name"), q.Get("version")
	var wasm []byte
	switch mt {
	case "", "application/wasm", "application/octet-stream":
		wasm, err = readLimited(http.MaxBytesReader(nil, r.Body, s.cfg.MaxModuleBytes), s.cfg.MaxModuleBytes)
	case "multipart/form-data":
		// The limit leaves room for the form's boundaries and fields.
		r.Body = http.MaxBytesReader(nil, r.Body, s.cfg.MaxModuleBytes+64<<10)
		wasm, name, version, err = s.readModuleForm(r, name, version)
	default:
		err = fmt.Errorf("%w: send the module as application/wasm (or multipart/form-data), not %s%s", errUnsupportedMedia, mt, curlHint(mt, "application/wasm"))
	}
	if err != nil {
		return 0, nil, err
	}
	if name == "" || version == "" {
		return 0, nil, markf(ErrBadRequest, "the module needs a name and a version: POST /v1/modules?name=N&version=V")
	}
	if len(wasm) == 0 {
		return 0, nil, markf(ErrBadRequest, "the request has no module: send the .wasm bytes as the body")
	}
	ref := name + "@" + version
	if _, _, err := modules.CheckRef(ref); err != nil {
		return 0, nil, err
	}
	_, existed := st.Info(ref)
	info, err := st.Add(r.Context(), ref, wasm)
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("module uploaded", "module", ref, "sha256", info.SHA256, "bytes", info.Size)
	if existed == nil {
		return http.StatusOK, module(info), nil
	}
	return http.StatusCreated, module(info), nil
}

// readLimited reads r, refusing more than limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	var mb *http.MaxBytesError
	if int64(len(b)) > limit || errors.As(err, &mb) {
		return nil, fmt.Errorf("%w: the module is larger than %d bytes", errTooLarge, limit)
	}
	if err != nil {
		return nil, markf(ErrBadRequest, "reading the module: %v", err)
	}
	return b, nil
}

// readModuleForm reads a multipart form with the fields name and version
// and the file field module. Query parameters, when given, must agree.
func (s *Server) readModuleForm(r *http.Request, name, version string) ([]byte, string, string, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, "", "", markf(ErrBadRequest, "malformed multipart body: %v", err)
	}
	var wasm []byte
	fields := map[string]*string{"name": &name, "version": &version}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, "", "", fmt.Errorf("%w: the module is larger than %d bytes", errTooLarge, s.cfg.MaxModuleBytes)
			}
			return nil, "", "", markf(ErrBadRequest, "malformed multipart body: %v", err)
		}
		field := p.FormName()
		switch {
		case field == "module":
			if wasm, err = readLimited(p, s.cfg.MaxModuleBytes); err != nil {
				return nil, "", "", err
			}
		case fields[field] != nil:
			b, err := io.ReadAll(io.LimitReader(p, 257))
			if err != nil {
				return nil, "", "", markf(ErrBadRequest, "malformed multipart body: %v", err)
			}
			v := string(b)
			if *fields[field] != "" && *fields[field] != v {
				return nil, "", "", markf(ErrBadRequest, "the form says %s %q and the query %q", field, v, *fields[field])
			}
			*fields[field] = v
		default:
			return nil, "", "", markf(ErrBadRequest, "unknown form field %q (the form takes name, version and the file field module)", field)
		}
	}
	return wasm, name, version, nil
}

// curlHint helps the users of curl, whose --data sends form encoding unless
// told otherwise.
func curlHint(mt, want string) string {
	if mt != "application/x-www-form-urlencoded" {
		return ""
	}
	return fmt.Sprintf(" (with curl, add -H 'Content-Type: %s')", want)
}
