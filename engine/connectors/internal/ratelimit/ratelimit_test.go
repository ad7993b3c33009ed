package ratelimit

import (
	"testing"
	"time"
)

func TestTakeRefillsAtRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		rate  float64
		after time.Duration
		want  int
		got   int
	}{
		{"first token at once", 10, 0, 5, 1},
		{"nothing before refill", 10, 50 * time.Millisecond, 5, 0},
		{"one after 100ms at 10/s", 10, 100 * time.Millisecond, 5, 1},
		{"capped by want", 1000, 40 * time.Millisecond, 5, 5},
		{"capped by burst window", 1000, 10 * time.Second, 1 << 20, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.rate)
			defer b.Stop()
			if tc.after > 0 {
				b.Take(t0, 1) // drain the initial token
			}
			if got := b.Take(t0.Add(tc.after), tc.want); got != tc.got {
				t.Fatalf("Take = %d, want %d", got, tc.got)
			}
		})
	}
}

func TestArmWakeFires(t *testing.T) {
	b := New(100) // a token every 10ms
	defer b.Stop()
	now := time.Now()
	b.Take(now, 1)
	b.ArmWake(now)
	select {
	case <-b.Wake():
	case <-time.After(2 * time.Second):
		t.Fatal("wake did not fire")
	}
	if got := b.Take(time.Now(), 1); got != 1 {
		t.Fatalf("after wake Take = %d, want 1", got)
	}
}
