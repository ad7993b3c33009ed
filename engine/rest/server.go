package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxJobFileBytes int64 = 4 << 20
	DefaultMaxModuleBytes  int64 = 64 << 20
	// maxJSONBytes bounds the small JSON request bodies.
	maxJSONBytes int64 = 1 << 20
)

// Config configures a Server.
type Config struct {
	// Cluster runs the jobs. Required.
	Cluster Cluster
	// Modules is the module store; nil makes the module endpoints answer
	// 501.
	Modules ModuleStore
	// Version is reported by GET /v1/overview.
	Version string
	Logger  *slog.Logger
	// MaxJobFileBytes bounds a submitted job file (default 4 MiB);
	// MaxModuleBytes an uploaded module (default 64 MiB). Larger bodies
	// answer 413.
	MaxJobFileBytes int64
	MaxModuleBytes  int64
}

// Server serves the REST API. It is an http.Handler; Listen serves it on an
// address. Close ends the background operations it started (savepoints,
// stops).
type Server struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	routes []string
	ops    *operations

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	http   *http.Server
	ln     net.Listener
	closed bool
}

// NewServer returns a Server for cfg.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Cluster == nil {
		return nil, errors.New("rest: Config.Cluster is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxJobFileBytes <= 0 {
		cfg.MaxJobFileBytes = DefaultMaxJobFileBytes
	}
	if cfg.MaxModuleBytes <= 0 {
		cfg.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "rest"), mux: http.NewServeMux(), ops: newOperations(maxOperations), ctx: ctx, cancel: cancel}
	s.handle("GET /v1/overview", s.overview)
	s.handle("GET /v1/taskmanagers", s.taskManagers)
	s.handle("GET /v1/jobs", s.listJobs)
	s.handle("POST /v1/jobs", s.submitJob)
	s.handle("GET /v1/jobs/{id}", s.jobDetails)
	s.handle("PATCH /v1/jobs/{id}", s.patchJob)
	s.handle("GET /v1/jobs/{id}/vertices/{vertex}", s.vertexDetails)
	s.handle("GET /v1/jobs/{id}/checkpoints", s.checkpoints)
	s.handle("GET /v1/jobs/{id}/exceptions", s.exceptions)
	s.handle("GET /v1/jobs/{id}/events", s.events)
	s.handle("POST /v1/jobs/{id}/savepoints", s.triggerSavepoint)
	s.handle("GET /v1/jobs/{id}/savepoints/{request}", s.operationStatus)
	s.handle("POST /v1/jobs/{id}/stop", s.stopJob)
	s.handle("POST /v1/jobs/{id}/vertices/{vertex}/module", s.swapModule)
	s.handle("GET /v1/jobs/{id}/swaps/{request}", s.swapStatus)
	s.handle("GET /v1/modules", s.listModules)
	s.handle("POST /v1/modules", s.uploadModule)
	s.handle("GET /v1/modules/{ref}", s.moduleInfo)
	return s, nil
}

// handler answers a request with a value to encode as JSON and its status,
// or an error.
type handler func(r *http.Request) (status int, body any, err error)

func (s *Server) handle(pattern string, h handler) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		status, body, err := h(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, status, body)
	})
}

// Routes returns the patterns the Server serves ("GET /v1/jobs/{id}", ...),
// sorted.
func (s *Server) Routes() []string {
	out := append([]string(nil), s.routes...)
	sort.Strings(out)
	return out
}

// ServeHTTP serves the API. Requests no route matches get a JSON 404 or 405.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		// Let the mux decide between 404 and 405 (and set Allow), then
		// answer in JSON.
		cw := &captureWriter{header: http.Header{}}
		s.mux.ServeHTTP(cw, r)
		if allow := cw.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if cw.status == http.StatusMethodNotAllowed {
			writeJSON(w, http.StatusMethodNotAllowed, ErrorBody{Code: CodeMethodNotAllowed,
				Message: fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, cw.header.Get("Allow"))})
			return
		}
		writeJSON(w, http.StatusNotFound, ErrorBody{Code: CodeNotFound, Message: fmt.Sprintf("no such endpoint: %s %s (see docs/rest-api.md)", r.Method, r.URL.Path)})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// captureWriter records what the mux answers for an unmatched request.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header         { return c.header }
func (c *captureWriter) Write(b []byte) (int, error) { return len(b), nil }
func (c *captureWriter) WriteHeader(status int)      { c.status = status }

// Listen serves the Server on addr (host:port; port 0 picks a free one)
// until Close, and returns the address it listens on. handler wraps the
// Server (for metrics, say); nil serves the Server itself.
func (s *Server) Listen(addr string, wrap func(http.Handler) http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("serving the REST API on %s: %w", addr, err)
	}
	var h http.Handler = s
	if wrap != nil {
		h = wrap(s)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	s.mu.Lock()
	if s.http != nil {
		s.mu.Unlock()
		ln.Close()
		return "", errors.New("serving the REST API: the server is already listening")
	}
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return "", errClosed
	}
	s.http, s.ln = srv, ln
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("REST server stopped", "err", err)
		}
	}()
	s.log.Info("REST API listening", "addr", ln.Addr().String())
	return ln.Addr().String(), nil
}

// Close stops listening (letting requests in flight finish for up to two
// seconds), cancels the background operations and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.http
	s.closed = true
	s.mu.Unlock()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = srv.Shutdown(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = srv.Close()
		}
	}
	s.cancel()
	s.wg.Wait()
	return err
}

// errClosed answers requests that would start work after Close.
var errClosed = errors.New("the REST server is shutting down")

// background runs fn on a goroutine the Server owns; ctx ends at Close.
func (s *Server) background(fn func(ctx context.Context)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
	return nil
}
