package service

import (
	"context"
	"fmt"
	"syscall"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
)

// startJob is the shape of go-systemd's StartUnitContext, StopUnitContext and friends.
type startJob func(ctx context.Context, unit, mode string, ch chan<- string) (int, error)

// Start implements Manager.
func (s *Systemd) Start(ctx context.Context, name string) error {
	return runJob(ctx, "start", name, s.conn.StartUnitContext)
}

// Restart implements Manager.
func (s *Systemd) Restart(ctx context.Context, name string) error {
	return runJob(ctx, "restart", name, s.conn.RestartUnitContext)
}

// Stop implements Manager.
func (s *Systemd) Stop(ctx context.Context, name string) error {
	return runJob(ctx, "stop", name, s.conn.StopUnitContext)
}

// Reload implements Manager: systemd runs the unit's ExecReload, which sends ReloadSignal.
func (s *Systemd) Reload(ctx context.Context, name string) error {
	return runJob(ctx, "reload", name, s.conn.ReloadUnitContext)
}

// runJob queues a job in "replace" mode (it supersedes a conflicting queued job, as systemctl
// does) and waits until systemd reports its result.
func runJob(ctx context.Context, verb, name string, start startJob) error {
	unit := unitName(name)
	// Buffered: go-systemd sends the result while holding its job lock, and nobody reads it
	// once ctx has ended.
	done := make(chan string, 1)
	if _, err := start(ctx, unit, "replace", done); err != nil {
		return fmt.Errorf("%s %s: %w", verb, unit, err)
	}
	select {
	case result := <-done:
		if result != "done" {
			return fmt.Errorf("%s %s: job %s (see journalctl -u %s)", verb, unit, result, unit)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: waiting for the job: %w", verb, unit, ctx.Err())
	}
}

// Signal implements Manager. Only the main process gets sig, as a worker's land or retire
// signal is meant for the worker, not for the containers it runs.
func (s *Systemd) Signal(ctx context.Context, name string, sig syscall.Signal) error {
	if err := s.conn.KillUnitWithTarget(ctx, unitName(name), sddbus.Main, int32(sig)); err != nil {
		return fmt.Errorf("signal %s with %s: %w", unitName(name), signalName(sig), err)
	}
	return nil
}
