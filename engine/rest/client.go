package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultAddr is where the REST API is served unless told otherwise, and
// DefaultURL where clients look for it.
const (
	DefaultAddr = "127.0.0.1:8081"
	DefaultURL  = "http://" + DefaultAddr
)

// ErrUnreachable matches the errors of a Client that got no answer from
// the JobManager.
var ErrUnreachable = errors.New("cannot reach the JobManager")

// APIError is an error answer of the API.
type APIError struct {
	Status int
	ErrorBody
}

func (e *APIError) Error() string {
	if len(e.Details) > 1 {
		return strings.Join(e.Details, "\n")
	}
	return e.Message
}

// Client calls the REST API of a JobManager.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client of the JobManager at base, a URL such as
// http://127.0.0.1:8081 (a bare host:port means http). hc may be nil.
func NewClient(base string, hc *http.Client) (*Client, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the JobManager URL %q is not an http(s)://host:port URL", base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	return &Client{base: strings.TrimRight(u.String(), "/"), http: hc}, nil
}

// URL is the JobManager's base URL.
func (c *Client) URL() string { return c.base }

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w at %s: %v", ErrUnreachable, c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		ae := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(b, &ae.ErrorBody) != nil || ae.Message == "" {
			ae.Code, ae.Message = "", fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, firstLine(string(b)))
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: malformed answer: %w", method, path, err)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, "", nil, out)
}

func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, nil, "application/json", bytes.NewReader(b), out)
}

func jobPath(id string, rest ...string) string {
	p := Prefix + "/jobs/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Overview returns the cluster overview.
func (c *Client) Overview(ctx context.Context) (Overview, error) {
	var o Overview
	return o, c.getJSON(ctx, Prefix+"/overview", &o)
}

// TaskManagers lists the TaskManagers.
func (c *Client) TaskManagers(ctx context.Context) ([]TaskManagerInfo, error) {
	var l TaskManagerList
	return l.TaskManagers, c.getJSON(ctx, Prefix+"/taskmanagers", &l)
}

// Jobs lists every job, oldest first.
func (c *Client) Jobs(ctx context.Context) ([]JobSummary, error) {
	var l JobList
	return l.Jobs, c.getJSON(ctx, Prefix+"/jobs", &l)
}

// Job returns a job's details.
func (c *Client) Job(ctx context.Context, id string) (JobDetails, error) {
	var d JobDetails
	return d, c.getJSON(ctx, jobPath(id), &d)
}

// Checkpoints returns a job's checkpoints.
func (c *Client) Checkpoints(ctx context.Context, id string) (Checkpoints, error) {
	var cp Checkpoints
	return cp, c.getJSON(ctx, jobPath(id, "checkpoints"), &cp)
}

// Exceptions returns a job's exception history.
func (c *Client) Exceptions(ctx context.Context, id string) (Exceptions, error) {
	var e Exceptions
	return e, c.getJSON(ctx, jobPath(id, "exceptions"), &e)
}

// Events returns a job's recent events.
func (c *Client) Events(ctx context.Context, id string) ([]Event, error) {
	var l EventList
	return l.Events, c.getJSON(ctx, jobPath(id, "events"), &l)
}

// SubmitParams are the options of Submit.
type SubmitParams struct {
	// File names the job file in error messages.
	File string
	// FromSavepoint restores the job from a savepoint or checkpoint
	// directory (a path on the JobManager's machine).
	FromSavepoint         string
	AllowNonRestoredState bool
	// Parallelism overrides the job's default parallelism when positive.
	Parallelism int
	// Sets override job file fields ("sources.lines.path=in.txt").
	Sets []string
}

// Submit sends a job file (YAML) and returns the new job's ID.
func (c *Client) Submit(ctx context.Context, jobFile []byte, p SubmitParams) (SubmitResponse, error) {
	q := url.Values{}
	if p.File != "" {
		q.Set("file", p.File)
	}
	if p.FromSavepoint != "" {
		q.Set("from-savepoint", p.FromSavepoint)
	}
	if p.AllowNonRestoredState {
		q.Set("allow-non-restored-state", "true")
	}
	if p.Parallelism > 0 {
		q.Set("parallelism", strconv.Itoa(p.Parallelism))
	}
	for _, s := range p.Sets {
		q.Add("set", s)
	}
	var res SubmitResponse
	return res, c.do(ctx, http.MethodPost, Prefix+"/jobs", q, "application/yaml", bytes.NewReader(jobFile), &res)
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id string) (JobSummary, error) {
	var js JobSummary
	return js, c.do(ctx, http.MethodPatch, jobPath(id), url.Values{"mode": {"cancel"}}, "", nil, &js)
}

// TriggerSavepoint starts a savepoint into dir and returns the request ID.
func (c *Client) TriggerSavepoint(ctx context.Context, id, dir string) (string, error) {
	var a Accepted
	return a.RequestID, c.postJSON(ctx, jobPath(id, "savepoints"), SavepointRequest{TargetDirectory: dir}, &a)
}

// Stop starts stopping a job, after a savepoint into dir when dir is set,
// and returns the request ID.
func (c *Client) Stop(ctx context.Context, id, dir string) (string, error) {
	var a Accepted
	return a.RequestID, c.postJSON(ctx, jobPath(id, "stop"), StopRequest{TargetDirectory: dir}, &a)
}

// Operation returns the status of a savepoint or stop request.
func (c *Client) Operation(ctx context.Context, id, requestID string) (OperationStatus, error) {
	var os OperationStatus
	return os, c.getJSON(ctx, jobPath(id, "savepoints", requestID), &os)
}

// WaitOperation polls a savepoint or stop request every interval until it
// is no longer IN_PROGRESS or ctx ends.
func (c *Client) WaitOperation(ctx context.Context, id, requestID string, interval time.Duration) (OperationStatus, error) {
	for {
		os, err := c.Operation(ctx, id, requestID)
		if err != nil || os.Status != StatusInProgress {
			return os, err
		}
		if err := sleep(ctx, interval); err != nil {
			return os, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Modules lists the module store.
func (c *Client) Modules(ctx context.Context) ([]Module, error) {
	var l ModuleList
	return l.Modules, c.getJSON(ctx, Prefix+"/modules", &l)
}

// Module returns the metadata of name@version.
func (c *Client) Module(ctx context.Context, ref string) (Module, error) {
	var m Module
	return m, c.getJSON(ctx, Prefix+"/modules/"+url.PathEscape(ref), &m)
}

// UploadModule adds wasm to the module store as name@version.
func (c *Client) UploadModule(ctx context.Context, name, version string, wasm []byte) (Module, error) {
	var m Module
	q := url.Values{"name": {name}, "version": {version}}
	return m, c.do(ctx, http.MethodPost, Prefix+"/modules", q, "application/wasm", bytes.NewReader(wasm), &m)
}

// SwapModule starts replacing the module of a vertex (an ID, a vertex name
// or an operator name) with module ("name@version"), and returns the
// request ID.
func (c *Client) SwapModule(ctx context.Context, id, vertex, module string) (string, error) {
	var a Accepted
	return a.RequestID, c.postJSON(ctx, jobPath(id, "vertices", vertex, "module"), SwapRequest{Module: module}, &a)
}

// SwapStatus returns the status of a swap request.
func (c *Client) SwapStatus(ctx context.Context, id, requestID string) (SwapStatus, error) {
	var s SwapStatus
	return s, c.getJSON(ctx, jobPath(id, "swaps", requestID), &s)
}

// WaitSwap polls a swap request every interval until it is no longer
// IN_PROGRESS or ctx ends.
func (c *Client) WaitSwap(ctx context.Context, id, requestID string, interval time.Duration) (SwapStatus, error) {
	for {
		s, err := c.SwapStatus(ctx, id, requestID)
		if err != nil || s.Status != StatusInProgress {
			return s, err
		}
		if err := sleep(ctx, interval); err != nil {
			return s, err
		}
	}
}
