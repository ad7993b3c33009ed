package rest

import (
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/host/modules"
)

// Conversions from the engine's types to the wire format.

func jobSummary(st cluster.JobStatus) JobSummary {
	js := JobSummary{ID: st.ID, Name: st.Name, State: string(st.State), StartTime: st.Start.UTC(), Duration: st.Duration.Milliseconds()}
	if st.State.Terminal() {
		end := st.Start.Add(st.Duration).UTC()
		js.EndTime = &end
	}
	return js
}

func jobDetails(st cluster.JobStatus) JobDetails {
	d := JobDetails{JobSummary: jobSummary(st), Error: st.Error, Vertices: make([]Vertex, 0, len(st.Vertices))}
	for _, v := range st.Vertices {
		d.Vertices = append(d.Vertices, vertex(v))
	}
	return d
}

func vertex(v cluster.VertexStatus) Vertex {
	out := Vertex{
		ID: v.ID, Name: v.Name, Parallelism: v.Parallelism, Status: v.State, Source: v.Source, Sink: v.Sink,
		RecordsIn: v.RecordsIn, RecordsOut: v.RecordsOut, InPerSec: v.InPerSec, OutPerSec: v.OutPerSec,
		BusyMsPerSec: v.BusyMsPerSec, IdleMsPerSec: v.IdleMsPerSec, BackPressuredMsPerSec: v.BackPressuredMsPerSec,
		BackPressure: string(v.BackPressure), WatermarkState: WatermarkActive, Operators: make([]Operator, 0, len(v.Operators)),
	}
	switch v.Watermark {
	case api.MinWatermark:
		out.WatermarkState = WatermarkNone
	case api.MaxWatermark:
		out.WatermarkState = WatermarkEnded
	default:
		wm := v.Watermark
		out.Watermark = &wm
	}
	for _, op := range v.Operators {
		out.Operators = append(out.Operators, Operator{Name: op.Name, RecordsIn: op.RecordsIn, RecordsOut: op.RecordsOut, Counters: op.Counters})
	}
	return out
}

// findVertex resolves key — a vertex ID, a vertex name or the name of one
// of a vertex's operators — in st.
func findVertex(st cluster.JobStatus, key string) (cluster.VertexStatus, bool) {
	if id, err := strconv.Atoi(key); err == nil {
		for _, v := range st.Vertices {
			if v.ID == id {
				return v, true
			}
		}
	}
	for _, v := range st.Vertices {
		if v.Name == key {
			return v, true
		}
	}
	for _, v := range st.Vertices {
		for _, op := range v.Operators {
			if op.Name == key {
				return v, true
			}
		}
	}
	return cluster.VertexStatus{}, false
}

func checkpoint(c cluster.CheckpointStats) Checkpoint {
	d := c.Duration
	if c.Status == StatusInProgress {
		d = time.Since(c.Trigger)
	}
	return Checkpoint{ID: c.ID, Savepoint: c.Savepoint, Status: c.Status, TriggerTime: c.Trigger.UTC(), Duration: d.Milliseconds(),
		StateSize: c.Size, CheckpointedSize: c.CheckpointedSize, SyncDuration: c.SyncDuration.Milliseconds(),
		Acknowledged: c.Tasks, Path: c.Path, Failure: c.Error}
}

func checkpoints(stats []cluster.CheckpointStats) Checkpoints {
	out := Checkpoints{History: make([]Checkpoint, 0, len(stats))}
	for _, c := range stats {
		cp := checkpoint(c)
		out.History = append(out.History, cp)
		out.Counts.Total++
		switch c.Status {
		case StatusInProgress:
			out.Counts.InProgress++
		case StatusCompleted:
			out.Counts.Completed++
			out.Latest = &cp
		case StatusFailed:
			out.Counts.Failed++
		}
	}
	return out
}

func event(ev cluster.Event) Event {
	return Event{Time: ev.Time.UTC(), Type: string(ev.Type), Task: ev.Task, Checkpoint: ev.Checkpoint, State: string(ev.State), Message: ev.Message}
}

// isException reports whether ev belongs in a job's exception history.
func isException(ev cluster.Event) bool {
	switch ev.Type {
	case cluster.EventTaskFailed, cluster.EventModuleSwapFailed, cluster.EventJobRestarting:
		return true
	case cluster.EventJobStateChanged:
		return ev.State == cluster.JobFailed
	}
	return false
}

func module(i modules.Info) Module {
	m := Module{Name: i.Name, Version: i.Version, Ref: i.Ref(), SHA256: i.SHA256, Size: i.Size, Added: i.Added.UTC(),
		ABIVersion: i.ABIVersion, SDK: i.SDK, Functions: make([]ModuleFunction, 0, len(i.Functions))}
	for _, f := range i.Functions {
		m.Functions = append(m.Functions, ModuleFunction{Name: f.Name, Kind: f.Kind})
	}
	return m
}
