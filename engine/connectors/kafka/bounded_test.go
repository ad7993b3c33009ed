package kafka

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/internal/kafkatest"
)

// metadataWithout answers the first n Metadata requests that name topic
// as a broker with a stale or partial view would: the topic without error
// but with only the partitions keep allows (none when keep is nil). Later
// requests get the cluster's real answer. The answer is built before the
// control is installed: a control must not call back into the cluster.
func metadataWithout(t *testing.T, c *kfake.Cluster, topic string, n int, keep func(int32) bool) *atomic.Int32 {
	t.Helper()
	ti := c.TopicInfo(topic)
	parts := c.PartitionInfos(topic)
	host, portStr, err := net.SplitHostPort(c.ListenAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	node := parts[0].Leader
	var answered atomic.Int32
	c.ControlKey(int16(kmsg.Metadata), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.MetadataRequest)
		if !slices.ContainsFunc(req.Topics, func(rt kmsg.MetadataRequestTopic) bool { return rt.Topic != nil && *rt.Topic == topic }) {
			return nil, nil, false
		}
		if answered.Add(1) < int32(n) {
			c.KeepControl()
		} else {
			c.DropControl() // KeepControl sticks
		}
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = node, host, int32(port)
		resp.Brokers = append(resp.Brokers, b)
		resp.ControllerID = node
		for _, rt := range req.Topics {
			st := kmsg.NewMetadataResponseTopic()
			st.Topic = rt.Topic
			if rt.Topic == nil || *rt.Topic != topic {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
			st.TopicID = ti.TopicID
			for _, p := range parts {
				if keep == nil || !keep(p.Partition) {
					continue
				}
				sp := kmsg.NewMetadataResponseTopicPartition()
				sp.Partition, sp.Leader, sp.LeaderEpoch = p.Partition, p.Leader, p.Epoch
				sp.Replicas, sp.ISR = []int32{p.Leader}, []int32{p.Leader}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return &answered
}

// latestUnknown answers the first ListOffsets request for the latest
// offsets of topic with offset -1 and no error for every partition.
func latestUnknown(c *kfake.Cluster, topic string) *atomic.Int32 {
	var answered atomic.Int32
	c.ControlKey(int16(kmsg.ListOffsets), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.ListOffsetsRequest)
		i := slices.IndexFunc(req.Topics, func(rt kmsg.ListOffsetsRequestTopic) bool { return rt.Topic == topic })
		if i < 0 || len(req.Topics[i].Partitions) == 0 || req.Topics[i].Partitions[0].Timestamp != -1 {
			return nil, nil, false
		}
		answered.Add(1)
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.Offset, sp.Timestamp, sp.LeaderEpoch = rp.Partition, -1, -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return &answered
}

// A bounded subtask ends only once every partition it owns was read up to
// its stop offset. Metadata that is not ready (a partial or empty
// partition list, a retriable error) and offsets the cluster cannot give
// yet are asked for again, never read as "nothing to read": the engine
// records an ended source subtask in the next checkpoint and never runs it
// again, so an early end would lose the rest of its input for good.
func TestBoundedSourceEndsOnlyAtItsStopOffsets(t *testing.T) {
	type fault func(t *testing.T, c *kfake.Cluster, topic string) (hits func() int)
	faults := []struct {
		name string
		// restored: the fault strikes when the subtask resumes from a
		// snapshot taken mid-way; else when it starts afresh.
		restored bool
		inject   fault
	}{
		{"restored, metadata names the topic without partitions", true, func(t *testing.T, c *kfake.Cluster, topic string) func() int {
			n := metadataWithout(t, c, topic, 3, nil)
			return func() int { return int(n.Load()) }
		}},
		{"restored, metadata lacks a partition", true, func(t *testing.T, c *kfake.Cluster, topic string) func() int {
			n := metadataWithout(t, c, topic, 3, func(p int32) bool { return p != 1 })
			return func() int { return int(n.Load()) }
		}},
		{"restored, metadata lacks the last partition", true, func(t *testing.T, c *kfake.Cluster, topic string) func() int {
			n := metadataWithout(t, c, topic, 3, func(p int32) bool { return p == 0 })
			return func() int { return int(n.Load()) }
		}},
		{"restored, metadata fails with leader not available", true, func(t *testing.T, c *kfake.Cluster, topic string) func() int {
			h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Metadata}, Topic: topic, Err: kerr.LeaderNotAvailable, Count: 3})
			return h.Hits
		}},
		{"fresh, metadata names the topic without partitions", false, func(t *testing.T, c *kfake.Cluster, topic string) func() int {
			n := metadataWithout(t, c, topic, 3, nil)
			return func() int { return int(n.Load()) }
		}},
		{"fresh, metadata lacks a partition", false, func(t *testing.T, c *kfake.Cluster, topic string) func() int {
			n := metadataWithout(t, c, topic, 3, func(p int32) bool { return p != 0 })
			return func() int { return int(n.Load()) }
		}},
		{"fresh, metadata fails with leader not available", false, func(t *testing.T, c *kfake.Cluster, topic string) func() int {
			h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Metadata}, Topic: topic, Err: kerr.LeaderNotAvailable, Count: 3})
			return h.Hits
		}},
		{"fresh, latest offsets unknown", false, func(t *testing.T, c *kfake.Cluster, topic string) func() int {
			n := latestUnknown(c, topic)
			return func() int { return int(n.Load()) }
		}},
		{"fresh, list offsets fails with not leader", false, func(t *testing.T, c *kfake.Cluster, topic string) func() int {
			h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Topic: topic, Err: kerr.NotLeaderForPartition, Count: 3})
			return h.Hits
		}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			c, bootstrap := kafkatest.FakeCluster(t)
			topic := newTopic(t, bootstrap, 2)
			var recs []*kgo.Record
			var all []string
			for i := range 60 {
				v := fmt.Sprintf("r%03d", i)
				recs = append(recs, rec(int32(i%2), v))
				all = append(all, v)
			}
			produce(t, bootstrap, topic, recs...)
			cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap), ConnectTimeout: 20 * time.Second},
				Topics: []string{topic}, Bounded: true}

			var got []string
			var snap [][]byte
			if f.restored {
				first := openSource(t, cfg, opCtx(t, "in", 0, 1), nil)
				out := newCollector(5)
				pollUntil(t, first, out, 10*time.Second, atLeast(out, 20))
				var err error
				if snap, err = first.SnapshotState(1); err != nil {
					t.Fatal(err)
				}
				got = conntest.Values(out.Batch)
				first.Close()
			}
			hits := f.inject(t, c, topic)
			src := openSource(t, cfg, opCtx(t, "in", 0, 1), snap)
			out := newCollector(7)
			pollUntil(t, src, out, 20*time.Second, untilEnd)
			if hits() == 0 {
				t.Fatal("the fault never struck")
			}
			got = append(got, conntest.Values(out.Batch)...)
			slices.Sort(got)
			if !slices.Equal(got, all) {
				t.Fatalf("the subtask ended after %d records, want each of %d once (%d fault hits)", len(got), len(all), hits())
			}
		})
	}
}

// A restored bounded subtask whose checkpointed partition stays missing
// from the cluster's metadata fails (the task restarts from its checkpoint)
// rather than ending without reading it.
func TestBoundedSourceFailsOnAPartitionThatStaysMissing(t *testing.T) {
	c, bootstrap := kafkatest.FakeCluster(t)
	topic := newTopic(t, bootstrap, 2)
	produce(t, bootstrap, topic, rec(0, "a"), rec(1, "b"), rec(0, "c"), rec(1, "d"))
	cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap), ConnectTimeout: time.Second},
		Topics: []string{topic}, Bounded: true}
	first := openSource(t, cfg, opCtx(t, "in", 0, 1), nil)
	out := newCollector(1)
	pollUntil(t, first, out, 10*time.Second, atLeast(out, 1))
	snap, err := first.SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	metadataWithout(t, c, topic, 1<<30, func(p int32) bool { return p == 0 })
	newSrc, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSrc()
	src := s.(*Source)
	if err := src.RestoreState(snap); err != nil {
		t.Fatal(err)
	}
	err = src.Open(opCtx(t, "in", 0, 1))
	if err == nil {
		defer src.Close()
		st, perr := src.Poll(newCollector(10))
		t.Fatalf("Open succeeded without partition 1 of the checkpoint (first Poll: %v, %v)", st, perr)
	}
	if !errors.Is(err, ErrPartitionNotFound) || !strings.Contains(err.Error(), topic+"/1") {
		t.Fatalf("err = %v, want ErrPartitionNotFound naming %s/1", err, topic)
	}
}

// Restored entries decide where a partition stops only in bounded mode: an
// unbounded job restored from a bounded one's checkpoint reads on.
func TestUnboundedSourceIgnoresRestoredStopOffsets(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 1)
	produce(t, bootstrap, topic, rec(0, "a"), rec(0, "b"))
	cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{topic}, Bounded: true}
	first := openSource(t, cfg, opCtx(t, "in", 0, 1), nil)
	out := newCollector(10)
	pollUntil(t, first, out, 10*time.Second, untilEnd)
	snap, err := first.SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	produce(t, bootstrap, topic, rec(0, "c"))
	cfg.Bounded = false
	src := openSource(t, cfg, opCtx(t, "in", 0, 1), snap)
	out = newCollector(10)
	pollUntil(t, src, out, 10*time.Second, atLeast(out, 1))
	if got := conntest.Values(out.Batch); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("read %q, want [c]", got)
	}
	if st, err := src.Poll(out); err != nil || st == api.EndOfInput {
		t.Fatalf("Poll = %v, %v", st, err)
	}
}
