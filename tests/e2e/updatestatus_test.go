package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSettledUpdateStatus: on machines with systemd, update-status on settled units takes the fast
// path (nothing restarts, the statuses stay); a worker restarted or stopped by hand behind Juju's
// back is noticed by the next update-status, which reconciles in full as before: a stopped worker
// is reported and started again, and the unit is back on the fast path once active.
func TestSettledUpdateStatus(t *testing.T) {
	t.Parallel()
	m := newStorageModel(t, version)
	if !m.runsServices() {
		t.Skip("units get active only on nspawn machines")
	}
	m.deploy(2)
	m.juju("wait")
	wantStatuses(t, m, 2, "(local)")
	web, worker := m.invocation("concourse-ci/0", "concourse-web"), m.invocation("concourse-ci/1", "concourse-worker")

	says := m.updateStatus()
	for _, u := range []string{"concourse-ci/0", "concourse-ci/1"} {
		if !strings.Contains(says[u], "update-status: settled since") {
			t.Errorf("%s: update-status on a settled unit said %q, want the fast path", u, says[u])
		}
	}
	if m.invocation("concourse-ci/0", "concourse-web") != web || m.invocation("concourse-ci/1", "concourse-worker") != worker {
		t.Error("update-status restarted a service")
	}
	wantStatuses(t, m, 2, "(local)")

	m.juju("exec", "--unit", "concourse-ci/1", "--", "systemctl", "restart", "concourse-worker")
	if says := m.updateStatus()["concourse-ci/1"]; !strings.Contains(says, "reconciling in full: concourse-worker changed") {
		t.Errorf("update-status after a restart by hand said %q, want a full reconcile", says)
	}
	wantStatuses(t, m, 2, "(local)")

	m.juju("exec", "--unit", "concourse-ci/1", "--", "systemctl", "stop", "concourse-worker")
	if says := m.updateStatus()["concourse-ci/1"]; !strings.Contains(says, "reconciling in full: concourse-worker changed") {
		t.Errorf("update-status after a stop by hand said %q, want a full reconcile", says)
	}
	if st, msg := m.unitStatus("concourse-ci/1"); st != "blocked" || !strings.Contains(msg, "concourse-worker is not running") {
		t.Errorf("status %s %q after the worker was stopped by hand, want blocked saying it is not running", st, msg)
	}
	if s := m.activeState("concourse-ci/1", "concourse-worker"); s != "active" {
		t.Errorf("the stopped worker was not started again: %s", s)
	}
	m.updateStatus() // blocked: a full reconcile, which finds the worker running
	wantStatuses(t, m, 2, "(local)")
	if says := m.updateStatus()["concourse-ci/1"]; !strings.Contains(says, "update-status: settled since") {
		t.Errorf("update-status on the healed unit said %q, want the fast path", says)
	}
}

// updateStatus runs update-status on every unit of concourse-ci and returns, by unit, what the
// charm said about it in the unit's log (its "update-status: ..." lines).
func (m *storageModel) updateStatus() map[string]string {
	m.t.Helper()
	units := []string{"concourse-ci/0", "concourse-ci/1"}
	sizes := map[string]int64{}
	for _, u := range units {
		if fi, err := os.Stat(m.logPath(u)); err == nil {
			sizes[u] = fi.Size()
		}
	}
	m.juju("update-status")
	m.juju("wait")
	says := map[string]string{}
	for _, u := range units {
		data, err := os.ReadFile(m.logPath(u))
		if err != nil {
			m.t.Fatal(err)
		}
		var lines []string
		for _, line := range strings.Split(string(data[sizes[u]:]), "\n") {
			if strings.Contains(line, "update-status: ") {
				lines = append(lines, line)
			}
		}
		says[u] = strings.Join(lines, "\n")
	}
	return says
}

func (m *model) logPath(unit string) string {
	return filepath.Join(m.dir, "logs", "unit-"+strings.ReplaceAll(unit, "/", "-")+".log")
}
