package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/modules"
)

// Request-level error categories, answered with their own codes.
var (
	errTooLarge         = errors.New("request body too large")
	errUnsupportedMedia = errors.New("unsupported media type")
	errNotImplemented   = errors.New("not implemented")
)

// classify returns the HTTP status and code for err.
func classify(err error) (int, string) {
	var maxBytes *http.MaxBytesError
	var perr *params.Error
	switch {
	case errors.As(err, &maxBytes), errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, CodeTooLarge
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType, CodeUnsupportedMediaType
	case errors.Is(err, errNotImplemented), errors.Is(err, errors.ErrUnsupported):
		return http.StatusNotImplemented, CodeNotImplemented
	case errors.Is(err, ErrInvalidJob), errors.Is(err, jobspec.ErrInvalid), errors.As(err, &perr):
		return http.StatusBadRequest, CodeInvalidJob
	case errors.Is(err, modules.ErrBadName), errors.Is(err, host.ErrInvalidModule), errors.Is(err, host.ErrABI),
		errors.Is(err, host.ErrGuestTrap), errors.Is(err, host.ErrTimeout), errors.Is(err, host.ErrMemoryLimit):
		return http.StatusBadRequest, CodeInvalidModule
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, CodeBadRequest
	case errors.Is(err, cluster.ErrUnknownJob), errors.Is(err, cluster.ErrUnknownVertex), errors.Is(err, modules.ErrNotFound), errors.Is(err, ErrNotFound):
		return http.StatusNotFound, CodeNotFound
	case errors.Is(err, modules.ErrExists), errors.Is(err, cluster.ErrNotSwappable), errors.Is(err, ErrConflict):
		return http.StatusConflict, CodeConflict
	}
	return http.StatusInternalServerError, CodeInternal
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err)
	body := ErrorBody{Code: code, Message: err.Error()}
	if lines := strings.Split(strings.TrimSpace(body.Message), "\n"); len(lines) > 1 {
		body.Message = fmt.Sprintf("%d problems: %s", len(lines), lines[0])
		body.Details = lines
	}
	if status == http.StatusInternalServerError && !errors.Is(err, context.Canceled) {
		s.log.Error("REST request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.Debug("REST request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Code: CodeInternal, Message: "encoding the response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// mediaType returns the request's media type ("" when absent).
func mediaType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", markf(ErrBadRequest, "malformed Content-Type %q: %v", ct, err)
	}
	return mt, nil
}

// decodeJSON reads a JSON body of at most maxJSONBytes into v. An empty
// body leaves v as it is unless required. Unknown fields are refused.
func decodeJSON(r *http.Request, v any, required bool) error {
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	if mt != "" && mt != "application/json" {
		return fmt.Errorf("%w: the body must be application/json, not %s", errUnsupportedMedia, mt)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBytes+1))
	if err != nil {
		return markf(ErrBadRequest, "reading the request body: %v", err)
	}
	if int64(len(b)) > maxJSONBytes {
		return fmt.Errorf("%w: the JSON body is larger than %d bytes", errTooLarge, maxJSONBytes)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		if required {
			return markf(ErrBadRequest, "the request needs a JSON body")
		}
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return markf(ErrBadRequest, "malformed JSON body: %s", jsonProblem(err))
	}
	if dec.More() {
		return markf(ErrBadRequest, "malformed JSON body: more than one JSON value")
	}
	return nil
}

// jsonProblem rewords encoding/json's errors for API users.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %q: expected %s, got %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("expected %s, got %s", te.Type, te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of the body"
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + f
	}
	return err.Error()
}
