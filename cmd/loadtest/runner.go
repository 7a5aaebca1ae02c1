package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// op is one request (or flow) of a scenario, by one worker. It returns an
// error for anything but the expected answer: a non-2xx/3xx status, a
// malformed body, a flow that does not end with a token.
type op func(ctx context.Context) error

// maxSamples is how many distinct error messages a result keeps.
const maxSamples = 5

// result is what one scenario measured.
type result struct {
	Scenario string
	Unit     string // "req" or "flow"
	Ops      int    // completed, errors included
	Errors   int
	Samples  []string // a few error messages, counted
	Elapsed  time.Duration
	P50, P99 time.Duration
	// CPU is the server's user+system CPU over the run; HaveCPU says
	// whether it was measured (-pid).
	CPU     time.Duration
	HaveCPU bool
	// Shed is how many logins were refused with 503 and sent again.
	Shed int64
	// Ref is the limit measured just before the scenario, if any.
	Ref references
}

// Rate is ops per second.
func (r result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// CPUPerOp is the server's CPU per op, or 0 when not measured.
func (r result) CPUPerOp() time.Duration {
	if !r.HaveCPU || r.Ops == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Ops)
}

func header() string {
	return fmt.Sprintf("%-19s %5s %8s %10s %9s %9s %7s %12s  %s", "scenario", "unit", "count", "per sec", "p50", "p99", "errors", "server CPU/op", "vs its limit")
}

func (r result) line() string {
	cpu := "-"
	if r.HaveCPU {
		cpu = fmt.Sprintf("%.3f ms", ms(r.CPUPerOp()))
	}
	return fmt.Sprintf("%-19s %5s %8d %10.1f %6.2f ms %6.2f ms %7d %12s  %s", r.Scenario, r.Unit, r.Ops, r.Rate(), ms(r.P50), ms(r.P99), r.Errors, cpu, r.vsLimit())
}

// vsLimit compares the result with the reference measured with it: CPU
// per op in bare signatures, or fresh logins per second as a share of the
// argon2id ceiling.
func (r result) vsLimit() string {
	switch {
	case r.Ref.SignCPU > 0 && r.HaveCPU && r.Ops > 0:
		return fmt.Sprintf("%.2f× sign (%.3f ms)", float64(r.CPUPerOp())/float64(r.Ref.SignCPU), ms(r.Ref.SignCPU))
	case r.Ref.Argon2Rate > 0:
		s := fmt.Sprintf("%.0f%% of argon2id (%.1f/s)", 100*r.Rate()/r.Ref.Argon2Rate, r.Ref.Argon2Rate)
		if r.Ref.Argon2CPU > 0 && r.HaveCPU && r.Ops > 0 {
			// The same ratio from CPU, which the machine's other load
			// disturbs less: one hash's CPU over one flow's.
			s += fmt.Sprintf("; by CPU %.0f%% (hash %.1f ms)", 100*float64(r.Ref.Argon2CPU)/float64(r.CPUPerOp()), ms(r.Ref.Argon2CPU))
		}
		return s
	}
	return "-"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runScenario prepares a worker per concurrency slot (untimed: logins and
// such happen here), then runs them together for cfg.N ops or
// cfg.Duration, measuring each op and the server's CPU around the run.
func runScenario(ctx context.Context, env *env, name string) (result, error) {
	cfg := env.cfg
	s := lookupScenario(name)
	ops := make([]op, cfg.C)
	for i := range ops {
		o, err := s.worker(ctx, env, i)
		if err != nil {
			return result{}, fmt.Errorf("prepare worker %d: %w", i, err)
		}
		ops[i] = o
	}

	var (
		remaining atomic.Int64
		deadline  time.Time
		mu        sync.Mutex
		lat       []time.Duration
		errCount  int
		samples   = map[string]int{}
		order     []string
	)
	remaining.Store(int64(cfg.N))
	more := func() bool {
		if cfg.N > 0 {
			return remaining.Add(-1) >= 0
		}
		return time.Now().Before(deadline)
	}

	shedBefore := env.shed.Load()
	cpuBefore, err := serverCPU(cfg.PID)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	deadline = start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for _, o := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil && more() {
				t0 := time.Now()
				err := o(ctx)
				mine = append(mine, time.Since(t0))
				if err != nil {
					mu.Lock()
					errCount++
					msg := err.Error()
					if _, seen := samples[msg]; !seen && len(order) < maxSamples {
						order = append(order, msg)
					}
					samples[msg]++
					mu.Unlock()
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpuAfter, err := serverCPU(cfg.PID)
	if err != nil {
		return result{}, err
	}
	if err := ctx.Err(); err != nil {
		return result{}, err
	}

	r := result{Scenario: name, Unit: s.unit, Ops: len(lat), Errors: errCount, Elapsed: elapsed, Shed: env.shed.Load() - shedBefore}
	for _, m := range order {
		r.Samples = append(r.Samples, fmt.Sprintf("%s (×%d)", m, samples[m]))
	}
	slices.Sort(lat)
	r.P50, r.P99 = percentile(lat, 50), percentile(lat, 99)
	if cfg.PID > 0 {
		r.CPU, r.HaveCPU = cpuAfter-cpuBefore, true
	}
	return r, nil
}

// percentile is the nearest-rank percentile p of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// clockTick is the unit of /proc/PID/stat's utime and stime: USER_HZ,
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// serverCPU is the user+system CPU process pid has used, or 0 if pid is 0.
func serverCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, nil
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read server CPU: %w", err)
	}
	return parseStatCPU(string(data))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces, so fields are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc stat CPU field %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
