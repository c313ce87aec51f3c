package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

// agentDir is Juju's per-unit agent directory on the machine.
func agentDir(unit string) string { return "/var/lib/juju/agents/" + state.UnitTag(unit) }

// runJob runs one hook or action on the unit's machine and commits or
// discards its buffered changes. Errors are simulator failures, not hook
// failures (those put the unit in error).
func (e *Engine) runJob(ctx context.Context, j job) error {
	mc, err := e.machine(ctx, &j.machine)
	if err != nil {
		return e.abandon(j, err)
	}
	if j.charmTo >= 0 && !j.skip {
		if err := e.installCharm(ctx, mc, j); err != nil {
			return e.abandon(j, err)
		}
	}
	charmDir := jujusim.MachinePath(mc, agentDir(j.unit)+"/charm")
	hostCharm := e.charmDir(j.app.Name, j.app.Revision)
	argv, found := entryPoint(hostCharm, charmDir, j.hook)
	found = found && !j.skip
	logPath := state.LogPath(e.ModelDir, j.unit)
	tag := state.UnitTag(j.unit)
	code := 0
	var output []byte
	if found {
		env, err := e.hookEnv(j, mc, charmDir)
		if err != nil {
			return e.abandon(j, err)
		}
		appendLog(logPath, fmt.Sprintf("%s %s: running %s (%s)\n", stamp(), tag, j.hook.Name, j.ctxID))
		output, code, err = mc.Exec(ctx, jujusim.Cmd{Argv: argv, Env: env, Dir: charmDir})
		if err != nil {
			appendLog(logPath, string(output))
			return e.abandon(j, fmt.Errorf("run %s on %s: %w", j.hook.Name, j.unit, err))
		}
		appendLog(logPath, string(output))
		appendLog(logPath, fmt.Sprintf("%s %s: %s exited %d\n", stamp(), tag, j.hook.Name, code))
	}
	binds, destroy, err := e.finish(j, code, output)
	if err != nil {
		return err
	}
	if b, ok := mc.(jujusim.Binder); ok {
		for _, bind := range binds {
			if err := b.AddBind(ctx, jujusim.Bind{HostPath: bind.HostPath, Path: bind.Path}); err != nil {
				return fmt.Errorf("attach storage to machine %s: %w", j.machine.ID, err)
			}
		}
	}
	if destroy {
		e.forgetMachine(j.machine.ID)
		if err := mc.Destroy(ctx); err != nil {
			return fmt.Errorf("destroy machine %s: %w", j.machine.ID, err)
		}
	}
	return nil
}

func stamp() string { return time.Now().UTC().Format("2006-01-02 15:04:05") }

func appendLog(path, text string) {
	if text == "" {
		return
	}
	_ = os.MkdirAll(filepath.Dir(path), 0o700)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(text)
}

// entryPoint is dispatch when the charm has one (Juju >= 2.8), else
// hooks/<name> or actions/<name>; a hook with no file is skipped.
func entryPoint(hostCharm, charmDir string, h state.Hook) ([]string, bool) {
	if isExec(filepath.Join(hostCharm, "dispatch")) {
		return []string{charmDir + "/dispatch"}, true
	}
	rel := "hooks/" + h.Name
	if h.Kind == "action" {
		rel = "actions/" + h.Name
	}
	if isExec(filepath.Join(hostCharm, rel)) {
		return []string{charmDir + "/" + rel}, true
	}
	return nil, false
}

func isExec(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

// installCharm copies the unpacked charm onto the machine and records the
// machine's address and the storage paths as the machine sees them.
func (e *Engine) installCharm(ctx context.Context, mc jujusim.Machine, j job) error {
	dest := agentDir(j.unit) + "/charm"
	if j.machine.Ready {
		if _, code, err := mc.Exec(ctx, jujusim.Cmd{Argv: []string{"rm", "-rf", jujusim.MachinePath(mc, dest)}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, Dir: "/"}); err != nil || code != 0 {
			return fmt.Errorf("remove old charm on %s: exit %d: %v", j.unit, code, err)
		}
	}
	if err := mc.CopyIn(ctx, e.charmDir(j.app.Name, j.charmTo), dest); err != nil {
		return fmt.Errorf("copy charm to %s: %w", j.unit, err)
	}
	return e.store().Update(func(m *state.Model) error {
		if rec := m.Machines[j.machine.ID]; rec != nil {
			rec.Ready, rec.Address = true, mc.Address()
		}
		if u := m.Units[j.unit]; u != nil {
			u.CharmRev = j.charmTo
			if u.Agent.Current == "allocating" {
				u.Agent = state.Status{Current: "executing"}
			}
		}
		for _, s := range m.Storage {
			if s.Owner == j.unit {
				s.Path = jujusim.MachinePath(mc, s.Location)
			}
		}
		return nil
	})
}

// hookEnv is Juju's hook environment (worker/uniter/runner/context
// HookVars), plus JUJUSIM_MODEL for the tools.
func (e *Engine) hookEnv(j job, mc jujusim.Machine, charmDir string) ([]string, error) {
	env := []string{
		"PATH=" + e.toolsDir() + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"HOME=/root",
		"JUJUSIM_MODEL=" + e.ModelDir,
		"JUJU_UNIT_NAME=" + j.unit,
		"JUJU_CHARM_DIR=" + charmDir,
		"CHARM_DIR=" + charmDir,
		"JUJU_CONTEXT_ID=" + j.ctxID,
		"JUJU_MACHINE_ID=" + j.machine.ID,
		"JUJU_AVAILABILITY_ZONE=",
		"JUJU_VERSION=" + JujuVersion,
		"JUJU_CHARM_HTTP_PROXY=", "JUJU_CHARM_HTTPS_PROXY=", "JUJU_CHARM_FTP_PROXY=", "JUJU_CHARM_NO_PROXY=",
		"JUJU_PRINCIPAL_UNIT=",
		"JUJU_METER_STATUS=NOT SET",
		"JUJU_AGENT_SOCKET_NETWORK=unix",
	}
	err := e.store().View(func(m *state.Model) error {
		env = append(env, "JUJU_MODEL_NAME="+m.Name, "JUJU_MODEL_UUID="+m.UUID)
		h := j.hook
		if h.Kind == "action" {
			env = append(env, "JUJU_DISPATCH_PATH=actions/"+h.Name, "JUJU_ACTION_NAME="+h.Name, "JUJU_ACTION_UUID="+h.ActionID)
			return nil
		}
		env = append(env, "JUJU_DISPATCH_PATH=hooks/"+h.Name, "JUJU_HOOK_NAME="+h.Name)
		if r := m.Relations[h.RelationID]; r != nil {
			local, _, _ := r.Endpoint(j.app.Name)
			env = append(env, "JUJU_RELATION="+local.Endpoint, "JUJU_RELATION_ID="+r.Key(j.app.Name),
				"JUJU_REMOTE_UNIT="+h.RemoteUnit, "JUJU_REMOTE_APP="+h.RemoteApp)
			if h.Kind == "relation-departed" {
				env = append(env, "JUJU_DEPARTING_UNIT="+h.Departing)
			}
		}
		if s := m.Storage[h.StorageID]; s != nil {
			env = append(env, "JUJU_STORAGE_ID="+s.ID, "JUJU_STORAGE_LOCATION="+jujusim.MachinePath(mc, s.Location), "JUJU_STORAGE_KIND="+s.Kind)
		}
		if h.SecretID != "" {
			label := ""
			if sec := m.Secrets[h.SecretID]; sec != nil {
				label = sec.ConsumerLabels[j.unit]
			}
			env = append(env, "JUJU_SECRET_ID="+h.SecretID, "JUJU_SECRET_LABEL="+label)
		}
		return nil
	})
	return append(env, e.ExtraEnv...), err
}

// abandon drops a job the simulator could not run (not a hook failure): the
// hook runs next.
func (e *Engine) abandon(j job, cause error) error {
	err := e.store().Update(func(m *state.Model) error {
		delete(m.Contexts, j.ctxID)
		if u := m.Units[j.unit]; u != nil {
			u.Running = ""
			u.Agent = state.Status{Current: "failed", Message: cause.Error()}
			if !j.retry {
				rerunNext(u, j.hook)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%v (and %w)", cause, err)
	}
	return cause
}
