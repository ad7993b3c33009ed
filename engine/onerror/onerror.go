// Package onerror owns what a source does with a record it cannot read: the
// on-error policy of a job or source (`on-error: fail | skip | dead-letter`).
//
//   - fail (the default) stops the task with an error that names the source
//     and the record's position (file:line, or topic/partition/offset);
//   - skip drops the record and counts it in the numRecordsSkipped counter;
//   - dead-letter appends one JSON line {source, position, reason, record} to
//     the file at dead-letter-path and counts it in numRecordsDeadLettered.
//
// A source reads its Policy once, when the job is built (FromParams), makes
// one Handler per subtask in Open (Policy.NewHandler) and calls
// Handler.Handle for every bad record. The dead-letter file is opened (and
// created) when the handler is made, so an unwritable path fails the task at
// start; subtasks and sources of one process that name the same file share
// one handle and never interleave lines. A connector with another dead-letter
// destination (a Kafka topic) supplies its own DeadLetterWriter with the
// DeadLetterTo option; the JSON shape of a dead letter stays the same.
package onerror

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
)

// Action is what happens to a bad record.
type Action string

const (
	Fail       Action = "fail"
	Skip       Action = "skip"
	DeadLetter Action = "dead-letter"
)

// Counter names under which a Handler counts records (api.Context.Counter).
const (
	SkippedCounter      = "numRecordsSkipped"
	DeadLetteredCounter = "numRecordsDeadLettered"
)

// ErrMalformed is the category of records that cannot be decoded. Sources
// wrap it (fmt.Errorf("%w: invalid JSON: ...", ErrMalformed)) in the error they
// pass to Handle.
var ErrMalformed = errors.New("malformed record")

// ParseAction returns the Action named s.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Fail, Skip, DeadLetter:
		return a, nil
	}
	return "", fmt.Errorf("on-error %q is not one of fail, skip, dead-letter", s)
}

// RecordError is the error a Handler with the fail policy returns: a bad
// record, where it was, and what was wrong with it (Err, often wrapping
// ErrMalformed).
type RecordError struct {
	Source   string // the source's name in the job
	Position string // e.g. "events.jsonl:17"
	Err      error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("source %q: %s: %v", e.Source, e.Position, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Letter is one record set aside by the dead-letter policy.
type Letter struct {
	Source   string
	Position string
	Reason   string
	Record   []byte
}

// AppendJSON appends d as one JSON object and a newline:
//
//	{"source":"clicks","position":"in.jsonl:3","reason":"...","record":"..."}
//
// record is the raw record as a string; when the raw bytes are not valid
// UTF-8 it is their base64 encoding and "encoding":"base64" is added.
func (d *Letter) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"source":`...)
	dst = appendString(dst, d.Source)
	dst = append(dst, `,"position":`...)
	dst = appendString(dst, d.Position)
	dst = append(dst, `,"reason":`...)
	dst = appendString(dst, d.Reason)
	dst = append(dst, `,"record":`...)
	if utf8.Valid(d.Record) {
		dst = appendString(dst, d.Record)
	} else {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, d.Record)
		dst = append(dst, `","encoding":"base64"`...)
	}
	return append(dst, "}\n"...)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\\ufffd"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// DeadLetterWriter stores dead letters somewhere: a file (the default), or a
// topic for connectors that supply their own with DeadLetterTo.
type DeadLetterWriter interface {
	WriteDeadLetter(l *Letter) error
	Close() error
}

// Opener opens the dead-letter writer of one subtask.
type Opener func(ctx api.Context) (DeadLetterWriter, error)

// Policy is an on-error policy, read once when the job is built.
type Policy struct {
	Action Action
	// DeadLetterPath is the file dead letters are appended to.
	DeadLetterPath string

	open Opener
}

// Option changes how FromParams reads a policy.
type Option func(*Policy)

// DeadLetterTo makes the dead-letter policy write with writers from open
// instead of to dead-letter-path, which is then not required (and ignored).
func DeadLetterTo(open Opener) Option { return func(p *Policy) { p.open = open } }

// FromParams reads the `on-error` and `dead-letter-path` fields of a source.
// jobDefault is the job-wide on-error ("" means fail). Mistakes are recorded
// in p and reported by p.Err.
func FromParams(p *params.Params, jobDefault string, opts ...Option) Policy {
	def := Fail
	if jobDefault != "" {
		a, err := ParseAction(jobDefault)
		if err != nil {
			p.Errorf("on-error", "job default: %v", err)
		} else {
			def = a
		}
	}
	pol := Policy{
		Action:         Action(p.Enum("on-error", string(def), string(Fail), string(Skip), string(DeadLetter))),
		DeadLetterPath: p.String("dead-letter-path", ""),
	}
	for _, o := range opts {
		o(&pol)
	}
	switch {
	case pol.Action == DeadLetter && pol.open == nil && strings.TrimSpace(pol.DeadLetterPath) == "":
		p.Errorf("dead-letter-path", "on-error is dead-letter but dead-letter-path is not set")
	case pol.Action != DeadLetter && p.Has("dead-letter-path"):
		p.Errorf("dead-letter-path", "is set but on-error is %s, not dead-letter", pol.Action)
	}
	return pol
}

func (pol Policy) String() string {
	if pol.Action == DeadLetter && pol.open == nil {
		return fmt.Sprintf("dead-letter to %s", pol.DeadLetterPath)
	}
	if pol.Action == "" {
		return string(Fail)
	}
	return string(pol.Action)
}

// NewHandler returns the handler of one subtask, opening its dead-letter
// writer when the policy needs one. Close the handler when the subtask ends.
func (pol Policy) NewHandler(ctx api.Context) (*Handler, error) {
	h := &Handler{source: ctx.OperatorName(), action: pol.Action, log: ctx.Logger()}
	switch pol.Action {
	case "", Fail:
		h.action = Fail
	case Skip:
		h.count = ctx.Counter(SkippedCounter)
	case DeadLetter:
		var (
			w   DeadLetterWriter
			err error
		)
		if pol.open != nil {
			w, err = pol.open(ctx)
		} else {
			w, err = openFile(pol.DeadLetterPath)
		}
		if err != nil {
			return nil, fmt.Errorf("source %q: opening dead-letter output: %w", h.source, err)
		}
		h.dead = w
		h.count = ctx.Counter(DeadLetteredCounter)
	default:
		return nil, fmt.Errorf("source %q: unknown on-error action %q", h.source, pol.Action)
	}
	return h, nil
}

// NewHandlerWriter returns a dead-letter handler of one subtask that writes
// to w, whatever the policy's action; for connectors and tests that manage
// their own writer. The handler closes w.
func NewHandlerWriter(ctx api.Context, w DeadLetterWriter) *Handler {
	return &Handler{source: ctx.OperatorName(), action: DeadLetter, log: ctx.Logger(),
		dead: w, count: ctx.Counter(DeadLetteredCounter)}
}

// Handler applies a policy to the bad records of one subtask. It is used from
// the subtask's goroutine only.
type Handler struct {
	source string
	action Action
	dead   DeadLetterWriter
	count  api.Counter
	log    *slog.Logger
	warned bool
}

// Action is the handler's action.
func (h *Handler) Action() Action { return h.action }

// Handle deals with one bad record: raw is the record as read, position where
// it was (e.g. "in.jsonl:17"), err what is wrong with it. It returns nil when
// the record was skipped or dead-lettered, and the error that fails the task
// otherwise (a *RecordError, or the dead-letter writer's error).
func (h *Handler) Handle(position string, raw []byte, err error) error {
	if err == nil {
		err = ErrMalformed
	}
	switch h.action {
	case Skip:
		h.count.Add(1)
		h.warnOnce(position, err)
		return nil
	case DeadLetter:
		l := Letter{Source: h.source, Position: position, Reason: err.Error(), Record: raw}
		if werr := h.dead.WriteDeadLetter(&l); werr != nil {
			return fmt.Errorf("source %q: %s: writing dead letter (record was: %v): %w", h.source, position, err, werr)
		}
		h.count.Add(1)
		h.warnOnce(position, err)
		return nil
	}
	return &RecordError{Source: h.source, Position: position, Err: err}
}

// warnOnce logs the first bad record of the subtask; the rest are counted.
func (h *Handler) warnOnce(position string, err error) {
	if h.warned || h.log == nil {
		return
	}
	h.warned = true
	h.log.Warn("bad record, further ones are only counted", "source", h.source,
		"position", position, "error", err, "on-error", string(h.action))
}

// Close closes the dead-letter writer, if any.
func (h *Handler) Close() error {
	if h == nil || h.dead == nil {
		return nil
	}
	w := h.dead
	h.dead = nil
	return w.Close()
}
