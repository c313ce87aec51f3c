package charm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/service"
)

// serviceRun applies service specs on one unit. A service restarts only when what it runs changed:
// a hash of its spec, environment, the key files it reads and the release, remembered in the
// unit's state directory. A hash holds no secret: it is one-way.
type serviceRun struct {
	c          *Charm
	mgr        service.Manager
	dataDir    string
	releaseDir string
	release    string // the release's sha256: another release is another binary
	drain      drainPlan
}

// drainPlan bounds a worker's landing or retirement; the zero plan is the default bound.
func (s serviceRun) drainPlan() drainPlan {
	if s.drain.drain == 0 {
		return drainPlanFor(Config{})
	}
	return s.drain
}

// runResult is what run did: whether it (re)started the service, and, when the service had
// stopped by itself since the charm last started it with the same inputs, why (for the status:
// starting it again does not make it healthy).
type runResult struct {
	restarted bool
	crashed   string
}

// run installs spec with env written to its EnvFile, and (re)starts it when needed.
func (s serviceRun) run(ctx context.Context, spec service.Spec, env concourse.Env, inputs ...[]byte) (runResult, error) {
	envData, err := env.Render()
	if err != nil {
		return runResult{}, fmt.Errorf("%s environment: %w", spec.Name, err)
	}
	if _, err := writeFile(spec.EnvFile, envData, 0o600, -1); err != nil {
		return runResult{}, err
	}
	specData, _ := json.Marshal(hashedSpec(spec))
	h := sha256.New()
	for _, part := range append([][]byte{specData, envData, []byte(s.release)}, inputs...) {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	want := hex.EncodeToString(h.Sum(nil))
	hashFile, err := s.hashFile(spec.Name)
	if err != nil {
		return runResult{}, err
	}
	had, _ := os.ReadFile(hashFile)
	if _, err := s.mgr.Install(ctx, spec); err != nil {
		return runResult{}, fmt.Errorf("install %s: %w", spec.Name, err)
	}
	if err := s.mgr.Enable(ctx, spec.Name); err != nil {
		return runResult{}, fmt.Errorf("enable %s: %w", spec.Name, err)
	}
	st, err := s.mgr.State(ctx, spec.Name)
	if err != nil {
		return runResult{}, fmt.Errorf("state of %s: %w", spec.Name, err)
	}
	var res runResult
	switch {
	case !st.Active:
		if string(had) == want {
			res.crashed = s.c.notRunning(ctx, s.mgr, spec.Name, st)
		}
		s.c.say("starting %s", spec.Name)
		err = s.mgr.Start(ctx, spec.Name)
	case string(had) != want && spec.Name == concourse.WorkerService:
		s.c.say("restarting %s: what it runs changed; landing it first", spec.Name)
		err = s.c.restartWorker(ctx, s)
	case string(had) != want:
		s.c.say("restarting %s: what it runs changed", spec.Name)
		err = s.mgr.Restart(ctx, spec.Name)
	default:
		return res, nil
	}
	if err != nil {
		return runResult{}, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	if err := os.WriteFile(hashFile, []byte(want), 0o600); err != nil {
		return runResult{restarted: true}, fmt.Errorf("remember what %s runs: %w", spec.Name, err)
	}
	res.restarted = true
	return res, nil
}

// remove stops and disables a service this unit no longer runs (nothing if it never ran it).
func (s serviceRun) remove(ctx context.Context, name string) error {
	st, err := s.mgr.State(ctx, name)
	if err != nil {
		return fmt.Errorf("state of %s: %w", name, err)
	}
	if !st.Installed {
		return nil
	}
	s.c.say("stopping and disabling %s: this unit no longer runs it", name)
	if err := s.mgr.Remove(ctx, name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	// Not s.hashFile: the storage may be gone already, and nothing must be created on its mount point.
	// An operator hold (workerhold.go) goes with the service it held.
	for _, f := range []string{name + ".hash", name + ".hold"} {
		if err := os.Remove(filepath.Join(s.dataDir, "state", f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("forget %s: %w", name, err)
		}
	}
	return nil
}

func (s serviceRun) hashFile(name string) (string, error) {
	state, err := stateDir(s.dataDir)
	if err != nil {
		return "", err
	}
	return filepath.Join(state, name+".hash"), nil
}

// checkRunning reports a service that the supervisor does not see running, with the last thing it
// logged (a refused database password shows there), and calls ok when it runs.
func (c *Charm) checkRunning(ctx context.Context, svc serviceRun, name string, out *outcome, ok func()) error {
	st, err := svc.mgr.State(ctx, name)
	if err != nil {
		return fmt.Errorf("state of %s: %w", name, err)
	}
	if st.Active {
		ok()
		return nil
	}
	out.failing(c.notRunning(ctx, svc.mgr, name, st))
	return nil
}

// notRunning says that a service is down, with the last thing it logged.
func (c *Charm) notRunning(ctx context.Context, mgr service.Manager, name string, st service.State) string {
	msg := fmt.Sprintf("%s is not running (%s)", name, st.Status)
	if last := lastLogLine(ctx, mgr.Backend(), name); last != "" {
		msg += ": " + last
	}
	return msg
}

// lastLogLine is the last line the service itself logged (not systemd's lines about it), for the
// status; "" when there is none.
func lastLogLine(ctx context.Context, backend, name string) string {
	if backend != "systemd" {
		return ""
	}
	b, err := exec.CommandContext(ctx, "journalctl", "--unit", name, "--lines", "30", "--output", "cat", "--no-pager", "--quiet").Output()
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if line == "" || isSystemdLine(name, line) {
			continue
		}
		if len(line) > 200 {
			line = line[:200] + "..."
		}
		return line
	}
	return ""
}

// isSystemdLine tells systemd's own journal lines about a unit from the service's output.
func isSystemdLine(name, line string) bool {
	if strings.HasPrefix(line, name+".service: ") {
		return true
	}
	for _, verb := range []string{"Starting ", "Started ", "Stopping ", "Stopped ", "Reloading ", "Reloaded "} {
		if strings.HasPrefix(line, verb+name+".service") {
			return true
		}
	}
	return false
}

// secretFiles writes key files into one directory (0640 to gid, or 0600 for gid -1) and keeps
// their contents, which go into the service's hash: a rotated key restarts the service.
type secretFiles struct {
	dir      string
	gid      int
	contents [][]byte
}

func (f *secretFiles) put(name, data string) (string, error) {
	path := filepath.Join(f.dir, name)
	mode := os.FileMode(0o640)
	if f.gid < 0 {
		mode = 0o600
	}
	if _, err := writeFile(path, []byte(data), mode, f.gid); err != nil {
		return "", err
	}
	f.contents = append(f.contents, []byte(data))
	return path, nil
}

// include adds an existing file's content to the hash.
func (f *secretFiles) include(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	f.contents = append(f.contents, data)
	return nil
}
