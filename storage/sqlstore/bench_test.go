package sqlstore_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage/sqlstore"
)

// BenchmarkWrite measures a statement of its own (an insert) on SQLite,
// by one writer and by 16 at once, which group commits batch.
// cpu-us/op is the process's CPU per write, the commit's sync included.
//
//	go test -run '^$' -bench 'Write' ./storage/sqlstore/
func BenchmarkWrite(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			s := openSQLite(b)
			var n atomic.Int64
			write := func(ctx context.Context) error {
				_, err := sqlstore.Exec(ctx, s, `INSERT INTO access_revocations (id, expires_at) VALUES ($1, 0)`,
					"r"+strconv.FormatInt(n.Add(1), 10))
				return err
			}
			b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			start := benchCPU(b)
			if writers == 1 {
				for b.Loop() {
					if err := write(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := write(context.Background()); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64((benchCPU(b)-start).Microseconds())/float64(b.N), "cpu-us/op")
		})
	}
}

// benchCPU is the CPU time (user and system) the process has used.
func benchCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
