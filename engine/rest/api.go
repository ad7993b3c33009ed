package rest

import (
	"time"
)

// The wire format of API version 1: every request and response body. Field
// names are kebab-case, as in Flink's REST API; times are RFC 3339, durations
// are milliseconds. docs/openapi.yaml describes the same types.

// Prefix is the path prefix of this version of the API.
const Prefix = "/v1"

// Error codes: the "code" of an error body. Each has one HTTP status.
const (
	CodeBadRequest           = "bad_request"            // 400: malformed body, parameter or path
	CodeInvalidJob           = "invalid_job"            // 400: the job file has mistakes (details: one per line, file:line: field: ...)
	CodeInvalidModule        = "invalid_module"         // 400: the module is not valid WebAssembly for Freshet's ABI, or its name or version is malformed
	CodeNotFound             = "not_found"              // 404: unknown job, vertex, module, request or route
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeConflict             = "conflict"               // 409: the request does not fit the current state (a finished job, a module version with other content)
	CodeTooLarge             = "payload_too_large"      // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeInternal             = "internal"               // 500
	CodeNotImplemented       = "not_implemented"        // 501: this cluster cannot do that (yet)
)

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details lists the problems one by one when there are several (the
	// mistakes in a job file, each "file:line: field: what is wrong").
	Details []string `json:"details,omitempty"`
}

// Overview is GET /v1/overview.
type Overview struct {
	Version       string `json:"freshet-version"`
	TaskManagers  int    `json:"taskmanagers"`
	Slots         int    `json:"slots-total"`
	JobsRunning   int    `json:"jobs-running"`
	JobsFinished  int    `json:"jobs-finished"`
	JobsCancelled int    `json:"jobs-cancelled"`
	JobsFailed    int    `json:"jobs-failed"`
}

// TaskManagerInfo is one TaskManager of GET /v1/taskmanagers.
type TaskManagerInfo struct {
	ID            string        `json:"id"`
	Slots         int           `json:"slots"`
	NetworkMemory NetworkMemory `json:"network-memory"`
}

// NetworkMemory is a TaskManager's network buffer memory, in bytes.
type NetworkMemory struct {
	Total int64 `json:"total"`
	Used  int64 `json:"used"`
	Peak  int64 `json:"peak"`
}

// TaskManagerList is GET /v1/taskmanagers.
type TaskManagerList struct {
	TaskManagers []TaskManagerInfo `json:"taskmanagers"`
}

// Job states, as the API reports them.
const (
	StateCreated    = "CREATED"
	StateRunning    = "RUNNING"
	StateRestarting = "RESTARTING"
	StateFailing    = "FAILING"
	StateCancelling = "CANCELLING"
	StateFinished   = "FINISHED"
	StateFailed     = "FAILED"
	StateCanceled   = "CANCELED"
)

// JobSummary is one job of GET /v1/jobs.
type JobSummary struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	State     string     `json:"state"`
	StartTime time.Time  `json:"start-time"`
	EndTime   *time.Time `json:"end-time,omitempty"`
	// Duration is how long the job has run (until its end), in ms.
	Duration int64 `json:"duration"`
}

// Terminal reports whether the job has ended.
func (j JobSummary) Terminal() bool {
	return j.State == StateFinished || j.State == StateFailed || j.State == StateCanceled
}

// JobList is GET /v1/jobs, oldest job first.
type JobList struct {
	Jobs []JobSummary `json:"jobs"`
}

// JobDetails is GET /v1/jobs/{id}.
type JobDetails struct {
	JobSummary
	// Error is why the job failed (or last restarted).
	Error    string   `json:"error,omitempty"`
	Vertices []Vertex `json:"vertices"`
}

// Watermark states of a vertex.
const (
	WatermarkNone   = "NONE"   // no watermark yet (or the job uses no event time)
	WatermarkActive = "ACTIVE" // "watermark" holds the current one
	WatermarkEnded  = "ENDED"  // event time ended: the input is exhausted
)

// Vertex is one job vertex: a chain of operators run by the same subtasks.
type Vertex struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Parallelism int    `json:"parallelism"`
	// Status is the state of its subtasks (the worst one).
	Status     string  `json:"status"`
	Source     bool    `json:"source"`
	Sink       bool    `json:"sink"`
	RecordsIn  int64   `json:"records-in"`
	RecordsOut int64   `json:"records-out"`
	InPerSec   float64 `json:"records-in-per-second"`
	OutPerSec  float64 `json:"records-out-per-second"`
	// Time shares of the busiest, idlest and most back-pressured subtask
	// over the last second, in ms per second.
	BusyMsPerSec          float64 `json:"busy-time-ms-per-second"`
	IdleMsPerSec          float64 `json:"idle-time-ms-per-second"`
	BackPressuredMsPerSec float64 `json:"back-pressured-time-ms-per-second"`
	// BackPressure is OK (≤ 10% of the time), LOW (≤ 50%) or HIGH.
	BackPressure string `json:"back-pressure-level"`
	// Watermark is the lowest current input watermark over the subtasks,
	// in ms since the epoch; null unless WatermarkState is ACTIVE.
	Watermark      *int64     `json:"watermark"`
	WatermarkState string     `json:"watermark-state"`
	Operators      []Operator `json:"operators"`
}

// Operator is one operator of a vertex, its counters summed over subtasks.
type Operator struct {
	Name       string           `json:"name"`
	RecordsIn  int64            `json:"records-in"`
	RecordsOut int64            `json:"records-out"`
	Counters   map[string]int64 `json:"counters,omitempty"`
}

// Checkpoint statuses (and savepoint, stop and swap request statuses).
const (
	StatusInProgress = "IN_PROGRESS"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
)

// Checkpoint is one checkpoint or savepoint of a job.
type Checkpoint struct {
	ID          int64     `json:"id"`
	Savepoint   bool      `json:"savepoint"`
	Status      string    `json:"status"`
	TriggerTime time.Time `json:"trigger-time"`
	// Duration from trigger to completion (or until now), in ms.
	Duration int64 `json:"duration"`
	// StateSize is the checkpoint's full state; CheckpointedSize what it
	// wrote (less, for an incremental checkpoint sharing earlier files).
	StateSize        int64 `json:"state-size"`
	CheckpointedSize int64 `json:"checkpointed-size"`
	// SyncDuration is the longest synchronous snapshot pause of a task, ms.
	SyncDuration int64  `json:"sync-duration"`
	Acknowledged int    `json:"acknowledged-subtasks"`
	Path         string `json:"external-path,omitempty"`
	Failure      string `json:"failure,omitempty"`
}

// CheckpointCounts counts a job's checkpoints by status.
type CheckpointCounts struct {
	Total      int `json:"total"`
	InProgress int `json:"in-progress"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
}

// Checkpoints is GET /v1/jobs/{id}/checkpoints.
type Checkpoints struct {
	Counts CheckpointCounts `json:"counts"`
	// Latest is the newest completed checkpoint or savepoint.
	Latest *Checkpoint `json:"latest-completed"`
	// History is every checkpoint, oldest first.
	History []Checkpoint `json:"history"`
}

// Event is one typed lifecycle event of a job (see engine/cluster.Event).
type Event struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Task       string    `json:"task,omitempty"`
	Checkpoint int64     `json:"checkpoint,omitempty"`
	State      string    `json:"state,omitempty"`
	Message    string    `json:"message,omitempty"`
}

// EventList is GET /v1/jobs/{id}/events, oldest first.
type EventList struct {
	Events []Event `json:"events"`
}

// Exceptions is GET /v1/jobs/{id}/exceptions: the failures of a job's
// tasks, of its module swaps and of the job itself, newest first.
type Exceptions struct {
	// RootException is the error the job failed (or last restarted) with.
	RootException string  `json:"root-exception,omitempty"`
	Exceptions    []Event `json:"exceptions"`
}

// SubmitResponse answers POST /v1/jobs.
type SubmitResponse struct {
	ID string `json:"id"`
	// Warnings name settings of the job file the cluster did not apply
	// (cluster-wide settings in a session cluster, for example).
	Warnings []string `json:"warnings,omitempty"`
}

// SavepointRequest is the body of POST /v1/jobs/{id}/savepoints.
type SavepointRequest struct {
	// TargetDirectory is where the savepoint goes (a savepoint-N directory
	// is made in it). Required.
	TargetDirectory string `json:"target-directory"`
}

// StopRequest is the body of POST /v1/jobs/{id}/stop. Without a target
// directory the job stops without a savepoint.
type StopRequest struct {
	TargetDirectory string `json:"target-directory,omitempty"`
	// Drain ends event time (a final watermark fires every timer and
	// window) before the job stops. Freshet always drains, so false is
	// refused; absent means true.
	Drain *bool `json:"drain,omitempty"`
}

// Accepted answers a request that runs in the background: poll the
// request's status with its ID.
type Accepted struct {
	RequestID string `json:"request-id"`
}

// OperationStatus is the status of a savepoint or stop request.
type OperationStatus struct {
	Status string `json:"status"`
	// Location is the savepoint's directory, once COMPLETED.
	Location string `json:"location,omitempty"`
	Failure  string `json:"failure,omitempty"`
}

// Module is one module of the module store.
type Module struct {
	Name       string           `json:"name"`
	Version    string           `json:"version"`
	Ref        string           `json:"ref"`
	SHA256     string           `json:"sha256"`
	Size       int64            `json:"size"`
	Added      time.Time        `json:"added"`
	ABIVersion int              `json:"abi-version"`
	SDK        string           `json:"sdk,omitempty"`
	Functions  []ModuleFunction `json:"functions"`
}

// ModuleFunction is one function a module exports.
type ModuleFunction struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// ModuleList is GET /v1/modules, sorted by name and version.
type ModuleList struct {
	Modules []Module `json:"modules"`
}

// SwapRequest is the body of POST /v1/jobs/{id}/vertices/{vertex}/module.
type SwapRequest struct {
	// Module is the module to run from now on, "name@version" in the
	// module store.
	Module string `json:"module"`
}

// SwapStatus is GET /v1/jobs/{id}/swaps/{request-id}.
type SwapStatus struct {
	Status  string `json:"status"`
	Failure string `json:"failure,omitempty"`
}
