package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestWorkerRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	host := newKey(t, dir, "host", false)
	s := newWorkerSetup(t, "w", []keypair{host}, "127.0.0.1:2222")
	empty := filepath.Join(dir, "empty.pub")
	writeFile(t, empty, "\n")
	notDir := filepath.Join(dir, "file")
	writeFile(t, notDir, "x")
	cases := []struct {
		name, key, value string
		want             []string
	}{
		{"no work dir", "CONCOURSE_WORK_DIR", "", []string{"CONCOURSE_WORK_DIR: must be set"}},
		{"no tsa host", "CONCOURSE_TSA_HOST", "", []string{"CONCOURSE_TSA_HOST: must be set"}},
		{"no tsa public key", "CONCOURSE_TSA_PUBLIC_KEY", "", []string{"CONCOURSE_TSA_PUBLIC_KEY: must be set"}},
		{"no worker key", "CONCOURSE_TSA_WORKER_PRIVATE_KEY", "", []string{"CONCOURSE_TSA_WORKER_PRIVATE_KEY: must be set"}},
		{"work dir not creatable", "CONCOURSE_WORK_DIR", filepath.Join(notDir, "sub"), []string{"CONCOURSE_WORK_DIR", notDir}},
		{"tsa host without port", "CONCOURSE_TSA_HOST", "127.0.0.1", []string{"CONCOURSE_TSA_HOST", `"127.0.0.1"`}},
		{"empty tsa public key file", "CONCOURSE_TSA_PUBLIC_KEY", empty, []string{"CONCOURSE_TSA_PUBLIC_KEY", empty}},
		{"worker key is a public key", "CONCOURSE_TSA_WORKER_PRIVATE_KEY", s.env["CONCOURSE_TSA_PUBLIC_KEY"],
			[]string{"CONCOURSE_TSA_WORKER_PRIVATE_KEY", s.env["CONCOURSE_TSA_PUBLIC_KEY"]}},
		{"unknown runtime", "CONCOURSE_RUNTIME", "docker", []string{"CONCOURSE_RUNTIME", `"docker"`}},
		{"unknown baggageclaim driver", "CONCOURSE_BAGGAGECLAIM_DRIVER", "zfs", []string{"CONCOURSE_BAGGAGECLAIM_DRIVER"}},
		{"bad dns server", "CONCOURSE_CONTAINERD_DNS_SERVER", "8.8.8.8,dns", []string{"CONCOURSE_CONTAINERD_DNS_SERVER", `"dns"`}},
		{"bad max containers", "CONCOURSE_CONTAINERD_MAX_CONTAINERS", "-1", []string{"CONCOURSE_CONTAINERD_MAX_CONTAINERS"}},
		{"bad ephemeral", "CONCOURSE_EPHEMERAL", "perhaps", []string{"CONCOURSE_EPHEMERAL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := runToExit(t, with(s.env, tc.key, tc.value), "worker")
			if code != 1 {
				t.Errorf("exit %d, want 1; output %q", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q does not name %s", out, w)
				}
			}
		})
	}
}

// The worker starts before web (as it routinely does), reports unhealthy,
// keeps retrying, and registers once web is up.
func TestWorkerRegistersWhenWebComesUp(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	tsaPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	tsaAddr := "127.0.0.1:" + strconv.Itoa(tsaPort)
	ws := newWebSetup(t, db)
	s := newWorkerSetup(t, "early-worker", []keypair{ws.hostKey}, tsaAddr)
	s.env["CONCOURSE_TEAM"] = "main"
	s.env["CONCOURSE_EPHEMERAL"] = "true"
	writeFile(t, ws.authKeys, s.key.authKey+"\n")

	wk := startWorker(t, s)
	if code := wk.healthCode(); code != http.StatusServiceUnavailable {
		t.Errorf("healthcheck before registering: %d, want 503", code)
	}
	wk.waitLine("tsa " + tsaAddr + ": dial tcp")

	ws.env["CONCOURSE_TSA_BIND_PORT"] = strconv.Itoa(tsaPort)
	w := startWeb(t, ws)
	wk.waitLine("registered with " + tsaAddr)
	w.waitLine("tsa: worker early-worker registered")
	if code := wk.healthCode(); code != http.StatusOK {
		t.Errorf("healthcheck after registering: %d, want 200", code)
	}
	got, _ := findWorker(w.workers(), "early-worker")
	want := workerRow{Name: "early-worker", State: "running", Team: "main", Tags: []string{"fast", "linux"},
		Platform: "linux", Version: "2.5", BinaryVersion: standinVersion, Runtime: "containerd",
		BaggageclaimDriver: "overlay", TSAPeer: "127.0.0.2", TSAPeers: []string{"127.0.0.2"}}
	got.ConnectedAt, got.LastSeen = time.Time{}, time.Time{}
	if !equalRows(got, want) {
		t.Errorf("worker = %+v\nwant     %+v", got, want)
	}
	marker, err := os.ReadFile(filepath.Join(s.env["CONCOURSE_WORK_DIR"], markerFile))
	if err != nil || !strings.Contains(string(marker), "name=early-worker") {
		t.Errorf("work dir marker: %q, %v", marker, err)
	}
	// Heartbeats move last_seen.
	first := w.workers()[0].LastSeen
	w.waitWorkers("heartbeat", func(ws []workerRow) bool { return len(ws) == 1 && ws[0].LastSeen.After(first) })
}

func equalRows(a, b workerRow) bool {
	return a.Name == b.Name && a.State == b.State && a.Team == b.Team && slices.Equal(a.Tags, b.Tags) &&
		a.Platform == b.Platform && a.Version == b.Version && a.BinaryVersion == b.BinaryVersion &&
		a.Runtime == b.Runtime && a.BaggageclaimDriver == b.BaggageclaimDriver && a.TSAPeer == b.TSAPeer &&
		slices.Equal(a.TSAPeers, b.TSAPeers)
}

// Two webs share one database; a worker given both TSAs is one worker
// reachable through two peers, seen the same from either web.
func TestTwoWebsOneWorker(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	s1 := newWebSetup(t, db)
	s2 := newWebSetup(t, db)
	s2.env["CONCOURSE_PEER_ADDRESS"] = "127.0.0.3"
	s := newWorkerSetup(t, "shared-worker", []keypair{s1.hostKey, s2.hostKey})
	writeFile(t, s1.authKeys, s.key.authKey+"\n")
	writeFile(t, s2.authKeys, s.key.authKey+"\n")
	w1, w2 := startWeb(t, s1), startWeb(t, s2)
	s.env["CONCOURSE_TSA_HOST"] = w1.tsa + "," + w2.tsa
	wk := startWorker(t, s)
	wk.waitLine("registered with " + w1.tsa)
	wk.waitLine("registered with " + w2.tsa)
	for _, w := range []web{w1, w2} {
		got := w.waitWorkers("registered through both", func(ws []workerRow) bool {
			return len(ws) == 1 && len(ws[0].TSAPeers) == 2
		})
		peers := slices.Sorted(slices.Values(got[0].TSAPeers))
		if got[0].Name != "shared-worker" || !slices.Equal(peers, []string{"127.0.0.2", "127.0.0.3"}) {
			t.Errorf("web %s sees %+v", w.api, got)
		}
	}
	// Losing one web is not a stall: the worker is still connected.
	w1.signal(syscall.SIGTERM)
	if code := w1.wait(); code != 0 {
		t.Errorf("web exit %d after SIGTERM", code)
	}
	got := w2.waitWorkers("down to one peer", func(ws []workerRow) bool { return len(ws) == 1 && len(ws[0].TSAPeers) == 1 })
	if got[0].State != "running" || got[0].TSAPeers[0] != "127.0.0.3" {
		t.Errorf("after one web stopped: %+v", got[0])
	}
}

// An unauthorized worker key is refused; adding it and sending SIGHUP to
// the same web process lets it in; removing it refuses the next connection.
func TestAuthorizedKeysReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	ws := newWebSetup(t, db)
	w := startWeb(t, ws)
	pid := w.cmd.Process.Pid
	s := newWorkerSetup(t, "late-key", []keypair{ws.hostKey}, w.tsa)
	wk := startWorker(t, s)
	w.waitLine("tsa: rejected key " + ssh.FingerprintSHA256(s.key.pub))
	if n := len(w.workers()); n != 0 {
		t.Fatalf("%d workers registered with an unauthorized key", n)
	}

	writeFile(t, ws.authKeys, "# workers\n"+s.key.authKey+"\n")
	w.signal(syscall.SIGHUP)
	w.waitLine("reloaded 1 authorized keys")
	wk.waitLine("registered with " + w.tsa)
	w.waitWorkers("registered", func(ws []workerRow) bool { return len(ws) == 1 && ws[0].State == "running" })
	if w.cmd.Process.Pid != pid || w.cmd.ProcessState != nil {
		t.Errorf("web was restarted; want the same process %d", pid)
	}

	writeFile(t, ws.authKeys, "")
	w.signal(syscall.SIGHUP)
	w.waitLine("reloaded 0 authorized keys")
	signer := signerFor(t, s.key.path)
	_, err := ssh.Dial("tcp", w.tsa, &ssh.ClientConfig{
		User: "probe", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(ws.hostKey.pub), Timeout: 10 * time.Second,
	})
	if err == nil {
		t.Error("a removed key still connects")
	}
}

func signerFor(t *testing.T, path string) ssh.Signer {
	t.Helper()
	k, err := loadRSAPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// CONCOURSE_TSA_PUBLIC_KEY may list several host keys (rotation): any one
// of them is accepted; a file without the TSA's key is not.
func TestWorkerTSAHostKeyRotation(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	ws := newWebSetup(t, db)
	w := startWeb(t, ws)
	old := newKey(t, t.TempDir(), "old_host_key", false)

	bad := newWorkerSetup(t, "wrong-host-key", []keypair{old}, w.tsa)
	writeFile(t, ws.authKeys, bad.key.authKey+"\n")
	w.signal(syscall.SIGHUP)
	w.waitLine("reloaded 1 authorized keys")
	startWorker(t, bad).waitLine("host key " + ssh.FingerprintSHA256(ws.hostKey.pub) + " is not in CONCOURSE_TSA_PUBLIC_KEY")

	good := newWorkerSetup(t, "rotated", []keypair{old, ws.hostKey}, w.tsa)
	writeFile(t, ws.authKeys, bad.key.authKey+"\n"+good.key.authKey+"\n")
	w.signal(syscall.SIGHUP)
	w.waitLine("reloaded 2 authorized keys")
	startWorker(t, good).waitLine("registered with " + w.tsa)
	got := w.waitWorkers("rotated registered", func(ws []workerRow) bool { return len(ws) > 0 })
	if len(got) != 1 || got[0].Name != "rotated" {
		t.Errorf("workers = %+v, want only the worker that trusts the current host key", got)
	}
}

// Land, retire and plain stop, through two TSAs.
func TestWorkerSignals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		sig       syscall.Signal
		wantLog   string
		wantState string // "" means the row is gone
	}{
		{syscall.SIGUSR1, "landing", "landed"},
		{syscall.SIGUSR2, "retiring", ""},
		{syscall.SIGTERM, "without telling the TSA", "stalled"},
	}
	for _, tc := range cases {
		t.Run(tc.sig.String(), func(t *testing.T) {
			t.Parallel()
			db := pgDatabase(t)
			s1, s2 := newWebSetup(t, db), newWebSetup(t, db)
			s2.env["CONCOURSE_PEER_ADDRESS"] = "127.0.0.3"
			s := newWorkerSetup(t, "sig-worker", []keypair{s1.hostKey, s2.hostKey})
			writeFile(t, s1.authKeys, s.key.authKey)
			writeFile(t, s2.authKeys, s.key.authKey)
			w1, w2 := startWeb(t, s1), startWeb(t, s2)
			s.env["CONCOURSE_TSA_HOST"] = w1.tsa + "," + w2.tsa
			wk := startWorker(t, s)
			w1.waitWorkers("registered twice", func(ws []workerRow) bool { return len(ws) == 1 && len(ws[0].TSAPeers) == 2 })

			wk.signal(tc.sig)
			wk.waitLine(tc.wantLog)
			if code := wk.wait(); code != 0 {
				t.Errorf("worker exit %d after %v, want 0", code, tc.sig)
			}
			w2.waitWorkers("settled", func(ws []workerRow) bool {
				if tc.wantState == "" {
					return len(ws) == 0
				}
				return len(ws) == 1 && ws[0].State == tc.wantState && len(ws[0].TSAPeers) == 0
			})
			if tc.wantState == "stalled" { // logged by whichever web saw the last session end
				eventually(t, "a web logs the stall", func() bool {
					const line = "sig-worker disconnected without landing or retiring: stalled"
					return strings.Contains(w1.output(), line) || strings.Contains(w2.output(), line)
				})
			}
		})
	}
}
