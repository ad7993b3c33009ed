// Package lines turns lines of text into records for the line-oriented
// sources (file, stdin): text lines as they are, JSON lines validated, and
// bad lines through the source's on-error handler, named by file and line.
package lines

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
)

// Format is how lines are read.
type Format uint8

const (
	// Text emits every line, empty ones included.
	Text Format = iota
	// JSON emits every line that is one JSON value; blank lines are ignored
	// and other lines are bad records.
	JSON
)

// ParseFormat reads the `format` field (text or json, default text).
func ParseFormat(p *params.Params) Format {
	if p.Enum("format", "text", "text", "json") == "json" {
		return JSON
	}
	return Text
}

// Emitter emits lines as records.
type Emitter struct {
	Format  Format
	Handler *onerror.Handler
}

// Emit emits line (without its line end) read from name at line number n
// (from 1). It returns an error only when the on-error policy fails the task.
func (e *Emitter) Emit(out api.SourceContext, name string, n int64, line []byte) error {
	if e.Format == JSON {
		if blank(line) {
			return nil
		}
		if !json.Valid(line) {
			return e.Bad(name, n, line, fmt.Errorf("%w: invalid JSON: %v", onerror.ErrMalformed, jsonProblem(line)))
		}
	}
	out.Collect(nil, line)
	return nil
}

// Bad hands a bad line to the on-error handler.
func (e *Emitter) Bad(name string, n int64, line []byte, err error) error {
	return e.Handler.Handle(Position(name, n), line, err)
}

// Position is "name:n".
func Position(name string, n int64) string {
	return name + ":" + strconv.FormatInt(n, 10)
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// jsonProblem says what is wrong with a line json.Valid rejected.
func jsonProblem(line []byte) error {
	var v any
	if err := json.Unmarshal(line, &v); err != nil {
		return err
	}
	return fmt.Errorf("not a single JSON value")
}
