package main

import (
	"os"
	"strings"
)

// defaultUnhealthyFile is the stand-in's fault switch for tests: while this file exists on the
// worker's machine, the worker's healthcheck answers 503, as a worker that cannot do its job would
// (a test injects a failed post-upgrade health check with `jujusim exec -- touch` and clears it
// with `rm`). STANDIN_UNHEALTHY_FILE moves it (the stand-in's own tests run on one host).
const defaultUnhealthyFile = "/run/standin-unhealthy"

// unhealthyFile is where the fault switch lives for this process.
func unhealthyFile(environ []string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "STANDIN_UNHEALTHY_FILE="); ok && v != "" {
			return v
		}
	}
	return defaultUnhealthyFile
}

// faulted says whether the fault switch is on, and what it says (its first line) if anything.
func faulted(path string) (bool, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, "" // absent (or unreadable): no fault injected
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	return true, line
}
