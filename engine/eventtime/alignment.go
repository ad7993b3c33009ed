package eventtime

import (
	"math"
	"sync"
	"time"
)

// Alignment configures watermark alignment (FLIP-182): the sources of one
// group may not run more than MaxDrift of event time ahead of the slowest.
type Alignment struct {
	// Group names the alignment group; empty disables alignment.
	Group string
	// MaxDrift is how far a member's watermark may run ahead of the group's minimum.
	MaxDrift time.Duration
	// Coordinator is the coordinator to report to. When nil, the operator
	// uses the one its api.Context offers (CoordinatorProvider) or, failing
	// that, DefaultCoordinator.
	Coordinator AlignmentCoordinator
}

// AlignmentCoordinator tracks the watermarks of alignment groups. It is
// called from many task goroutines at once.
type AlignmentCoordinator interface {
	// Report records member's watermark in group and returns the largest
	// watermark the member may reach: the minimum over the group's members
	// plus maxDrift (math.MaxInt64 when that overflows).
	Report(group, member string, wm int64, maxDrift time.Duration) (maxAllowed int64)
	// Leave removes member from group (its input ended, it became idle or
	// it closed); its watermark no longer holds the group back.
	Leave(group, member string)
}

// CoordinatorProvider is implemented by an api.Context whose runtime has an
// alignment coordinator of its own (for example one per job, held by the
// JobManager); the operator type-asserts its context to it.
type CoordinatorProvider interface {
	AlignmentCoordinator() AlignmentCoordinator
}

// InProcessCoordinator is an AlignmentCoordinator for the members in one
// process. The zero value is ready to use.
type InProcessCoordinator struct {
	mu     sync.Mutex
	groups map[string]map[string]int64
}

// DefaultCoordinator is the process-wide coordinator used when neither the
// strategy nor the runtime supplies one. Group names are shared by every
// job of the process.
var DefaultCoordinator = &InProcessCoordinator{}

// Report implements AlignmentCoordinator.
func (c *InProcessCoordinator) Report(group, member string, wm int64, maxDrift time.Duration) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups == nil {
		c.groups = map[string]map[string]int64{}
	}
	g := c.groups[group]
	if g == nil {
		g = map[string]int64{}
		c.groups[group] = g
	}
	g[member] = wm
	low := int64(math.MaxInt64)
	for _, w := range g {
		low = min(low, w)
	}
	d := maxDrift.Milliseconds()
	if low > math.MaxInt64-d {
		return math.MaxInt64
	}
	return low + d
}

// Leave implements AlignmentCoordinator.
func (c *InProcessCoordinator) Leave(group, member string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[group]; g != nil {
		delete(g, member)
		if len(g) == 0 {
			delete(c.groups, group)
		}
	}
}

// Members is the number of members of group (for tests and status pages).
func (c *InProcessCoordinator) Members(group string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.groups[group])
}
