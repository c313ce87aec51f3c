// Command benchtable prints the figures `make bench` collected (internal/benchfig) as one table:
// area, figure, value, goal and whether it was met.
//
//	go run ./cmd/benchtable build/bench-figures.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/benchfig"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtable FIGURES.jsonl")
		os.Exit(2)
	}
	figs, err := read(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	missed := printTable(figs)
	if missed > 0 {
		fmt.Printf("\n%d goal(s) missed\n", missed)
	}
}

func read(path string) ([]benchfig.Figure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var figs []benchfig.Figure
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var fig benchfig.Figure
		if err := json.Unmarshal(sc.Bytes(), &fig); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		figs = append(figs, fig)
	}
	return figs, sc.Err()
}

// printTable writes the table, areas in the order they were measured, and counts missed goals.
func printTable(figs []benchfig.Figure) (missed int) {
	wArea, wName, wValue := len("area"), len("figure"), len("value")
	for _, f := range figs {
		wArea, wName, wValue = max(wArea, len(f.Area)), max(wName, len(f.Name)), max(wValue, len(f.Value))
	}
	row := func(area, name, value, goal, verdict string) {
		fmt.Printf("%-*s  %-*s  %*s  %-10s %s\n", wArea, area, wName, name, wValue, value, goal, verdict)
	}
	fmt.Println("\n== make bench: every figure, one table")
	row("area", "figure", "value", "goal", "")
	row(strings.Repeat("-", wArea), strings.Repeat("-", wName), strings.Repeat("-", wValue), "----", "")
	last := ""
	for _, f := range figs {
		area := f.Area
		if area == last {
			area = ""
		}
		last = f.Area
		verdict := ""
		switch {
		case f.Met == nil:
		case *f.Met:
			verdict = "met"
		default:
			verdict = "MISSED"
			missed++
		}
		row(area, f.Name, f.Value, f.Goal, verdict)
	}
	return missed
}
