package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/engine"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// releaseServer serves the demo's release and counts its downloads.
type releaseServer struct {
	h    *releasetest.Handler
	srv  *http.Server
	base string
	art  releasetest.Artifact
}

func startReleaseServer(dir, host string, art releasetest.Artifact) (*releaseServer, error) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	h := releasetest.NewHandler(dir)
	s := &releaseServer{h: h, srv: &http.Server{Handler: h}, base: "http://" + hostPort(host, ln), art: art}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *releaseServer) template() string { return s.base + releasetest.URLTemplate }
func (s *releaseServer) url() string      { return s.base + s.art.URLPath }
func (s *releaseServer) downloads() int   { return s.h.Stats(s.art.URLPath).GETs() }
func (s *releaseServer) stop() {
	s.h.Close()
	_ = s.srv.Shutdown(context.Background())
}

// status reads the model's status as `jujusim status --format=json` prints it.
func (d *demo) status(ctx context.Context) (engine.StatusInfo, error) {
	var st engine.StatusInfo
	out, err := output(ctx, d.jujusim, "--model", d.model, "status", "--format=json")
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(out), &st)
}

// converge runs `jujusim wait` (which drives the hooks) and meanwhile prints the status table
// whenever a unit's status changes. It ends when wait ends with every unit of the app active.
func (d *demo) converge(ctx context.Context) error {
	wait := exec.CommandContext(ctx, d.jujusim, "--model", d.model, "wait", "--max-retries", "2")
	var waitOut bytes.Buffer
	wait.Stdout, wait.Stderr = &waitOut, &waitOut
	if err := wait.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- wait.Wait() }()
	tick := time.NewTicker(time.Second) // a display refresh, not synchronisation: wait decides the end
	defer tick.Stop()
	last := ""
	for {
		select {
		case err := <-done:
			d.show(ctx, &last)
			if err != nil {
				return fmt.Errorf("jujusim wait: %w\n%s", err, waitOut.String())
			}
			return d.allActive(ctx)
		case <-tick.C:
			d.show(ctx, &last)
		}
	}
}

// show prints the table when the units' statuses differ from the last one shown, and notes the
// first moment every unit of the app is active.
func (d *demo) show(ctx context.Context, last *string) {
	st, err := d.status(ctx)
	if err != nil {
		return
	}
	key := summary(st)
	if key == *last {
		return
	}
	*last = key
	if d.activeAfter == 0 && allActive(st) {
		d.activeAfter = time.Since(d.started)
	}
	out, err := output(ctx, d.jujusim, "--model", d.model, "status")
	if err == nil {
		fmt.Printf("\n--- %5.1fs\n%s", time.Since(d.started).Seconds(), out)
	}
}

func (d *demo) allActive(ctx context.Context) error {
	st, err := d.status(ctx)
	if err != nil {
		return err
	}
	if !allActive(st) {
		return errors.New("the model settled with units that are not active (see the last status above)")
	}
	if d.activeAfter == 0 {
		d.activeAfter = time.Since(d.started)
	}
	return nil
}

func allActive(st engine.StatusInfo) bool {
	units := st.Applications[app].Units
	if len(units) == 0 {
		return false
	}
	for _, u := range units {
		if u.WorkloadStatus.Current != "active" {
			return false
		}
	}
	return true
}

// summary is every unit's workload status, sorted: the table is shown again when it changes (not
// on every hook the agents run).
func summary(st engine.StatusInfo) string {
	var lines []string
	for name, a := range st.Applications {
		for unit, u := range a.Units {
			lines = append(lines, fmt.Sprintf("%s %s %s %s", name, unit, u.WorkloadStatus.Current, u.WorkloadStatus.Message))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func webUnit(st engine.StatusInfo) string {
	for unit, u := range st.Applications[app].Units {
		if strings.HasPrefix(u.WorkloadStatus.Message, "web ") {
			return unit
		}
	}
	return ""
}

// figures prints what the demo is about: one download for all units, one release's worth of
// disk on the shared directory, and how long it took.
func (d *demo) figures() {
	shared, _ := allocated(filepath.Join(d.shared, "releases"))
	one, _ := allocated(filepath.Join(d.shared, "releases", version+"-amd64"))
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	fmt.Printf("\n==> figures\n")
	fmt.Printf("    %-36s %d for %d units\n", "release downloads", d.server.downloads(), d.opts.units)
	fmt.Printf("    %-36s %.1f MiB = %.2f x one release (%.1f MiB); per-unit installs would take %.1f MiB\n",
		"shared releases/ on disk", mib(shared), float64(shared)/float64(max(one, 1)), mib(one), mib(one)*float64(d.opts.units))
	fmt.Printf("    %-36s %.1fs from the first step\n", "time to all units active", d.activeAfter.Seconds())
}

// allocated sums the disk blocks under dir (hard links once), as du does.
func allocated(dir string) (int64, error) {
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || seen[st.Ino] {
			return nil
		}
		seen[st.Ino] = true
		total += st.Blocks * 512
		return nil
	})
	return total, err
}
