// Package hookcost measures what one hook costs the way Juju runs it: the charm binary built as
// `make build` builds it, run as a process for update-status with trivial fake hook tools on PATH
// (faketool: one tiny Go program that records its argv and answers from a model file), its
// services under a real Pebble daemon. BenchmarkUpdateStatus prints median wall time, peak RSS
// (the child's rusage) and the hook-tool calls, for a unit of a 1-unit and of a 10-unit
// application, beside same-run baselines: the full reconcile every update-status ran before the
// settled fast path, and python3 doing what the ops framework does around a trivial update-status.
// `make bench` runs it; docs/update-status.md explains the figures.
package hookcost
