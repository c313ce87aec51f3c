package service

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// directives parses a rendered unit into section -> key -> values, keeping repeats in order.
func directives(t *testing.T, unit string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for _, line := range strings.Split(unit, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line
			out[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("not a directive: %q", line)
			}
			out[section][key] = append(out[section][key], value)
		}
	}
	return out
}

func TestRenderUnitFullSpec(t *testing.T) {
	spec := Spec{
		Name:             "concourse-worker",
		Description:      "Concourse worker at 100%",
		Exec:             []string{"/opt/concourse/bin/concourse", "worker", "--name", "a b"},
		EnvFile:          "/etc/concourse/worker.env",
		User:             "concourse",
		Group:            "concourse",
		WorkingDir:       "/var/lib/concourse",
		KillSignal:       syscall.SIGUSR2,
		TimeoutStop:      90 * time.Second,
		KillProcessOnly:  true,
		Delegate:         true,
		Unlimited:        true,
		RestartOnFailure: true,
		ReloadSignal:     syscall.SIGHUP,
		AmbientCaps:      []string{"CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"},
	}
	unit := RenderUnit(spec, "multi-user.target")
	if again := RenderUnit(spec, "multi-user.target"); again != unit {
		t.Fatalf("RenderUnit is not deterministic:\n%s\n---\n%s", unit, again)
	}
	d := directives(t, unit)
	want := map[string]map[string]string{
		"[Unit]": {"Description": "Concourse worker at 100%%"},
		"[Service]": {
			"Type":                "exec",
			"ExecStart":           `/opt/concourse/bin/concourse worker --name "a b"`,
			"ExecReload":          "/bin/kill -SIGHUP $MAINPID",
			"EnvironmentFile":     "/etc/concourse/worker.env",
			"User":                "concourse",
			"Group":               "concourse",
			"WorkingDirectory":    "/var/lib/concourse",
			"KillMode":            "process",
			"KillSignal":          "SIGUSR2",
			"TimeoutStopSec":      "90s",
			"SendSIGKILL":         "yes",
			"Delegate":            "yes",
			"TasksMax":            "infinity",
			"LimitNOFILE":         "infinity",
			"LimitNPROC":          "infinity",
			"Restart":             "on-failure",
			"RestartSec":          "5",
			"AmbientCapabilities": "CAP_NET_BIND_SERVICE CAP_SYS_ADMIN",
		},
		"[Install]": {"WantedBy": "multi-user.target"},
	}
	for section, keys := range want {
		for key, value := range keys {
			if got := d[section][key]; !slices.Equal(got, []string{value}) {
				t.Errorf("%s %s = %q, want exactly [%q]", section, key, got, value)
			}
		}
		for key := range d[section] {
			if _, ok := keys[key]; !ok {
				t.Errorf("%s has unexpected %s=%q", section, key, d[section][key])
			}
		}
	}
}

// TestRenderUnitMinimalSpec: what the Spec leaves out, the unit leaves to systemd's defaults.
func TestRenderUnitMinimalSpec(t *testing.T) {
	d := directives(t, RenderUnit(Spec{Name: "x", Exec: []string{"/bin/true"}}, "default.target"))
	for _, key := range []string{"ExecReload", "EnvironmentFile", "User", "Group", "WorkingDirectory",
		"KillMode", "KillSignal", "TimeoutStopSec", "Delegate", "TasksMax", "LimitNOFILE",
		"LimitNPROC", "Restart", "RestartSec", "AmbientCapabilities"} {
		if v, ok := d["[Service]"][key]; ok {
			t.Errorf("minimal spec rendered %s=%q", key, v)
		}
	}
	if got := d["[Install]"]["WantedBy"]; !slices.Equal(got, []string{"default.target"}) {
		t.Errorf("WantedBy = %q", got)
	}
	if got := d["[Service]"]["SendSIGKILL"]; !slices.Equal(got, []string{"yes"}) {
		t.Errorf("SendSIGKILL = %q", got)
	}
}

func TestExecQuote(t *testing.T) {
	for arg, want := range map[string]string{
		"/usr/bin/concourse":           "/usr/bin/concourse",
		"--peer-address=10.0.0.1:7777": "--peer-address=10.0.0.1:7777",
		"":                             `""`,
		"a b":                          `"a b"`,
		`say "hi"`:                     `"say \"hi\""`,
		`C:\dir`:                       `"C:\\dir"`,
		"$HOME":                        "$$HOME",
		"50%":                          "50%%",
		";":                            `";"`,
		"line\nbreak":                  `"line\nbreak"`,
		"bell\a":                       `"bell\x07"`,
		"it's":                         `"it's"`,
	} {
		if got := execQuote(arg); got != want {
			t.Errorf("execQuote(%q) = %s, want %s", arg, got, want)
		}
	}
}

func TestRenderUnitFoldsNewlines(t *testing.T) {
	unit := RenderUnit(Spec{Name: "x", Description: "two\nlines", Exec: []string{"/bin/true"}}, "default.target")
	if !strings.Contains(unit, "Description=two lines\n") {
		t.Fatalf("newline in Description not folded:\n%s", unit)
	}
}

func TestValidate(t *testing.T) {
	ok := Spec{Name: "concourse-web", Exec: []string{"/bin/true"}}
	if err := validate(ok); err != nil {
		t.Fatal(err)
	}
	for what, bad := range map[string]Spec{
		"empty name":         {Exec: []string{"/bin/true"}},
		"name with .service": {Name: "web.service", Exec: []string{"/bin/true"}},
		"name with slash":    {Name: "a/b", Exec: []string{"/bin/true"}},
		"no exec":            {Name: "x"},
		"relative program":   {Name: "x", Exec: []string{"concourse"}},
		"relative env file":  {Name: "x", Exec: []string{"/bin/true"}, EnvFile: "web.env"},
		"newline":            {Name: "x", Exec: []string{"/bin/true"}, User: "a\nb"},
	} {
		if err := validate(bad); err == nil {
			t.Errorf("%s: validate accepted %+v", what, bad)
		}
	}
}
