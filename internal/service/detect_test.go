package service

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectPrefersSystemdWhenItAnswers(t *testing.T) {
	t.Parallel()
	_, um := systemdForTest(t)
	d, err := Detect(testContext(t), DetectOptions{
		SystemdMarker: t.TempDir(),
		Systemd:       SystemdOptions{Socket: um.socket, UnitDir: um.unitDir, User: true},
		PebbleSocket:  filepath.Join(t.TempDir(), "no.socket"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Backend() != "systemd" || !strings.Contains(d.Reason, um.socket) {
		t.Fatalf("chose %s: %s", d.Backend(), d.Reason)
	}
}

// TestDetectFallsBackToPebble covers both ways systemd can be absent: not booted (no marker),
// and a marker without a systemd answering behind it (a container that inherited /run).
func TestDetectFallsBackToPebble(t *testing.T) {
	t.Parallel()
	_, pd := pebbleForTest(t)
	for what, marker := range map[string]string{
		"no marker":         filepath.Join(t.TempDir(), "absent"),
		"marker, no answer": t.TempDir(),
	} {
		d, err := Detect(testContext(t), DetectOptions{
			SystemdMarker: marker,
			Systemd:       SystemdOptions{Socket: filepath.Join(t.TempDir(), "private")},
			PebbleSocket:  pd.socket,
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if d.Backend() != "pebble" || !strings.Contains(d.Reason, pd.socket) || !strings.Contains(d.Reason, "systemd") {
			t.Errorf("%s: chose %s: %s", what, d.Backend(), d.Reason)
		}
		d.Close()
	}
}

func TestDetectNeitherSaysWhatWasProbed(t *testing.T) {
	t.Parallel()
	marker := t.TempDir()
	sdSocket := filepath.Join(t.TempDir(), "private")
	pbSocket := filepath.Join(t.TempDir(), ".pebble.socket")
	d, err := Detect(testContext(t), DetectOptions{
		SystemdMarker: marker,
		Systemd:       SystemdOptions{Socket: sdSocket},
		PebbleSocket:  pbSocket,
	})
	if err == nil {
		d.Close()
		t.Fatalf("Detect found %s: %s", d.Backend(), d.Reason)
	}
	for _, probed := range []string{marker, sdSocket, pbSocket} {
		if !strings.Contains(err.Error(), probed) {
			t.Errorf("error does not name %s: %v", probed, err)
		}
	}
}
