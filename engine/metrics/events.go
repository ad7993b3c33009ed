package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshet/freshet/engine/cluster"
)

var (
	eventsTotal = prometheus.NewDesc("freshet_job_events_total",
		"Lifecycle events of a job by type (JOB_STATE_CHANGED, TASK_FAILED, JOB_RESTARTING, CHECKPOINT_COMPLETED, CHECKPOINT_FAILED, MODULE_SWAPPED, ...).", []string{"job", "type"}, nil)
	restartsTotal = prometheus.NewDesc("freshet_job_restarts_total",
		"Restarts of a job after failures (Flink's numRestarts).", []string{"job"}, nil)
	cpCompleted = prometheus.NewDesc("freshet_job_checkpoints_completed_total",
		"Completed checkpoints and savepoints of a job.", []string{"job"}, nil)
	cpFailed = prometheus.NewDesc("freshet_job_checkpoints_failed_total",
		"Failed checkpoints and savepoints of a job.", []string{"job"}, nil)
)

// eventCounter counts the JobManager's events as they are emitted. It also
// counts the events emitted before it subscribed, from the JobManager's
// recent events, without counting any twice.
type eventCounter struct {
	mu       sync.Mutex
	byType   map[jobType]float64
	restarts map[string]float64
	cpDone   map[string]float64
	cpFailed map[string]float64

	// While seeding, fromSub holds the events the subscription counted;
	// fromLog holds those counted from the recent events, which the
	// subscription may still deliver (for a minute after seeding).
	seeding  bool
	fromSub  map[cluster.Event]bool
	fromLog  map[cluster.Event]bool
	seededAt time.Time
}

type jobType struct{ job, typ string }

func newEventCounter(jm *cluster.JobManager) *eventCounter {
	c := &eventCounter{
		byType: map[jobType]float64{}, restarts: map[string]float64{}, cpDone: map[string]float64{}, cpFailed: map[string]float64{},
		seeding: true, fromSub: map[cluster.Event]bool{}, fromLog: map[cluster.Event]bool{},
	}
	jm.Subscribe(c.observe)
	c.seed(jm.Events(""))
	return c
}

// observe is the subscription: it runs on the emitting goroutine and only
// takes the mutex.
func (c *eventCounter) observe(ev cluster.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fromLog != nil {
		if c.fromLog[ev] {
			delete(c.fromLog, ev)
			return
		}
		if !c.seeding && ev.Time.After(c.seededAt.Add(time.Minute)) {
			c.fromLog = nil
		}
	}
	c.count(ev)
	if c.seeding {
		c.fromSub[ev] = true
	}
}

func (c *eventCounter) seed(log []cluster.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range log {
		if c.fromSub[ev] {
			continue
		}
		c.count(ev)
		c.fromLog[ev] = true
	}
	c.seeding, c.fromSub, c.seededAt = false, nil, time.Now()
}

func (c *eventCounter) count(ev cluster.Event) {
	c.byType[jobType{ev.Job, string(ev.Type)}]++
	switch ev.Type {
	case cluster.EventJobStateChanged:
		// Series at 0 from the job's first event on.
		c.restarts[ev.Job] += 0
		c.cpDone[ev.Job] += 0
		c.cpFailed[ev.Job] += 0
	case cluster.EventJobRestarting:
		c.restarts[ev.Job]++
	case cluster.EventCheckpointCompleted:
		c.cpDone[ev.Job]++
	case cluster.EventCheckpointFailed:
		c.cpFailed[ev.Job]++
	}
}

func (c *eventCounter) collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.byType {
		ch <- prometheus.MustNewConstMetric(eventsTotal, prometheus.CounterValue, n, k.job, k.typ)
	}
	for _, m := range []struct {
		d *prometheus.Desc
		v map[string]float64
	}{{restartsTotal, c.restarts}, {cpCompleted, c.cpDone}, {cpFailed, c.cpFailed}} {
		for job, n := range m.v {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, n, job)
		}
	}
}
