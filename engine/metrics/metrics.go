// Package metrics exports the state of a cluster to Prometheus.
//
// Counters are not updated on the record path: tasks keep atomic counters per
// batch, and this package's collector reads them (through the JobManager's
// job status and checkpoint history and the TaskManagers' memory statistics)
// when Prometheus scrapes. Totals that outlive the JobManager's bounded
// histories — restarts, checkpoints, events by type — are counted from its
// typed lifecycle events as they happen. InstrumentREST counts the REST
// API's requests. Names follow Flink's metric names in Prometheus form;
// deploy/grafana/freshet-dashboard.json is a dashboard over them.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cluster"
)

// DefaultAddr is where `freshet run` serves metrics unless told otherwise.
const DefaultAddr = "127.0.0.1:9249"

var (
	recordsIn = prometheus.NewDesc("freshet_operator_records_in_total",
		"Records an operator received, summed over its subtasks.", []string{"job", "vertex", "operator"}, nil)
	recordsOut = prometheus.NewDesc("freshet_operator_records_out_total",
		"Records an operator emitted, summed over its subtasks.", []string{"job", "vertex", "operator"}, nil)
	stateStat = prometheus.NewDesc("freshet_state_backend_statistic",
		"Keyed state backend statistics of an operator, summed over its subtasks (RocksDB memtable and block cache bytes, read/write latency, pending compaction bytes, write stalls; units in the name label).", []string{"job", "operator", "name"}, nil)
	opCounter = prometheus.NewDesc("freshet_operator_counter_total",
		"Named counters of operators (numRecordsSkipped, numLateRecordsDropped, ...).", []string{"job", "operator", "name"}, nil)
	busy = prometheus.NewDesc("freshet_task_busy_time_ms_per_second",
		"Busy time of a vertex's busiest subtask over the last second.", []string{"job", "vertex"}, nil)
	idle = prometheus.NewDesc("freshet_task_idle_time_ms_per_second",
		"Idle time (waiting for input) of a vertex's idlest subtask over the last second.", []string{"job", "vertex"}, nil)
	backPressured = prometheus.NewDesc("freshet_task_back_pressured_time_ms_per_second",
		"Time a vertex's most back-pressured subtask waited for output buffers over the last second.", []string{"job", "vertex"}, nil)
	watermark = prometheus.NewDesc("freshet_task_current_input_watermark_ms",
		"The lowest watermark over a vertex's subtasks.", []string{"job", "vertex"}, nil)
	jobUp = prometheus.NewDesc("freshet_job_running",
		"1 while the job is running.", []string{"job", "name"}, nil)
	memTotal = prometheus.NewDesc("freshet_taskmanager_network_memory_total_bytes",
		"Network buffer budget of a TaskManager.", []string{"taskmanager"}, nil)
	memUsed = prometheus.NewDesc("freshet_taskmanager_network_memory_used_bytes",
		"Network buffer memory in use.", []string{"taskmanager"}, nil)
	memPeak = prometheus.NewDesc("freshet_taskmanager_network_memory_peak_bytes",
		"Highest network buffer memory in use.", []string{"taskmanager"}, nil)

	// Jobs.
	jobState = prometheus.NewDesc("freshet_job_state",
		"1 for the job's current state (CREATED, RUNNING, RESTARTING, FAILING, CANCELLING, FINISHED, FAILED, CANCELED).", []string{"job", "name", "state"}, nil)
	jobUptime = prometheus.NewDesc("freshet_job_uptime_seconds",
		"How long the job has run (until it ended).", []string{"job", "name"}, nil)
	jobsByState = prometheus.NewDesc("freshet_jobmanager_jobs",
		"Jobs of the JobManager by state.", []string{"state"}, nil)
	parallelism = prometheus.NewDesc("freshet_vertex_parallelism",
		"Parallelism of a job vertex.", []string{"job", "vertex"}, nil)
	backPressureLevel = prometheus.NewDesc("freshet_task_back_pressure_level",
		"Back-pressure level of a vertex: 0 OK (≤ 10% of the time back-pressured), 1 LOW (≤ 50%), 2 HIGH.", []string{"job", "vertex"}, nil)

	// Checkpoints, from the checkpoint history.
	cpInProgress = prometheus.NewDesc("freshet_job_checkpoints_in_progress",
		"Checkpoints (and savepoints) of the job under way.", []string{"job"}, nil)
	cpLastDuration = prometheus.NewDesc("freshet_job_last_checkpoint_duration_seconds",
		"Duration of the job's last completed checkpoint or savepoint.", []string{"job"}, nil)
	cpLastSize = prometheus.NewDesc("freshet_job_last_checkpoint_size_bytes",
		"State size of the job's last completed checkpoint or savepoint.", []string{"job"}, nil)
	cpLastCheckpointed = prometheus.NewDesc("freshet_job_last_checkpoint_checkpointed_size_bytes",
		"Bytes the job's last completed checkpoint wrote (less than its state size when incremental).", []string{"job"}, nil)
	cpLastSync = prometheus.NewDesc("freshet_job_last_checkpoint_sync_duration_seconds",
		"Longest synchronous snapshot pause of a task in the job's last completed checkpoint.", []string{"job"}, nil)
	cpLastID = prometheus.NewDesc("freshet_job_last_checkpoint_id",
		"ID of the job's last completed checkpoint or savepoint.", []string{"job"}, nil)
	cpLastTime = prometheus.NewDesc("freshet_job_last_checkpoint_completed_timestamp_seconds",
		"When the job's last checkpoint or savepoint completed (Unix time).", []string{"job"}, nil)

	// The cluster.
	tmSlots = prometheus.NewDesc("freshet_taskmanager_slots",
		"Slots of a TaskManager.", []string{"taskmanager"}, nil)
	jmTaskManagers = prometheus.NewDesc("freshet_jobmanager_taskmanagers",
		"TaskManagers registered with the JobManager.", nil, nil)
	jmSlots = prometheus.NewDesc("freshet_jobmanager_slots_total",
		"Slots of every TaskManager together.", nil, nil)
)

// descs are every metric the collector reports.
var descs = []*prometheus.Desc{recordsIn, recordsOut, opCounter, stateStat, busy, idle, backPressured, watermark, jobUp, memTotal, memUsed, memPeak,
	jobState, jobUptime, jobsByState, parallelism, backPressureLevel,
	cpInProgress, cpLastDuration, cpLastSize, cpLastCheckpointed, cpLastSync, cpLastID, cpLastTime,
	tmSlots, jmTaskManagers, jmSlots,
	eventsTotal, restartsTotal, cpCompleted, cpFailed}

// jobStates are the states freshet_job_state and freshet_jobmanager_jobs
// report, so that a series exists (at 0) for every state.
var jobStates = []cluster.JobState{cluster.JobCreated, cluster.JobRunning, cluster.JobRestarting, cluster.JobFailing,
	cluster.JobCanceling, cluster.JobFinished, cluster.JobFailed, cluster.JobCanceled}

// collector reads a MiniCluster's state at scrape time.
type collector struct {
	mc     *cluster.MiniCluster
	events *eventCounter
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	jm := c.mc.JobManager()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	byState := map[cluster.JobState]int{}
	for _, id := range jm.Jobs() {
		st, err := jm.Status(id)
		if err != nil {
			continue
		}
		byState[st.State]++
		up := 0.0
		if st.State == cluster.JobRunning {
			up = 1
		}
		gauge(jobUp, up, id, st.Name)
		for _, s := range jobStates {
			v := 0.0
			if s == st.State {
				v = 1
			}
			gauge(jobState, v, id, st.Name, string(s))
		}
		gauge(jobUptime, st.Duration.Seconds(), id, st.Name)
		for _, v := range st.Vertices {
			vname := strconv.Itoa(v.ID) + ":" + v.Name
			for _, op := range v.Operators {
				counter(recordsIn, float64(op.RecordsIn), id, vname, op.Name)
				counter(recordsOut, float64(op.RecordsOut), id, vname, op.Name)
				for name, n := range op.Counters {
					counter(opCounter, float64(n), id, op.Name, name)
				}
				for name, v := range op.State {
					gauge(stateStat, v, id, op.Name, name)
				}
			}
			gauge(busy, v.BusyMsPerSec, id, vname)
			gauge(idle, v.IdleMsPerSec, id, vname)
			gauge(backPressured, v.BackPressuredMsPerSec, id, vname)
			gauge(backPressureLevel, float64(levelValue(v.BackPressure)), id, vname)
			gauge(parallelism, float64(v.Parallelism), id, vname)
			// No series before event time starts or after it ended: the
			// sentinels are not times and would wreck graphs.
			if v.Watermark != api.MinWatermark && v.Watermark != api.MaxWatermark {
				gauge(watermark, float64(v.Watermark), id, vname)
			}
		}
		c.collectCheckpoints(ch, id)
	}
	for _, s := range jobStates {
		gauge(jobsByState, float64(byState[s]), string(s))
	}
	slots := 0
	for _, tm := range c.mc.TaskManagers() {
		s := tm.Memory().Stats()
		gauge(memTotal, float64(s.Total), tm.ID())
		gauge(memUsed, float64(s.Used), tm.ID())
		gauge(memPeak, float64(s.Peak), tm.ID())
		gauge(tmSlots, float64(tm.Slots()), tm.ID())
		slots += tm.Slots()
	}
	gauge(jmTaskManagers, float64(len(c.mc.TaskManagers())))
	gauge(jmSlots, float64(slots))
	c.events.collect(ch)
}

// collectCheckpoints reports the state of job id's checkpoints.
func (c *collector) collectCheckpoints(ch chan<- prometheus.Metric, id string) {
	stats, err := c.mc.JobManager().Checkpoints(id)
	if err != nil {
		return
	}
	inProgress := 0
	var last *cluster.CheckpointStats
	for i := range stats {
		switch stats[i].Status {
		case "IN_PROGRESS":
			inProgress++
		case "COMPLETED":
			last = &stats[i]
		}
	}
	ch <- prometheus.MustNewConstMetric(cpInProgress, prometheus.GaugeValue, float64(inProgress), id)
	if last == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(cpLastDuration, prometheus.GaugeValue, last.Duration.Seconds(), id)
	ch <- prometheus.MustNewConstMetric(cpLastSize, prometheus.GaugeValue, float64(last.Size), id)
	ch <- prometheus.MustNewConstMetric(cpLastCheckpointed, prometheus.GaugeValue, float64(last.CheckpointedSize), id)
	ch <- prometheus.MustNewConstMetric(cpLastSync, prometheus.GaugeValue, last.SyncDuration.Seconds(), id)
	ch <- prometheus.MustNewConstMetric(cpLastID, prometheus.GaugeValue, float64(last.ID), id)
	ch <- prometheus.MustNewConstMetric(cpLastTime, prometheus.GaugeValue, float64(last.Trigger.Add(last.Duration).UnixMilli())/1000, id)
}

func levelValue(l cluster.BackPressureLevel) int {
	switch l {
	case cluster.BackPressureLow:
		return 1
	case cluster.BackPressureHigh:
		return 2
	}
	return 0
}

// NewRegistry returns a Prometheus registry with the cluster's metrics and
// the Go runtime and process collectors.
func NewRegistry(mc *cluster.MiniCluster) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{mc: mc, events: newEventCounter(mc.JobManager())})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server serves /metrics.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// Serve starts serving reg on addr; Addr reports the bound address (useful
// with port 0).
func Serve(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, log: log}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
