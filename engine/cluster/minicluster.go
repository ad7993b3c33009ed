package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// MiniClusterConfig configures an in-process cluster.
type MiniClusterConfig struct {
	// TaskManagers is the number of TaskManagers (default 1).
	TaskManagers int
	// TaskManager is the template for every TaskManager; its Slots is the
	// number of slots of each (default: enough for the jobs it runs).
	TaskManager TaskManagerConfig
	Logger      *slog.Logger
}

// MiniCluster is a JobManager and TaskManagers in one process: the same code
// as a distributed cluster, wired by function calls.
type MiniCluster struct {
	jm  *JobManager
	tms []*TaskManager
}

// NewMiniCluster starts a MiniCluster.
func NewMiniCluster(cfg MiniClusterConfig) (*MiniCluster, error) {
	if cfg.TaskManagers < 1 {
		cfg.TaskManagers = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	mc := &MiniCluster{jm: NewJobManager(cfg.Logger)}
	for i := 0; i < cfg.TaskManagers; i++ {
		tc := cfg.TaskManager
		tc.ID = fmt.Sprintf("taskmanager-%d", i)
		tc.Logger = cfg.Logger
		tm, err := NewTaskManager(tc, mc.jm)
		if err != nil {
			_ = mc.Close()
			return nil, err
		}
		mc.tms = append(mc.tms, tm)
		if err := mc.jm.RegisterTaskManager(context.Background(), tm); err != nil {
			_ = mc.Close()
			return nil, err
		}
	}
	return mc, nil
}

// JobManager returns the cluster's JobManager.
func (mc *MiniCluster) JobManager() *JobManager { return mc.jm }

// TaskManagers returns the cluster's TaskManagers.
func (mc *MiniCluster) TaskManagers() []*TaskManager { return mc.tms }

// Close cancels every job and stops the cluster.
func (mc *MiniCluster) Close() error {
	err := mc.jm.Close()
	for _, tm := range mc.tms {
		err = errors.Join(err, tm.Close())
	}
	return err
}
