package probe

import "testing"

// bucket is queue.bpf.c's ilog2, written plainly: floor(log2(d)), 0 for 0.
func bucket(d uint32) int {
	k := 0
	for d > 1 {
		d >>= 1
		k++
	}
	return k
}

func TestBucketBounds(t *testing.T) {
	for _, d := range []uint32{0, 1, 2, 3, 4, 7, 8, 100, 8191, 8192, 1<<31 - 1, 1 << 31, 1<<32 - 1} {
		k := bucket(d)
		lo, hi := BucketBounds(k)
		if uint64(d) < lo || uint64(d) > hi {
			t.Errorf("depth %d: bucket %d is [%d, %d]", d, k, lo, hi)
		}
	}
	// The buckets tile [0, 2^32) without gap or overlap.
	next := uint64(0)
	for k := range HistogramBuckets {
		lo, hi := BucketBounds(k)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], want it to start at %d", k, lo, hi, next)
		}
		next = hi + 1
	}
	if next != 1<<32 {
		t.Errorf("buckets end at %d, want 2^32", next)
	}
}

func TestSnapshotFigures(t *testing.T) {
	tests := []struct {
		s       Snapshot
		mean    float64
		lostSum uint64
	}{
		{Snapshot{}, 0, 0},
		{Snapshot{Enqueued: 4, DepthSum: 10}, 2.5, 0},
		{Snapshot{Lost: [LostCauses]uint64{LostRateLimit: 2, LostBacklogLimit: 3, LostOther: 1}}, 0, 6},
	}
	for _, tt := range tests {
		if got := tt.s.MeanDepth(); got != tt.mean {
			t.Errorf("%+v: MeanDepth %v, want %v", tt.s, got, tt.mean)
		}
		if got := tt.s.LostTotal(); got != tt.lostSum {
			t.Errorf("%+v: LostTotal %v, want %v", tt.s, got, tt.lostSum)
		}
	}
}

func TestLostCauseString(t *testing.T) {
	seen := map[string]bool{}
	for c := range LostCauses {
		s := c.String()
		if s == "" || s == "invalid" || seen[s] {
			t.Errorf("cause %d: %q", c, s)
		}
		seen[s] = true
	}
	if LostCauses.String() != "invalid" || LostCause(-1).String() != "invalid" {
		t.Error("out-of-range causes must say invalid")
	}
}
