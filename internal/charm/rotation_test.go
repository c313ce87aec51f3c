package charm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
)

// presentedKey is the public half of the host key unit's web runs with, "" when it runs none.
func presentedKey(t *testing.T, m *fakeModel, unit string) string {
	t.Helper()
	if !m.services[unit].snapshot(concourse.WebService).Active {
		return ""
	}
	pem, err := os.ReadFile(filepath.Join(m.dataDirs[unit], "web", "tsa_host_key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := concourse.KeyFromPEM(string(pem))
	if err != nil {
		t.Fatal(err)
	}
	return k.Public
}

// trustedKeys are the host keys unit's worker runs with (its CONCOURSE_TSA_PUBLIC_KEY file), nil
// when it runs none.
func trustedKeys(t *testing.T, m *fakeModel, unit string) []string {
	t.Helper()
	if !m.services[unit].snapshot(concourse.WorkerService).Active {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(m.dataDirs[unit], "worker", "tsa_host_keys.pub"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(data), "ssh-rsa ", "ssh-rsa_"))
}

// mustReachEveryWeb fails when a running worker would refuse the host key of a running web.
func mustReachEveryWeb(t *testing.T, m *fakeModel, units []string, step string) {
	t.Helper()
	for _, w := range units {
		trusted := trustedKeys(t, m, w)
		if trusted == nil {
			continue
		}
		for _, web := range units {
			if k := presentedKey(t, m, web); k != "" && !slices.Contains(trusted, strings.Replace(k, "ssh-rsa ", "ssh-rsa_", 1)) {
				t.Fatalf("%s: %s's worker is cut off from %s's web: it trusts %d keys, not the one that web presents", step, w, web, len(trusted))
			}
		}
	}
}

// rotateToTheEnd runs the units' hooks one at a time in order (each one's relation-changed),
// checking after every hook that no worker is cut off, until the rotation is over.
func rotateToTheEnd(t *testing.T, m *fakeModel, units, order []string) {
	t.Helper()
	mustReachEveryWeb(t, m, units, "after rotate-keys")
	for round := range 8 {
		for _, u := range order {
			reconcileUnit(t, m, u)
			mustReachEveryWeb(t, m, units, u+"'s hook in round "+string(rune('1'+round)))
		}
		m.mu.Lock()
		stage := rotationStage(m.app)
		m.mu.Unlock()
		if stage == "" {
			for _, u := range order { // the hooks the last change causes
				reconcileUnit(t, m, u)
				mustReachEveryWeb(t, m, units, u+"'s last hook")
			}
			return
		}
	}
	t.Fatalf("rotation stuck at stage %q: app status %+v", rotationStage(m.app), m.appStatus)
}

// landings counts the SIGUSR1 a unit's worker got (each restart lands it first).
func landings(m *fakeModel, unit string) int {
	n := 0
	for _, s := range m.services[unit].signalsOf(concourse.WorkerService) {
		if s == syscall.SIGUSR1 {
			n++
		}
	}
	return n
}

// TestRotateKeys: whatever order the units' hooks come in, every running worker keeps trusting
// the key every running web presents; at the end every web presents the new key, every worker
// trusts it alone, the secret holds it alone, and each worker was restarted (landed) twice.
func TestRotateKeys(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		mode  string
		n     int
		order []string
	}{
		"auto, leader first": {"auto", 3, []string{"concourse-ci/0", "concourse-ci/1", "concourse-ci/2"}},
		"auto, leader last":  {"auto", 3, []string{"concourse-ci/2", "concourse-ci/1", "concourse-ci/0"}},
		"all, two webs":      {"all", 2, []string{"concourse-ci/1", "concourse-ci/0"}},
		"single unit":        {"auto", 1, []string{"concourse-ci/0"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := serveReleases(t, "1.2.3")
			cfg := testConfig(srv, "")
			cfg["mode"] = tc.mode
			m := newFakeModel(t, cfg)
			units := unitNames(tc.n)
			reconcileAll(t, m, units)
			old := m.app[keyTSAPublicKey]
			before := map[string]int{}
			for _, u := range units {
				before[u] = landings(m, u)
			}

			run := runTestAction(t, m, "concourse-ci/0", "rotate-keys", "")
			run.mustSucceed(t)
			if run.results["old-key"] != fingerprint(old) || run.results["new-key"] == "" || run.results["new-key"] == run.results["old-key"] {
				t.Fatalf("results %v", run.results)
			}
			if tc.n == 1 && run.results["stage"] != "done" {
				t.Errorf("a single unit's rotation did not finish within the action: stage %q", run.results["stage"])
			}
			if run.mentions("PRIVATE KEY") {
				t.Error("a private key reached a hook tool's arguments or input outside secret-set's file")
			}
			rotateToTheEnd(t, m, units, tc.order)

			newKey := m.app[keyTSAPublicKey]
			if fingerprint(newKey) != run.results["new-key"] || m.app[keyTSAPublicKeyOld] != "" || m.app[keyTSAPublicKeyNext] != "" {
				t.Fatalf("app bag after the rotation: key %s, old %q, next %q", fingerprint(newKey), m.app[keyTSAPublicKeyOld], m.app[keyTSAPublicKeyNext])
			}
			keys := m.secrets[m.app[keyKeysSecret]]
			if k, err := concourse.KeyFromPEM(keys[fieldTSAHostKey]); err != nil || k.Public != newKey || keys[fieldTSAHostKeyNext] != "" {
				t.Errorf("keys secret after the rotation: host key matches %v, next %q", err == nil && k.Public == newKey, keys[fieldTSAHostKeyNext])
			}
			for _, u := range units {
				if k := presentedKey(t, m, u); k != "" && k != newKey {
					t.Errorf("%s's web still presents the old key", u)
				}
				if trusted := trustedKeys(t, m, u); trusted != nil {
					if len(trusted) != 1 || trusted[0] != strings.Replace(newKey, "ssh-rsa ", "ssh-rsa_", 1) {
						t.Errorf("%s's worker trusts %d keys, want the new one alone", u, len(trusted))
					}
					if n := landings(m, u) - before[u]; n != 2 {
						t.Errorf("%s's worker was landed %d times during the rotation, want 2 (both keys, then the new one alone)", u, n)
					}
				}
			}
			if st := m.appStatus; strings.Contains(st.Message, "rotation") {
				t.Errorf("application status still mentions the rotation: %+v", st)
			}
		})
	}
}

// TestRotateKeysWaitsForEveryWorker: while a worker has not applied stage 1 the webs keep the old
// key and the application status names the worker.
func TestRotateKeysWaitsForEveryWorker(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	units := unitNames(3)
	reconcileAll(t, m, units)
	old := presentedKey(t, m, "concourse-ci/0")
	runTestAction(t, m, "concourse-ci/0", "rotate-keys", "").mustSucceed(t)
	reconcileUnit(t, m, "concourse-ci/1") // concourse-ci/2 is down: no hook
	reconcileUnit(t, m, "concourse-ci/0")
	if presentedKey(t, m, "concourse-ci/0") != old || rotationStage(m.app) != "trust" {
		t.Fatalf("the web switched keys before concourse-ci/2 trusted the new one (stage %q)", rotationStage(m.app))
	}
	if st := m.appStatus; !strings.Contains(st.Message, "1 of 2 workers trust the new key; waiting for concourse-ci/2") {
		t.Errorf("application status %+v", st)
	}
}

// TestRotateKeysRefusals: only the leader, only once at a time, and not on a worker application.
func TestRotateKeysRefusals(t *testing.T) {
	t.Parallel()
	srv := serveReleases(t, "1.2.3")
	m := newFakeModel(t, testConfig(srv, ""))
	reconcileAll(t, m, unitNames(3))
	runTestAction(t, m, "concourse-ci/1", "rotate-keys", "").mustFail(t, "only the leader", "juju run concourse-ci/leader rotate-keys")
	runTestAction(t, m, "concourse-ci/0", "rotate-keys", "").mustSucceed(t)
	next := m.app[keyTSAPublicKeyNext]
	runTestAction(t, m, "concourse-ci/0", "rotate-keys", "").mustFail(t, "already under way", "juju status concourse-ci")
	if m.app[keyTSAPublicKeyNext] != next {
		t.Error("a refused rotate-keys replaced the next key")
	}

	w := newFakeModel(t, map[string]any{"mode": "worker"})
	runTestAction(t, w, "concourse-ci/0", "rotate-keys", "").mustFail(t, "mode=worker", "run rotate-keys on its leader")
}
