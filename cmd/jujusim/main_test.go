package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the hook tools, like the real
// multi-call binary does.
func TestMain(m *testing.M) {
	if name := filepath.Base(os.Args[0]); name != "jujusim.test" && !strings.HasSuffix(name, ".test") {
		os.Exit(run(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func cli(t *testing.T, model string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"jujusim", "--model", model, "--retry-scale", "0.001"}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestCLIDeployWaitStatus(t *testing.T) {
	t.Parallel()
	model := filepath.Join(t.TempDir(), "m")
	t.Cleanup(func() { cli(t, model, "destroy-model") })
	charm := filepath.Join("..", "..", "internal", "jujusim", "testdata", "recorder")
	if _, e, code := cli(t, model, "deploy", charm, "rec", "-n", "2", "--config", "workers=2", "--storage", "data=2G"); code != 0 {
		t.Fatalf("deploy: %s", e)
	}
	if _, e, code := cli(t, model, "wait"); code != 0 {
		t.Fatalf("wait: %s", e)
	}
	out, e, code := cli(t, model, "status", "--format=json")
	if code != 0 {
		t.Fatal(e)
	}
	var st struct {
		Applications map[string]struct {
			Units map[string]struct {
				Leader     bool `json:"leader"`
				JujuStatus struct {
					Current string `json:"current"`
				} `json:"juju-status"`
			} `json:"units"`
		} `json:"applications"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	units := st.Applications["rec"].Units
	if len(units) != 2 || !units["rec/0"].Leader || units["rec/1"].JujuStatus.Current != "idle" {
		t.Fatalf("status: %s", out)
	}
	if _, e, code := cli(t, model, "config", "rec", "workers=many"); code != 1 || e != "ERROR option \"workers\" expected int, got \"many\"\n" {
		t.Fatalf("bad config: %d %q", code, e)
	}
	if out, _, _ := cli(t, model, "config", "rec", "workers"); out != "2\n" {
		t.Fatalf("config get: %q", out)
	}
	if _, e, code := cli(t, model, "add-unit", "rec", "--attach-storage", "data/0"); code != 1 || !strings.Contains(e, "cannot attach storage owned by unit rec/0 to unit rec/2") {
		t.Fatalf("attach owned storage: %d %q", code, e)
	}
	if _, e, code := cli(t, model, "bogus"); code != 2 || !strings.Contains(e, "unrecognized command") {
		t.Fatalf("unknown command: %d %q", code, e)
	}
}
