// Package metrics exports the state of a cluster to Prometheus.
//
// Counters are not updated on the record path: tasks keep atomic counters per
// batch, and this package's collector reads them (through the JobManager's
// job status and the TaskManagers' memory statistics) when Prometheus scrapes.
// Names follow Flink's metric names in Prometheus form.
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

	"github.com/freshet/freshet/engine/cluster"
)

// DefaultAddr is where `freshet run` serves metrics unless told otherwise.
const DefaultAddr = "127.0.0.1:9249"

var (
	recordsIn = prometheus.NewDesc("freshet_operator_records_in_total",
		"Records an operator received, summed over its subtasks.", []string{"job", "vertex", "operator"}, nil)
	recordsOut = prometheus.NewDesc("freshet_operator_records_out_total",
		"Records an operator emitted, summed over its subtasks.", []string{"job", "vertex", "operator"}, nil)
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
)

// collector reads a MiniCluster's state at scrape time.
type collector struct {
	mc *cluster.MiniCluster
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{recordsIn, recordsOut, opCounter, busy, idle, backPressured, watermark, jobUp, memTotal, memUsed, memPeak} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	jm := c.mc.JobManager()
	for _, id := range jm.Jobs() {
		st, err := jm.Status(id)
		if err != nil {
			continue
		}
		up := 0.0
		if st.State == cluster.JobRunning {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(jobUp, prometheus.GaugeValue, up, id, st.Name)
		for _, v := range st.Vertices {
			vname := strconv.Itoa(v.ID) + ":" + v.Name
			for _, op := range v.Operators {
				ch <- prometheus.MustNewConstMetric(recordsIn, prometheus.CounterValue, float64(op.RecordsIn), id, vname, op.Name)
				ch <- prometheus.MustNewConstMetric(recordsOut, prometheus.CounterValue, float64(op.RecordsOut), id, vname, op.Name)
				for name, n := range op.Counters {
					ch <- prometheus.MustNewConstMetric(opCounter, prometheus.CounterValue, float64(n), id, op.Name, name)
				}
			}
			ch <- prometheus.MustNewConstMetric(busy, prometheus.GaugeValue, v.BusyMsPerSec, id, vname)
			ch <- prometheus.MustNewConstMetric(idle, prometheus.GaugeValue, v.IdleMsPerSec, id, vname)
			ch <- prometheus.MustNewConstMetric(backPressured, prometheus.GaugeValue, v.BackPressuredMsPerSec, id, vname)
			ch <- prometheus.MustNewConstMetric(watermark, prometheus.GaugeValue, float64(v.Watermark), id, vname)
		}
	}
	for _, tm := range c.mc.TaskManagers() {
		s := tm.Memory().Stats()
		ch <- prometheus.MustNewConstMetric(memTotal, prometheus.GaugeValue, float64(s.Total), tm.ID())
		ch <- prometheus.MustNewConstMetric(memUsed, prometheus.GaugeValue, float64(s.Used), tm.ID())
		ch <- prometheus.MustNewConstMetric(memPeak, prometheus.GaugeValue, float64(s.Peak), tm.ID())
	}
}

// NewRegistry returns a Prometheus registry with the cluster's metrics and
// the Go runtime and process collectors.
func NewRegistry(mc *cluster.MiniCluster) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{mc: mc})
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
