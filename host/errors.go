package host

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error categories. Every error the host returns for a guest failure wraps
// exactly one of them; test with errors.Is.
var (
	// ErrInvalidModule: the bytes are not a WebAssembly module the host can
	// compile (truncated, not WebAssembly, too large).
	ErrInvalidModule = errors.New("invalid WebAssembly module")
	// ErrGuestTrap: the guest trapped (unreachable, out-of-bounds access, a Go
	// or Rust panic) or exited.
	ErrGuestTrap = errors.New("guest trapped")
	// ErrTimeout: one guest call ran longer than the batch timeout and was
	// interrupted.
	ErrTimeout = errors.New("guest call timed out")
	// ErrMemoryLimit: the guest needed more memory than its cap.
	ErrMemoryLimit = errors.New("guest memory limit exceeded")
	// ErrABI: the module or one of its calls broke the ABI (docs/abi.md):
	// unsupported version, missing export, import outside the ABI, malformed
	// output, pointer out of bounds, a failure status from an export.
	ErrABI = errors.New("ABI violation")
	// ErrUserFunction: the operator's function reported that it failed on a
	// record (an error entry), and the error policy is to fail.
	ErrUserFunction = errors.New("operator function failed")
	// ErrPoisoned: the instance failed before and may not be called again.
	ErrPoisoned = errors.New("instance was discarded after an earlier failure")
)

// Error is a guest failure with what the host was doing when it happened.
type Error struct {
	// Module names the module: "name@version" or its file name, and its hash.
	Module string
	// Export is the guest export that was called, e.g. "freshet_process".
	Export string
	// Function is the module's function (from its descriptor), if known.
	Function string
	// Entry is the index of the input entry being processed within the guest
	// call, or -1 when unknown.
	Entry int
	// Key is the key of that entry (nil when unknown).
	Key []byte
	// Kind is the category (ErrGuestTrap, ErrTimeout, ...).
	Kind error
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("wasm module ")
	b.WriteString(e.Module)
	if e.Export != "" {
		b.WriteString(": ")
		b.WriteString(e.Export)
		if e.Function != "" {
			b.WriteString(" (function ")
			b.WriteString(strconv.Quote(e.Function))
			b.WriteString(")")
		}
	}
	if e.Entry >= 0 {
		b.WriteString(": record ")
		b.WriteString(strconv.Itoa(e.Entry))
		b.WriteString(" of the call")
		if e.Key != nil {
			b.WriteString(" (key ")
			b.WriteString(quoteKey(e.Key))
			b.WriteString(")")
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the category and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func quoteKey(k []byte) string {
	const max = 64
	short := k
	if len(short) > max {
		short = short[:max]
	}
	var s string
	if utf8.Valid(short) {
		s = strconv.Quote(string(short))
	} else {
		s = fmt.Sprintf("0x%x", short)
	}
	if len(k) > max {
		s += fmt.Sprintf("...(%d bytes)", len(k))
	}
	return s
}
