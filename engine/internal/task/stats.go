package task

import "time"

// OperatorStats are the cumulative counters of one chained operator.
type OperatorStats struct {
	Node       int
	Name       string
	RecordsIn  int64
	RecordsOut int64
	Counters   map[string]int64
	// State holds the keyed state backend's statistics, if it reports any.
	State map[string]float64
}

// Stats is a snapshot of a task's counters, safe to take from any goroutine.
type Stats struct {
	JobID     string
	Vertex    int
	Subtask   int
	Attempt   int
	State     string
	Operators []OperatorStats
	Watermark int64
	// Cumulative nanoseconds since the task started.
	Elapsed, Idle, BackPressured int64
}

// Stats returns the task's counters now.
func (t *Task) Stats() Stats {
	s := Stats{
		JobID:         t.d.JobID,
		Vertex:        t.d.Vertex.ID,
		Subtask:       t.d.Subtask,
		Attempt:       t.d.Attempt,
		State:         t.State().String(),
		Idle:          t.idle.Load(),
		BackPressured: t.backPressured.Load(),
		Watermark:     t.wm.Load(),
	}
	if st := t.started.Load(); st > 0 {
		s.Elapsed = time.Now().UnixNano() - st
	}
	for _, o := range t.nodes {
		os := OperatorStats{
			Node:       o.node.ID,
			Name:       o.node.Name,
			RecordsIn:  o.recordsIn.Load(),
			RecordsOut: o.recordsOut.Load(),
			Counters:   o.counterValues(),
		}
		os.State = o.stateStatistics()
		s.Operators = append(s.Operators, os)
	}
	return s
}
