// Package failpoint lets crash tests kill a real freshet process at a named
// moment that random timing would rarely hit, such as between a
// checkpoint's completion and the sinks' commit.
//
// Failpoints are read once from the environment variable FRESHET_FAILPOINTS,
// a comma-separated list of name=N: the process SIGKILLs itself the first
// time failpoint name is reached with a checkpoint id of at least N. Without
// the variable every failpoint is a no-op costing one map lookup.
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Names of the failpoints.
const (
	// AfterCheckpointComplete: the checkpoint's metadata is written, the
	// tasks are not told yet (so sinks have not committed).
	AfterCheckpointComplete = "after-checkpoint-complete"
	// DuringCheckpointWrite: a task wrote some, not all, of its state files.
	DuringCheckpointWrite = "during-checkpoint-write"
)

var (
	once   sync.Once
	points map[string]int64
)

func load() {
	points = map[string]int64{}
	for _, p := range strings.Split(os.Getenv("FRESHET_FAILPOINTS"), ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			points[name] = n
		}
	}
}

// Hit kills the process when failpoint name is armed for checkpoint id.
func Hit(name string, id int64) {
	once.Do(load)
	if n, ok := points[name]; ok && id >= n {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
