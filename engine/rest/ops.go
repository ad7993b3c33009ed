package rest

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// maxOperations bounds the savepoint and stop requests remembered; the
// oldest finished ones are forgotten first.
const maxOperations = 1000

// operations remembers the savepoint and stop requests of a Server.
type operations struct {
	mu    sync.Mutex
	limit int
	byID  map[string]*operation
	order []string // oldest first
}

type operation struct {
	job    string
	status OperationStatus
}

func newOperations(limit int) *operations {
	return &operations{limit: limit, byID: map[string]*operation{}}
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// start records a new IN_PROGRESS operation on job and returns its ID.
func (o *operations) start(job string) string {
	id := newRequestID()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.byID[id] = &operation{job: job, status: OperationStatus{Status: StatusInProgress}}
	o.order = append(o.order, id)
	for len(o.order) > o.limit && o.evictOne() {
	}
	return id
}

// evictOne forgets the oldest finished operation.
func (o *operations) evictOne() bool {
	for i, id := range o.order {
		if o.byID[id].status.Status != StatusInProgress {
			delete(o.byID, id)
			o.order = append(o.order[:i], o.order[i+1:]...)
			return true
		}
	}
	return false
}

// finish records the outcome of operation id.
func (o *operations) finish(id, location string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	op, ok := o.byID[id]
	if !ok {
		return
	}
	if err != nil {
		op.status = OperationStatus{Status: StatusFailed, Failure: err.Error()}
		return
	}
	op.status = OperationStatus{Status: StatusCompleted, Location: location}
}

// get returns the status of operation id of job.
func (o *operations) get(job, id string) (OperationStatus, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	op, ok := o.byID[id]
	if !ok || op.job != job {
		return OperationStatus{}, false
	}
	return op.status, true
}
