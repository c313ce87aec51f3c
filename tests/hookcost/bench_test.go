package hookcost

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/benchfig"
)

// Goals from issue 9 ("Cost of a hook").
const (
	pythonCharmMS = 307 // the measurement of the Python Concourse charm's update-status
	goalWall      = pythonCharmMS * time.Millisecond / 8
	goalRSSKiB    = 10 << 10
	goalCalls     = 8
)

var scenarios = []scenario{
	{name: "1-unit app", units: 1, unit: 0},
	{name: "10-unit app, leader", units: 10, unit: 0},
	{name: "10-unit app, other unit", units: 10, unit: 7},
}

// rssRuns is how many runs of each kind measure the peak RSS, apart from the timed runs (they go
// through GNU time, whose fork would be in the wall time).
const rssRuns = 5

// measured is one row of the table: a kind of run, repeated.
type measured struct {
	name string
	runs []run
	rss  []int64 // KiB
}

func median(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func (m measured) wall() time.Duration {
	return m.medianOf(func(r run) time.Duration { return r.wall })
}
func (m measured) cpu() time.Duration { return m.medianOf(func(r run) time.Duration { return r.cpu }) }

func (m measured) medianOf(f func(run) time.Duration) time.Duration {
	v := make([]int64, len(m.runs))
	for i, r := range m.runs {
		v[i] = int64(f(r))
	}
	return time.Duration(median(v))
}

func (m measured) rssKiB() int64     { return median(m.rss) }
func (m measured) calls() [][]string { return m.runs[0].calls }

// BenchmarkUpdateStatus: update-status on a settled unit, the built charm run as a process with
// faketool as every hook tool, for a unit of a 1-unit and of a 10-unit application; beside it,
// in the same run, the full reconcile every update-status did before (the settled record removed
// first) and python3 doing what ops does around a trivial update-status. HOOKCOST_RUNS sets the
// number of runs of each (default 21; the median is shown).
func BenchmarkUpdateStatus(b *testing.B) {
	runs := 21
	if s := os.Getenv("HOOKCOST_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("HOOKCOST_RUNS=%q: want a positive number", s)
		}
		runs = n
	}
	e := newHookEnv(b)
	var fast, full, python []measured
	for b.Loop() {
		fast, full, python = nil, nil, nil
		for i, sc := range scenarios {
			u := e.newUnit(b, sc)
			settle(b, u)
			f, r := measured{name: sc.name + ": settled fast path"}, measured{name: sc.name + ": full reconcile (before)"}
			for range runs {
				u.unsettle(b)
				r.runs = append(r.runs, u.hook(b, "update-status"))
				f.runs = append(f.runs, u.hook(b, "update-status"))
			}
			for range rssRuns {
				u.unsettle(b)
				r.rss = append(r.rss, u.peak(b, "update-status"))
				f.rss = append(f.rss, u.peak(b, "update-status"))
			}
			checkRuns(b, f, r)
			fast, full = append(fast, f), append(full, r)
			if i == 0 {
				python = e.measurePython(b, u, runs)
			}
			e.pebble.removeServices(b, "concourse-worker")
		}
	}
	report(b, fast, full, python, runs)
}

// settle runs what a new unit goes through (install, then config-changed once the peers' data is
// there) and checks that the unit ended active and that update-status then takes the fast path.
func settle(b *testing.B, u *unitDir) {
	b.Helper()
	for _, hook := range []string{"install", "config-changed"} {
		u.hook(b, hook)
	}
	if st := u.status(b); !strings.HasPrefix(st, "active: ") {
		b.Fatalf("%s did not settle: %s", u.name, st)
	}
	if r := u.hook(b, "update-status"); calledTool(r.calls, "config-get") {
		b.Fatalf("%s: update-status on the settled unit reconciled in full:\n%s", u.name, r.out)
	}
}

// checkRuns: every fast run made the same calls and none reconciled; every baseline reconciled.
func checkRuns(b *testing.B, fast, full measured) {
	b.Helper()
	for i, r := range fast.runs {
		if !slices.EqualFunc(r.calls, fast.calls(), slices.Equal) {
			b.Errorf("%s, run %d: calls %v, run 0 made %v\n%s", fast.name, i, r.calls, fast.calls(), r.out)
		}
	}
	for i, r := range full.runs {
		if !calledTool(r.calls, "config-get") {
			b.Errorf("%s, run %d did not reconcile: %v\n%s", full.name, i, r.calls, r.out)
		}
	}
}

func calledTool(calls [][]string, tool string) bool {
	return slices.ContainsFunc(calls, func(argv []string) bool { return argv[0] == tool })
}

// measurePython runs the ops-like script (and python3 doing nothing, its start-up floor) in u's
// charm directory, with u's tools, Pebble and status.
func (e *hookEnv) measurePython(b *testing.B, u *unitDir, runs int) []measured {
	b.Helper()
	py, pyEnv, err := charmPython(b)
	if err != nil {
		fmt.Printf("python3 baseline skipped: %v\n", err)
		return nil
	}
	script, err := filepath.Abs(filepath.Join("testdata", "opslike.py"))
	must(b, err)
	_, msg, _ := strings.Cut(u.status(b), ": ")
	env := append(append([]string{"HOOKCOST_STATUS=" + msg}, pyEnv...), u.env...)
	ops, floor := measured{name: "python3 (venv), ops-like update-status (not ops)"}, measured{name: "python3 (venv) -c pass: interpreter start"}
	for range runs {
		ops.runs = append(ops.runs, runProcess(b, u.charmDir, u.log, env, []string{py, script}))
		floor.runs = append(floor.runs, runProcess(b, u.charmDir, u.log, env, []string{py, "-c", "pass"}))
	}
	for range rssRuns {
		ops.rss = append(ops.rss, peakRSS(b, u.charmDir, u.log, env, []string{py, script}))
		floor.rss = append(floor.rss, peakRSS(b, u.charmDir, u.log, env, []string{py, "-c", "pass"}))
	}
	return []measured{ops, floor}
}

func report(b *testing.B, fast, full, python []measured, runs int) {
	b.Helper()
	fmt.Printf("\nBenchmarkUpdateStatus: one update-status hook as a process, faketool as every hook tool, worker under Pebble; median of %d runs\n", runs)
	fmt.Printf("(wall times are noisy on a shared 2-core machine: compare rows of the same run; CPU is user+system of the\n")
	fmt.Printf(" process and the hook tools it waited for, less sensitive to load; the call counts are exact;\n")
	fmt.Printf(" peak RSS: median of %d more runs each under GNU time, the hook process or the largest hook tool it waited for)\n", rssRuns)
	fmt.Printf("  %-52s %9s %8s %13s %11s\n", "", "wall ms", "CPU ms", "peak RSS MiB", "hook tools")
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	row := func(m measured) {
		fmt.Printf("  %-52s %9.1f %8.1f %13.1f %11d\n", m.name, ms(m.wall()), ms(m.cpu()), float64(m.rssKiB())/1024, len(m.calls()))
	}
	for i := range fast {
		row(fast[i])
		row(full[i])
	}
	for _, m := range python {
		row(m)
	}
	fmt.Printf("  %-52s %9d\n", "Python Concourse charm (issue 9's figure, not run here)", pythonCharmMS)

	fmt.Printf("\n  goal                                                   figure\n")
	worstWall, worstRSS, counts := time.Duration(0), int64(0), []int{}
	for _, m := range fast {
		worstWall, worstRSS = max(worstWall, m.wall()), max(worstRSS, m.rssKiB())
		counts = append(counts, len(m.calls()))
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Printf("  median wall <= %.1f ms (1/8 of %d ms)                 %.1f ms  %s\n", float64(goalWall.Microseconds())/1000, pythonCharmMS,
		float64(worstWall.Microseconds())/1000, verdict(worstWall <= goalWall))
	if worstRSS == 0 {
		fmt.Printf("  peak RSS <= 10 MiB                                     not measured: no %s\n", gnuTime)
	} else {
		fmt.Printf("  peak RSS <= 10 MiB                                     %.1f MiB  %s\n", float64(worstRSS)/1024, verdict(worstRSS <= goalRSSKiB))
	}
	fmt.Printf("  hook-tool calls <= %d                                   %v  %s\n", goalCalls, counts, verdict(slices.Max(counts) <= goalCalls))
	fmt.Printf("  same calls for a unit of 1 and of 10 units             %v  %s\n", counts, verdict(slices.Min(counts) == slices.Max(counts)))
	if len(fast) > 0 && len(full) > 0 {
		fmt.Printf("  fast path / full reconcile, wall (same run)            %.2f, %.2f, %.2f\n", ratio(fast[0], full[0]), ratio(fast[1], full[1]), ratio(fast[2], full[2]))
	}
	if len(python) > 0 {
		worstCPU := time.Duration(0)
		for _, m := range fast {
			worstCPU = max(worstCPU, m.cpu())
		}
		fmt.Printf("  fast path / python3 ops-like, wall and CPU (same run)  %.2f, %.2f (goal: <= 1/8 = 0.125 of a Python charm)\n",
			float64(worstWall)/float64(python[0].wall()), float64(worstCPU)/float64(python[0].cpu()))
	}

	const area = "update-status, settled unit"
	benchfig.Recordf(b, area, "median wall (worst of 1 and 10 units)", fmt.Sprintf("<= %.1f ms", float64(goalWall.Microseconds())/1000),
		benchfig.Verdict(worstWall <= goalWall), "%.1f ms", float64(worstWall.Microseconds())/1000)
	if worstRSS > 0 {
		benchfig.Recordf(b, area, "peak RSS", "<= 10 MiB", benchfig.Verdict(worstRSS <= goalRSSKiB), "%.1f MiB", float64(worstRSS)/1024)
	}
	benchfig.Recordf(b, area, "hook-tool calls (1 unit, 10 units)", fmt.Sprintf("<= %d, equal", goalCalls),
		benchfig.Verdict(slices.Max(counts) <= goalCalls && slices.Min(counts) == slices.Max(counts)), "%v", counts)
	if len(fast) > 0 && len(full) > 0 {
		benchfig.Recordf(b, area, "fast path / full reconcile, wall", "", nil, "%.2f", ratio(fast[0], full[0]))
	}
	fmt.Printf("\n  hook-tool calls of the settled fast path (every scenario):\n")
	for _, argv := range fast[0].calls() {
		fmt.Printf("    %s\n", strings.Join(argv, " "))
	}
	for _, m := range full {
		fmt.Printf("  hook-tool calls of %s: %s\n", m.name, countByTool(m.calls()))
	}
	if len(python) > 0 {
		fmt.Printf("  hook-tool calls of %s: %s\n", python[0].name, countByTool(python[0].calls()))
	}
	fmt.Println()

	b.ReportMetric(float64(worstWall.Microseconds())/1000, "fast-ms")
	b.ReportMetric(float64(worstRSS)/1024, "fast-RSS-MiB")
	b.ReportMetric(float64(slices.Max(counts)), "fast-calls")
	// Counts are exact, so these goals fail the benchmark; times only say MISSED above.
	if slices.Max(counts) > goalCalls || slices.Min(counts) != slices.Max(counts) {
		b.Errorf("update-status hook-tool calls %v: want at most %d, the same for every scenario", counts, goalCalls)
	}
}

func ratio(a, b measured) float64 { return float64(a.wall()) / float64(b.wall()) }

// countByTool summarises calls as "tool×n" in first-call order.
func countByTool(calls [][]string) string {
	var order []string
	n := map[string]int{}
	for _, argv := range calls {
		if n[argv[0]] == 0 {
			order = append(order, argv[0])
		}
		n[argv[0]]++
	}
	parts := []string{fmt.Sprintf("%d in all:", len(calls))}
	for _, t := range order {
		parts = append(parts, fmt.Sprintf("%s×%d", t, n[t]))
	}
	return strings.Join(parts, " ")
}
