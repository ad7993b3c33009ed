// Package spec runs data-driven tests of WebAssembly operators. A spec is a
// YAML file of cases; each case opens one function of a module in the real
// host (through host/harness) and runs steps that feed it records,
// watermarks and processing time, then check what it emitted (main and side
// outputs), its keyed state, pending timers, counters and errors.
//
// `freshet test` is the command line over this package; operator authors
// call Run from `go test` as well. docs/operators.md documents the format.
//
// Invariants:
//   - Every case gets a fresh instance and empty state: cases are
//     independent and can be selected by name.
//   - An output check compares what the function emitted since the previous
//     check of the same output (or since the case started); records nobody
//     checks are not an error.
//   - A record field an expectation leaves out is not compared.
//   - A malformed spec is an error wrapping ErrMalformed that names the file,
//     line and column; a case that fails is a Failure in the Report, never
//     an error.
package spec

import (
	"errors"
	"fmt"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
)

// ErrMalformed: the spec file is not a valid spec. Every parse error wraps it.
var ErrMalformed = errors.New("malformed test spec")

// MaxFileSize bounds a spec file.
const MaxFileSize = 8 << 20

// SyntaxError is one mistake in a spec file.
type SyntaxError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Unwrap makes every SyntaxError an ErrMalformed.
func (e *SyntaxError) Unwrap() error { return ErrMalformed }

// Spec is a parsed spec file.
type Spec struct {
	// File is the name the spec was parsed under (used in messages).
	File string
	// Description is the spec's free-form description.
	Description string
	// Cases are the test cases, in file order.
	Cases []*Case
}

// Case is one test case: a fresh instance of one function and the steps
// run against it.
type Case struct {
	// Name identifies the case (unique in its spec).
	Name string
	// Line is the case's line in the spec file.
	Line int
	// Function and Kind select the module's function (empty and 0: the
	// module's only function).
	Function string
	Kind     abi.OperatorKind
	// Config is the JSON object the function is opened with (nil: "{}").
	Config []byte
	// OnError is the error policy for records the function fails on.
	OnError host.ErrorPolicy

	openError *errorExpect // the function must fail to open
	steps     []step
}

type actionKind uint8

const (
	actNone actionKind = iota
	actRecords
	actWatermark
	actProcessingTime
	actFinish
	actMerge
)

// step is one action and the checks made after it.
type step struct {
	line     int
	action   actionKind
	actName  string // as written, for messages: "records", "watermark 61000"
	records  []api.Record
	time     int64
	mergeSrc []byte
	mergeDst []byte

	output   *[]recordMatch
	anyOrder bool
	sides    []sideExpect
	state    []stateExpect
	counters []counterExpect
	timers   *[]timerMatch
	err      *errorExpect
}

// bytesValue is an expected (or input) byte string and how the spec wrote
// it, so that the bytes found are shown the same way.
type bytesValue struct {
	b   []byte
	enc string // "" (text), "hex", "base64", "i64le", "i64be", "json"
}

// recordMatch is an expected record; unset fields are not compared.
type recordMatch struct {
	key, value *bytesValue
	ts         *int64
	headers    *[]headerMatch
}

type headerMatch struct {
	key   []byte
	value bytesValue
}

type sideExpect struct {
	tag  string
	recs []recordMatch
}

type stateExpect struct {
	key    []byte
	name   string
	kind   api.StateKind
	value  *bytesValue // value state; nil with absent
	absent bool
	list   []bytesValue
	mapv   []mapEntry
}

type mapEntry struct {
	key   []byte
	value bytesValue
}

type counterExpect struct {
	name string
	n    int64
}

type timerMatch struct {
	key    *bytesValue
	ts     *int64
	domain *api.TimeDomain
}

type errorExpect struct {
	msg      string // substring of the error's message ("" any)
	kind     error  // host error category (nil: any)
	kindName string
}

// errorKinds are the names of the host's error categories in specs.
var errorKinds = []struct {
	name string
	err  error
}{
	{"user-function", host.ErrUserFunction},
	{"trap", host.ErrGuestTrap},
	{"timeout", host.ErrTimeout},
	{"memory-limit", host.ErrMemoryLimit},
	{"abi", host.ErrABI},
	{"poisoned", host.ErrPoisoned},
}
