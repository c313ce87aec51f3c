package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fault switch: a registered worker answers its healthcheck with 503 while the file exists
// (saying so), and 200 again once it is gone; its registration is untouched meanwhile.
func TestWorkerHealthFaultSwitch(t *testing.T) {
	t.Parallel()
	db := pgDatabase(t)
	tsaPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ws := newWebSetup(t, db)
	ws.env["CONCOURSE_TSA_BIND_PORT"] = strconv.Itoa(tsaPort)
	tsaAddr := "127.0.0.1:" + strconv.Itoa(tsaPort)
	s := newWorkerSetup(t, "faulty-worker", []keypair{ws.hostKey}, tsaAddr)
	fault := filepath.Join(t.TempDir(), "unhealthy")
	s.env["STANDIN_UNHEALTHY_FILE"] = fault
	writeFile(t, ws.authKeys, s.key.authKey+"\n")
	w := startWeb(t, ws)
	wk := startWorker(t, s)
	wk.waitLine("registered with " + tsaAddr)
	w.waitLine("tsa: worker faulty-worker registered")
	if code, _ := health(t, wk); code != http.StatusOK {
		t.Fatalf("healthcheck before the fault: %d, want 200", code)
	}
	writeFile(t, fault, "injected by a test\n")
	code, body := health(t, wk)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "fault injected") || !strings.Contains(body, "injected by a test") {
		t.Errorf("healthcheck with the fault: %d %q, want 503 naming the fault", code, body)
	}
	if got, ok := findWorker(w.workers(), "faulty-worker"); !ok || got.State != "running" {
		t.Errorf("the fault changed the registration: %+v", got)
	}
	if err := os.Remove(fault); err != nil {
		t.Fatal(err)
	}
	if code, body := health(t, wk); code != http.StatusOK {
		t.Errorf("healthcheck after the fault cleared: %d %q, want 200", code, body)
	}
}

func health(t *testing.T, w startedWorker) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + w.health + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
