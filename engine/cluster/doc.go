// Package cluster coordinates jobs: a JobManager that schedules a job's
// subtasks onto TaskManager slots and follows their states, TaskManagers that
// run tasks, and a MiniCluster that puts both in one process for
// `freshet run`.
//
// JobManager and TaskManager talk only through the JobManagerGateway and
// TaskManagerGateway interfaces, whose arguments are plain data, so that a
// later step can serve them over gRPC between processes without touching the
// scheduling or the task code. Only the in-process implementation exists now.
package cluster
