// Go counterparts of the workloads in ../lockbench/, as a cross-language anchor.
//
// Each benchmark is named after the lockbench workload it mirrors (CamelCase of the
// snake_case name: BenchmarkWaitgroupFanin <-> waitgroup_fanin), one op meaning the same
// thing as there. Run with GOMAXPROCS=2 (see run.sh), the thread count lockbench uses:
//
//	GOMAXPROCS=2 go test -bench . -benchtime=500ms -count=5
//
// No external dependencies: sync, sync/atomic and channels only.
package lockbench

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Sinks keep the compiler from discarding values that are read but not used.
var (
	sinkU64  uint64
	sinkBool bool
)

// update_uncontended: one op = Lock, += 1, Unlock (anchor: std/parking_lot Mutex lock + `+= 1`).
func BenchmarkUpdateUncontended(b *testing.B) {
	var mu sync.Mutex
	var v uint64
	for i := 0; i < b.N; i++ {
		mu.Lock()
		v++
		mu.Unlock()
	}
	sinkU64 = v
}

// read_uncontended: one op = RLock, value read, RUnlock.
func BenchmarkReadUncontended(b *testing.B) {
	var mu sync.RWMutex
	v := uint64(1)
	for i := 0; i < b.N; i++ {
		mu.RLock()
		sinkU64 = v
		mu.RUnlock()
	}
}

// write_uncontended: one op = Lock (the RWMutex writer side), += 1, Unlock.
func BenchmarkWriteUncontended(b *testing.B) {
	var mu sync.RWMutex
	var v uint64
	for i := 0; i < b.N; i++ {
		mu.Lock()
		v++
		mu.Unlock()
	}
	sinkU64 = v
}

// pull_unchanged: one op = one "did it change?" check on a quiet value: an atomic load and
// a compare (anchor: AtomicU64 load(Acquire) != seen; Go's atomics are sequentially
// consistent, which on x86-64 is the same plain load).
func BenchmarkPullUnchanged(b *testing.B) {
	var a atomic.Uint64
	a.Store(1)
	seen := uint64(1)
	for i := 0; i < b.N; i++ {
		sinkBool = a.Load() != seen
	}
}

// waitgroup_cycle: one op = one goroutine: Add(4), Done() x 4, Wait() (on a zero count).
func BenchmarkWaitgroupCycle(b *testing.B) {
	var wg sync.WaitGroup
	for i := 0; i < b.N; i++ {
		wg.Add(4)
		for j := 0; j < 4; j++ {
			wg.Done()
		}
		wg.Wait()
	}
}

// tinyBatch is the "tiny batch" a fan-in worker does per round (lockbench's tiny_batch:
// 16 multiply-adds).
//
//go:noinline
func tinyBatch(seed uint64) uint64 {
	x := seed
	for i := uint64(0); i < 16; i++ {
		x = x*6364136223846793005 + i
	}
	return x
}

// waitgroup_fanin: one op = one round: the master hands a tiny batch to 2 long-lived worker
// goroutines and waits for both. The hand-off is a channel per worker (buffered, capacity 1:
// the idiomatic Go way to give a goroutine work); completion is a sync.WaitGroup
// (Add(2) per round, each worker Done(), the master Wait()).
func BenchmarkWaitgroupFanin(b *testing.B) {
	var wg sync.WaitGroup
	var started sync.WaitGroup
	work := [2]chan uint64{make(chan uint64, 1), make(chan uint64, 1)}
	var results [2]uint64
	for w := 0; w < 2; w++ {
		started.Add(1)
		go func(w int) {
			started.Done()
			var acc uint64
			for r := range work[w] {
				acc += tinyBatch(r)
				wg.Done()
			}
			results[w] = acc
		}(w)
	}
	started.Wait()
	b.ResetTimer()
	for r := 1; r <= b.N; r++ {
		wg.Add(2)
		work[0] <- uint64(r)
		work[1] <- uint64(r)
		wg.Wait()
	}
	b.StopTimer()
	close(work[0])
	close(work[1])
}

// update_contended_2t: one op = one increment; 2 goroutines (this one and one more)
// increment one Mutex-protected counter, b.N increments in total, so ns/op = wall time /
// total increments, as in lockbench's two_threads.
func BenchmarkUpdateContended2t(b *testing.B) {
	var mu sync.Mutex
	var v uint64
	half := b.N / 2
	var start, done sync.WaitGroup
	start.Add(1)
	done.Add(1)
	go func() {
		defer done.Done()
		start.Wait()
		for i := 0; i < half; i++ {
			mu.Lock()
			v++
			mu.Unlock()
		}
	}()
	b.ResetTimer()
	start.Done()
	for i := half; i < b.N; i++ {
		mu.Lock()
		v++
		mu.Unlock()
	}
	done.Wait()
	b.StopTimer()
	if v != uint64(b.N) {
		b.Fatalf("lost increments: %d != %d", v, b.N)
	}
}

// push_wait_pingpong: one op = one round trip between two goroutines through one
// sync.Cond, as lockbench's Mutex+Condvar anchor: a turn counter, even = the master's
// turn, odd = the partner's; each side bumps it, Signal()s and waits for its turn.
func BenchmarkPushWaitPingpong(b *testing.B) {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var turn uint64
	n := b.N
	var done sync.WaitGroup
	done.Add(1)
	go func() {
		defer done.Done()
		for i := 0; i < n; i++ {
			mu.Lock()
			for turn&1 == 0 {
				cond.Wait()
			}
			turn++
			cond.Signal()
			mu.Unlock()
		}
	}()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		mu.Lock()
		turn++
		cond.Signal()
		for turn&1 == 1 {
			cond.Wait()
		}
		mu.Unlock()
	}
	b.StopTimer()
	done.Wait()
}
