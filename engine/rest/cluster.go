package rest

import (
	"context"
	"errors"
	"fmt"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/host/modules"
)

// Cluster is what the Server needs from a JobManager. Except for
// TaskManagers and Submit, its methods are those of *cluster.JobManager, with
// the same meaning and errors (cluster.ErrUnknownJob for an unknown ID).
type Cluster interface {
	// TaskManagers describes the cluster's TaskManagers.
	TaskManagers() []TaskManagerInfo
	// Submit builds the job of spec and starts it. Mistakes in the job file
	// match ErrInvalidJob (or jobspec.ErrInvalid); an unusable restore
	// point matches ErrBadRequest; too few slots match ErrConflict.
	Submit(ctx context.Context, spec *jobspec.Spec, opts SubmitOptions) (SubmitResponse, error)
	// Jobs lists every job's ID, oldest first.
	Jobs() []string
	Status(id string) (cluster.JobStatus, error)
	Checkpoints(id string) ([]cluster.CheckpointStats, error)
	// Events returns the recent events of job id.
	Events(id string) []cluster.Event
	// Cancel cancels a job at once.
	Cancel(ctx context.Context, id string) error
	// Stop ends a job gracefully: sources stop, sinks flush and commit.
	Stop(ctx context.Context, id string) error
	// TriggerSavepoint takes a savepoint into dir and waits for it; with
	// stop, the job then stops as with Stop. It returns the savepoint's
	// directory.
	TriggerSavepoint(ctx context.Context, id, dir string, stop bool) (string, error)
	// Wait blocks until job id has ended.
	Wait(ctx context.Context, id string) (cluster.JobResult, error)
}

// SubmitOptions are the options of a submission besides the job file.
type SubmitOptions struct {
	// RestoreFrom is a savepoint or checkpoint directory to start from.
	RestoreFrom string
	// AllowNonRestoredState accepts state of operators the job lacks.
	AllowNonRestoredState bool
}

// ModuleSwapper is implemented by a Cluster that can hot-swap the
// WebAssembly module of a running vertex (POST
// /v1/jobs/{id}/vertices/{vertex}/module). Without it, or when SwapModule
// returns an error matching errors.ErrUnsupported, the endpoint answers 501.
//
// Before calling SwapModule the Server has checked that the job exists and
// is RUNNING, that vertex names one of its vertices (by ID, by vertex name or
// by the name of one of its operators; the string is passed on as the user
// wrote it), and, when the Server has a module store, that module is a
// stored "name@version".
type ModuleSwapper interface {
	// SwapModule starts replacing the module of vertex of job jobID with
	// module ("name@version") and returns an ID to poll with SwapStatus.
	// Errors matching cluster.ErrUnknownJob or ErrNotFound answer 404,
	// ErrBadRequest 400, errors.ErrUnsupported 501; any other error means
	// the swap was refused in the job's current state and answers 409.
	SwapModule(ctx context.Context, jobID, vertex, module string) (requestID string, err error)
	// SwapStatus reports a swap: status is IN_PROGRESS, COMPLETED or
	// FAILED, and failure says why a swap FAILED. An unknown job or request
	// is an error matching cluster.ErrUnknownJob or ErrNotFound.
	SwapStatus(jobID, requestID string) (status, failure string, err error)
}

// ModuleStore is the module registry the Server manages; *modules.Store
// implements it.
type ModuleStore interface {
	List() ([]modules.Info, error)
	// Info returns name@version's metadata, or an error matching
	// modules.ErrNotFound.
	Info(ref string) (modules.Info, error)
	// Add validates wasm and stores it as ref (name@version).
	Add(ctx context.Context, ref string, wasm []byte) (modules.Info, error)
}

// Error categories a Cluster may wrap so that the Server answers with the
// right status. The Server also recognizes the errors of the packages it
// talks to (cluster.ErrUnknownJob, jobspec.ErrInvalid, host/modules' and
// host's categories).
var (
	// ErrBadRequest: the request is malformed or names something unusable.
	ErrBadRequest = errors.New("bad request")
	// ErrInvalidJob: the job file has mistakes.
	ErrInvalidJob = errors.New("invalid job")
	// ErrNotFound: the request names something that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request does not fit the current state.
	ErrConflict = errors.New("conflict")
)

// categorized marks err with a category without changing its message.
type categorized struct {
	err error
	cat error
}

func (c *categorized) Error() string   { return c.err.Error() }
func (c *categorized) Unwrap() []error { return []error{c.err, c.cat} }
func mark(err, category error) error   { return &categorized{err: err, cat: category} }
func markf(category error, f string, a ...any) error {
	return mark(fmt.Errorf(f, a...), category)
}
