package cluster

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/internal/task"
)

// BackPressureLevel classifies back pressure as Flink does: the share of
// time a vertex's busiest subtask is blocked on output.
type BackPressureLevel string

const (
	BackPressureOK   BackPressureLevel = "OK"
	BackPressureLow  BackPressureLevel = "LOW"
	BackPressureHigh BackPressureLevel = "HIGH"
)

// LevelOf returns the level for a back-pressured ratio in [0, 1].
func LevelOf(ratio float64) BackPressureLevel {
	switch {
	case ratio <= 0.10:
		return BackPressureOK
	case ratio <= 0.50:
		return BackPressureLow
	}
	return BackPressureHigh
}

// OperatorStatus sums one operator's counters over its subtasks.
type OperatorStatus struct {
	Name       string           `json:"name"`
	RecordsIn  int64            `json:"recordsIn"`
	RecordsOut int64            `json:"recordsOut"`
	Counters   map[string]int64 `json:"counters,omitempty"`
	// State sums the keyed state backend's statistics (RocksDB memory,
	// latencies, compaction debt) over the subtasks.
	State map[string]float64 `json:"stateBackend,omitempty"`
}

// VertexStatus describes one job vertex (a chain of operators).
type VertexStatus struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Parallelism int    `json:"parallelism"`
	// Source is true when the vertex's head is a source; Sink when it has
	// no outputs.
	Source     bool             `json:"source"`
	Sink       bool             `json:"sink"`
	State      string           `json:"state"`
	RecordsIn  int64            `json:"recordsIn"`
	RecordsOut int64            `json:"recordsOut"`
	InPerSec   float64          `json:"recordsInPerSecond"`
	OutPerSec  float64          `json:"recordsOutPerSecond"`
	Watermark  int64            `json:"watermark"`
	Operators  []OperatorStatus `json:"operators"`
	// Per-second time shares, in milliseconds per second, of the busiest
	// (for back pressure: the most back-pressured) subtask.
	BusyMsPerSec          float64           `json:"busyTimeMsPerSecond"`
	IdleMsPerSec          float64           `json:"idleTimeMsPerSecond"`
	BackPressuredMsPerSec float64           `json:"backPressuredTimeMsPerSecond"`
	BackPressure          BackPressureLevel `json:"backPressureLevel"`
}

// JobStatus describes a job now.
type JobStatus struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	State    JobState       `json:"state"`
	Error    string         `json:"error,omitempty"`
	Start    time.Time      `json:"startTime"`
	Duration time.Duration  `json:"duration"`
	Vertices []VertexStatus `json:"vertices"`
}

// monitor samples a job's task statistics once a second and keeps the
// rates of the last interval.
type monitor struct {
	jm *JobManager
	j  *job

	mu    sync.Mutex
	last  map[ExecutionID]task.Stats
	rates map[ExecutionID]rate
	at    time.Time
}

type rate struct {
	in, out                 float64
	busy, idle, backPressed float64 // ms per second
}

func newMonitor(jm *JobManager, j *job) *monitor {
	return &monitor{jm: jm, j: j, last: map[ExecutionID]task.Stats{}, rates: map[ExecutionID]rate{}}
}

func (m *monitor) run(ctx context.Context, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-tick.C:
			m.sample(ctx)
		}
	}
}

func (m *monitor) sample(ctx context.Context) {
	m.jm.mu.Lock()
	tms := map[TaskManagerGateway]bool{}
	for _, tm := range m.j.placed {
		tms[tm] = true
	}
	m.jm.mu.Unlock()
	now := time.Now()
	var all []task.Stats
	for tm := range tms {
		st, err := tm.TaskStats(ctx, m.j.id)
		if err != nil {
			continue
		}
		all = append(all, st...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range all {
		id := ExecutionID{Job: s.JobID, Vertex: s.Vertex, Subtask: s.Subtask, Attempt: s.Attempt}
		prev, ok := m.last[id]
		if ok && s.Elapsed > prev.Elapsed {
			dt := float64(s.Elapsed - prev.Elapsed)
			r := rate{
				idle:        1000 * float64(s.Idle-prev.Idle) / dt,
				backPressed: 1000 * float64(s.BackPressured-prev.BackPressured) / dt,
			}
			r.busy = max(0, 1000-r.idle-r.backPressed)
			secs := dt / 1e9
			if len(s.Operators) > 0 && len(prev.Operators) == len(s.Operators) {
				r.in = float64(s.Operators[0].RecordsIn-prev.Operators[0].RecordsIn) / secs
				last := len(s.Operators) - 1
				r.out = float64(s.Operators[last].RecordsOut-prev.Operators[last].RecordsOut) / secs
			}
			m.rates[id] = r
		}
		m.last[id] = s
	}
	m.at = now
}

// Status returns the current status of job id.
func (jm *JobManager) Status(id string) (JobStatus, error) {
	jm.mu.Lock()
	j, ok := jm.jobs[id]
	if !ok {
		jm.mu.Unlock()
		return JobStatus{}, fmt.Errorf("%w %s", ErrUnknownJob, id)
	}
	st := JobStatus{ID: j.id, Name: j.graph.JobName, State: j.state, Start: j.start}
	if j.err != nil {
		st.Error = j.err.Error()
	}
	if j.end.IsZero() {
		st.Duration = time.Since(j.start)
	} else {
		st.Duration = j.end.Sub(j.start)
	}
	taskStates := map[ExecutionID]task.State{}
	for k, v := range j.tasks {
		taskStates[k] = v
	}
	attempt := j.attempt
	jm.mu.Unlock()

	m := j.monitor
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range j.graph.Vertices {
		vs := VertexStatus{ID: v.ID, Name: v.Name, Parallelism: v.Parallelism, Watermark: api.MaxWatermark,
			Source: v.Head().Kind == graph.SourceNode, Sink: len(v.Outputs) == 0}
		ops := make([]OperatorStatus, len(v.Nodes))
		for i, n := range v.Nodes {
			ops[i].Name = n.Name
		}
		states := map[task.State]int{}
		for i := 0; i < v.Parallelism; i++ {
			eid := ExecutionID{Job: j.id, Vertex: v.ID, Subtask: i, Attempt: attempt}
			states[taskStates[eid]]++
			s, ok := m.last[eid]
			if !ok {
				vs.Watermark = api.MinWatermark
				continue
			}
			vs.Watermark = min(vs.Watermark, s.Watermark)
			for k, os := range s.Operators {
				if k >= len(ops) {
					break
				}
				ops[k].RecordsIn += os.RecordsIn
				ops[k].RecordsOut += os.RecordsOut
				for name, c := range os.Counters {
					if ops[k].Counters == nil {
						ops[k].Counters = map[string]int64{}
					}
					ops[k].Counters[name] += c
				}
				for name, v := range os.State {
					if ops[k].State == nil {
						ops[k].State = map[string]float64{}
					}
					ops[k].State[name] += v
				}
			}
			r := m.rates[eid]
			vs.InPerSec += r.in
			vs.OutPerSec += r.out
			vs.BusyMsPerSec = max(vs.BusyMsPerSec, r.busy)
			vs.IdleMsPerSec = max(vs.IdleMsPerSec, r.idle)
			vs.BackPressuredMsPerSec = max(vs.BackPressuredMsPerSec, r.backPressed)
		}
		vs.State = aggregateState(states)
		vs.Operators = ops
		if len(ops) > 0 {
			vs.RecordsIn = ops[0].RecordsIn
			vs.RecordsOut = ops[len(ops)-1].RecordsOut
		}
		vs.BackPressure = LevelOf(vs.BackPressuredMsPerSec / 1000)
		st.Vertices = append(st.Vertices, vs)
	}
	return st, nil
}

func aggregateState(states map[task.State]int) string {
	order := []task.State{task.Failed, task.Running, task.Created, task.Canceled, task.Finished}
	for _, s := range order {
		if states[s] > 0 {
			return s.String()
		}
	}
	keys := make([]string, 0)
	for s := range states {
		keys = append(keys, s.String())
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		return keys[0]
	}
	return "UNKNOWN"
}
