// Package benchfig collects the figures the benchmarks measure into one file, so that `make bench`
// ends with one table of every figure and its goal (cmd/benchtable), whatever package measured it.
package benchfig

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
)

// EnvFile names the JSON-lines file figures are appended to; unset, Record does nothing.
const EnvFile = "BENCH_FIGURES"

// Figure is one measured value and the goal it is held to.
type Figure struct {
	Area  string `json:"area"`  // what was measured, e.g. "shared install (compressible)"
	Name  string `json:"name"`  // e.g. "ratio install / curl-sha1-tar"
	Value string `json:"value"` // as printed
	Goal  string `json:"goal,omitempty"`
	// Met is the verdict against Goal; nil when there is no goal or it cannot be judged here.
	Met *bool `json:"met,omitempty"`
}

// Verdict is a helper for Figure.Met.
func Verdict(ok bool) *bool { return &ok }

// appendMu serialises appends of one process; separate processes append whole lines (O_APPEND).
var appendMu sync.Mutex

// Record appends f to $BENCH_FIGURES.
func Record(tb testing.TB, f Figure) {
	tb.Helper()
	path := os.Getenv(EnvFile)
	if path == "" {
		return
	}
	line, err := json.Marshal(f)
	if err != nil {
		tb.Fatalf("benchfig: %v", err)
	}
	appendMu.Lock()
	defer appendMu.Unlock()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatalf("benchfig: %v", err)
	}
	defer out.Close()
	if _, err := out.Write(append(line, '\n')); err != nil {
		tb.Fatalf("benchfig: write %s: %v", path, err)
	}
}

// Recordf records a figure whose value is formatted.
func Recordf(tb testing.TB, area, name, goal string, met *bool, format string, args ...any) {
	tb.Helper()
	Record(tb, Figure{Area: area, Name: name, Value: fmt.Sprintf(format, args...), Goal: goal, Met: met})
}
