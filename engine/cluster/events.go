package cluster

import (
	"sync"
	"time"
)

// EventType names a lifecycle event.
type EventType string

const (
	EventJobStateChanged     EventType = "JOB_STATE_CHANGED"
	EventTaskFailed          EventType = "TASK_FAILED"
	EventJobRestarting       EventType = "JOB_RESTARTING"
	EventCheckpointCompleted EventType = "CHECKPOINT_COMPLETED"
	EventCheckpointFailed    EventType = "CHECKPOINT_FAILED"
	EventModuleSwapped       EventType = "MODULE_SWAPPED"
	EventModuleSwapFailed    EventType = "MODULE_SWAP_FAILED"
)

// Event is one lifecycle event of a job. Logs, metrics, the REST API's
// exception history and the UI all read them from the JobManager.
type Event struct {
	Time       time.Time `json:"time"`
	Type       EventType `json:"type"`
	Job        string    `json:"job"`
	Task       string    `json:"task,omitempty"`
	Checkpoint int64     `json:"checkpoint,omitempty"`
	State      JobState  `json:"state,omitempty"`
	Message    string    `json:"message,omitempty"`
}

// events keeps the recent events and fans them out to subscribers.
type events struct {
	mu   sync.Mutex
	log  []Event
	subs []func(Event)
}

const maxEvents = 1000

func (e *events) add(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.mu.Lock()
	e.log = append(e.log, ev)
	if len(e.log) > maxEvents {
		e.log = append(e.log[:0], e.log[len(e.log)-maxEvents:]...)
	}
	subs := append([]func(Event){}, e.subs...)
	e.mu.Unlock()
	for _, s := range subs {
		s(ev)
	}
}

// Subscribe calls fn for every later event, on the goroutine that emits it;
// fn must not block.
func (jm *JobManager) Subscribe(fn func(Event)) {
	jm.events.mu.Lock()
	jm.events.subs = append(jm.events.subs, fn)
	jm.events.mu.Unlock()
}

// Events returns the recent events of job id (all jobs when id is empty).
func (jm *JobManager) Events(id string) []Event {
	jm.events.mu.Lock()
	defer jm.events.mu.Unlock()
	var out []Event
	for _, ev := range jm.events.log {
		if id == "" || ev.Job == id {
			out = append(out, ev)
		}
	}
	return out
}

func (jm *JobManager) emit(ev Event) { jm.events.add(ev) }
