// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkTaskCreateAndGet measures, through the engine in front of the Go
// SDK everything-server over stdio (the test scaffold back), the latency of
// a tools/call answered with a task (durable creation included) and of a
// tasks/get, and how much the store grows per task. Each iteration creates
// one task and reads it once.
func BenchmarkTaskCreateAndGet(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := "fsync"
		if !sync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			store := openTestStore(b, dir, StoreOptions{NoSync: !sync, MaxTasks: 10_000_000, MaxBytes: 8 << 30})
			e := newEngine(b, startGoEverything(b), Options{Store: store})
			c := &tclient{t: b, rt: e, owner: "bench"}
			fi0, _ := os.Stat(store.Path())
			create := make([]time.Duration, 0, b.N)
			get := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				res := c.callTool("test_simple_text", map[string]any{})
				t1 := time.Now()
				c.get(res["taskId"].(string))
				t2 := time.Now()
				create = append(create, t1.Sub(t0))
				get = append(get, t2.Sub(t1))
			}
			b.StopTimer()
			waitIdle(b, e)
			n, size, _ := store.Stats()
			fi1, _ := os.Stat(store.Path())
			if n == 0 {
				b.Fatal("no task stored")
			}
			b.ReportMetric(pct(create, 50), "create-p50-µs")
			b.ReportMetric(pct(create, 99), "create-p99-µs")
			b.ReportMetric(pct(get, 50), "get-p50-µs")
			b.ReportMetric(pct(get, 99), "get-p99-µs")
			b.ReportMetric(float64(size)/float64(n), "record-B/task")
			b.ReportMetric(float64(fi1.Size()-fi0.Size())/float64(n), "file-B/task")
		})
	}
}

func pct(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s) - 1) * p / 100
	return float64(s[i].Microseconds())
}
