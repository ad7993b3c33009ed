package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/freshet/freshet/engine/rest"
)

// What the commands that call a JobManager's REST API share: the
// --jobmanager flag, the client, and turning its errors into one-line
// messages and exit codes.

// remote is the common state of a client command.
type remote struct {
	name   string // "freshet list"
	stdio  IO
	url    *string
	client *rest.Client
}

// newRemote adds --jobmanager to fs.
func newRemote(stdio IO, fs *flag.FlagSet) *remote {
	r := &remote{name: "freshet " + fs.Name(), stdio: stdio}
	r.url = fs.String("jobmanager", rest.DefaultURL, "URL of the JobManager's REST API")
	return r
}

// connect makes the client once the flags are parsed.
func (r *remote) connect() (int, bool) {
	c, err := rest.NewClient(*r.url, &http.Client{Timeout: 2 * time.Minute})
	if err != nil {
		fmt.Fprintf(r.stdio.Err, "%s: --jobmanager: %v\n", r.name, err)
		return ExitUsage, false
	}
	r.client = c
	return 0, true
}

// fail prints err on one line (an invalid job file: one line per problem)
// and returns the exit code: 2 when the JobManager refused the request as a
// mistake (4xx), 130 after an interrupt, 1 otherwise.
func (r *remote) fail(ctx context.Context, err error) int {
	var ae *rest.APIError
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintf(r.stdio.Err, "%s: interrupted\n", r.name)
		return ExitInterrupted
	case errors.Is(err, rest.ErrUnreachable):
		fmt.Fprintf(r.stdio.Err, "%s: %v (is `freshet cluster` running? --jobmanager picks another address)\n", r.name, err)
		return ExitFailure
	case errors.As(err, &ae):
		if len(ae.Details) > 1 {
			printErr(r.stdio.Err, r.name, errors.New(strings.Join(ae.Details, "\n")))
		} else {
			fmt.Fprintf(r.stdio.Err, "%s: %s\n", r.name, oneLine(ae.Message))
		}
		if ae.Status >= 400 && ae.Status < 500 {
			return ExitUsage
		}
		return ExitFailure
	}
	fmt.Fprintf(r.stdio.Err, "%s: %s\n", r.name, oneLine(err.Error()))
	return ExitFailure
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// args checks the number of positional arguments.
func (r *remote) args(fs *flag.FlagSet, want int, what string) bool {
	if fs.NArg() == want {
		return true
	}
	fmt.Fprintf(r.stdio.Err, "%s: expected %s (see --help)\n", r.name, what)
	return false
}

// absPath makes a path given to the JobManager absolute: the JobManager
// runs elsewhere (in another working directory, at least).
func absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// pollInterval is how often commands that wait ask for news.
const pollInterval = 200 * time.Millisecond

// waitFor bounds ctx by timeout (none when 0).
func waitFor(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, timeout, fmt.Errorf("gave up waiting after %s (--timeout)", timeout))
}

// waitErr explains why waiting ended without an answer.
func waitErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && errors.Is(err, context.DeadlineExceeded) {
		return cause
	}
	return err
}

// writeRows prints a table with a header, aligned by tabs.
func writeRows(w io.Writer, header string, rows [][]string) {
	tw := newTable(w)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
