package sharedinstall

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/installer"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/release"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// Environment of a child unit process. The parent sets childEnv; the rest describe the install.
const (
	childEnv       = "SHAREDINSTALL_CHILD"
	envRoot        = "SI_ROOT"
	envUnit        = "SI_UNIT"
	envVersion     = "SI_VERSION"
	envArch        = "SI_ARCH"
	envURLTemplate = "SI_URL_TEMPLATE"
	// envGate set: after saying "ready", wait for fd 3 to reach EOF (the parent closing the shared
	// pipe releases every child at once).
	envGate = "SI_GATE"
	// envStopAt names a point of the install ("download:<bytes>", "verify", "sync"). The child says
	// "at <point>" there; with envStopBlock it then waits on stdin, so a SIGKILL lands exactly there.
	envStopAt    = "SI_STOP_AT"
	envStopBlock = "SI_STOP_BLOCK"
)

// childResult is the last line a child prints: "result <json>".
type childResult struct {
	Unit    string `json:"unit"`
	ByUs    bool   `json:"by-us"`
	Dir     string `json:"dir"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// runChild is one unit: open the root as a hook would, then release.Ensure.
func runChild() error {
	root, err := storage.Open(os.Getenv(envRoot))
	if err != nil {
		return err
	}
	fmt.Println("ready")
	if os.Getenv(envGate) != "" {
		if _, err := io.Copy(io.Discard, os.NewFile(3, "gate")); err != nil {
			return fmt.Errorf("wait at gate: %w", err)
		}
	}
	stop, err := parseStopPoint(os.Getenv(envStopAt), os.Getenv(envStopBlock) != "")
	if err != nil {
		return err
	}
	unit := os.Getenv(envUnit)
	req := installer.Request{
		Version:     os.Getenv(envVersion),
		Arch:        os.Getenv(envArch),
		URLTemplate: os.Getenv(envURLTemplate),
		Progress:    stop.observe,
	}
	inst, err := release.Ensure(context.Background(), root, unit, req, nil)
	if err != nil {
		return err
	}
	out, err := json.Marshal(childResult{Unit: unit, ByUs: inst.ByUs, Dir: inst.Dir, Version: inst.Marker.Version, SHA256: inst.Marker.SHA256})
	if err != nil {
		return err
	}
	fmt.Printf("result %s\n", out)
	return nil
}

// stopPoint fires once, at the first progress report matching phase (and offset, for downloads).
type stopPoint struct {
	phase  string // "" means never
	offset int64
	block  bool
	fired  bool
}

func parseStopPoint(s string, block bool) (*stopPoint, error) {
	p := &stopPoint{block: block}
	if s == "" {
		return p, nil
	}
	phase, offset, hasOffset := strings.Cut(s, ":")
	p.phase = phase
	if hasOffset {
		n, err := strconv.ParseInt(offset, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", envStopAt, s, err)
		}
		p.offset = n
	}
	return p, nil
}

func (p *stopPoint) observe(pr installer.Progress) {
	if p.fired || p.phase == "" || pr.Phase != p.phase || pr.Done < p.offset {
		return
	}
	p.fired = true
	fmt.Printf("at %s %d\n", pr.Phase, pr.Done)
	if p.block {
		// Wait for the SIGKILL. Stdin only ends if the parent is gone: then give up loudly.
		_, _ = io.Copy(io.Discard, os.Stdin)
		fmt.Fprintln(os.Stderr, "child: parent closed stdin while stopped")
		os.Exit(3)
	}
}
