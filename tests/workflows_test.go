package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The GitHub Actions workflows cannot run here (no runner, no Juju, no network): these checks are
// what keeps them from rotting unseen. They read the files as GitHub does (YAML), and check what
// can be checked without GitHub: the structure of each job and step, that every shell step parses
// (bash -n), that the make targets and files they name exist, and that actions are pinned.

type workflow struct {
	Name     string         `yaml:"name"`
	On       any            `yaml:"on"`
	Env      map[string]any `yaml:"env"`
	Defaults struct {
		Run struct {
			Shell string `yaml:"shell"`
		} `yaml:"run"`
	} `yaml:"defaults"`
	Jobs map[string]struct {
		RunsOn         any              `yaml:"runs-on"`
		TimeoutMinutes int              `yaml:"timeout-minutes"`
		Steps          []map[string]any `yaml:"steps"`
	} `yaml:"jobs"`
}

// workflowProblems lists what is wrong with one workflow file's content; empty when nothing is.
func workflowProblems(name string, data []byte, exists func(path string) bool, makeTargets map[string]bool) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, name+": "+fmt.Sprintf(format, args...)) }
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		return []string{fmt.Sprintf("%s: not YAML: %v", name, err)}
	}
	if wf.Name == "" {
		bad("no name")
	}
	if wf.On == nil {
		bad("no `on:` trigger")
	}
	if len(wf.Jobs) == 0 {
		bad("no jobs")
	}
	jobs := make([]string, 0, len(wf.Jobs))
	for j := range wf.Jobs {
		jobs = append(jobs, j)
	}
	sort.Strings(jobs)
	pinned := regexp.MustCompile(`^[\w.-]+/[\w./-]+@[\w.-]+$`)
	makeCall := regexp.MustCompile(`(?m)(?:^|[\s;&|(])make\s+([a-z][\w-]*)`)
	repoPath := regexp.MustCompile(`(?:^|[\s"'])(\.(?:ci|github)/[\w./-]*\w)`)
	for _, j := range jobs {
		job := wf.Jobs[j]
		if job.RunsOn == nil || job.RunsOn == "" {
			bad("job %s has no runs-on", j)
		}
		if job.TimeoutMinutes <= 0 {
			bad("job %s has no timeout-minutes (GitHub's default is 6 hours)", j)
		}
		if len(job.Steps) == 0 {
			bad("job %s has no steps", j)
		}
		for i, st := range job.Steps {
			uses, hasUses := st["uses"].(string)
			run, hasRun := st["run"].(string)
			switch {
			case hasUses == hasRun:
				bad("job %s step %d: needs exactly one of uses and run", j, i+1)
			case hasUses && !pinned.MatchString(uses):
				bad("job %s step %d: action %q is not owner/name@ref", j, i+1, uses)
			case hasRun:
				if err := bashParses(run); err != nil {
					bad("job %s step %d (%v): bash -n: %v", j, i+1, st["name"], err)
				}
				for _, m := range makeCall.FindAllStringSubmatch(run, -1) {
					if !makeTargets[m[1]] {
						bad("job %s step %d: make %s: no such target in the Makefile", j, i+1, m[1])
					}
				}
				for _, m := range repoPath.FindAllStringSubmatch(run, -1) {
					if !exists(m[1]) {
						bad("job %s step %d: %s does not exist", j, i+1, m[1])
					}
				}
			}
		}
	}
	return out
}

// bashParses runs bash -n on a step's script (with the workflow's own `set` options, which only
// matter when it runs).
func bashParses(script string) error {
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func makefileTargets(t *testing.T) map[string]bool {
	t.Helper()
	targets := map[string]bool{}
	for _, line := range strings.Split(string(readRepoFile(t, "Makefile")), "\n") {
		if m := regexp.MustCompile(`^([a-z][\w-]*):`).FindStringSubmatch(line); m != nil {
			targets[m[1]] = true
		}
	}
	return targets
}

func repoFileExists(path string) bool {
	_, err := os.Stat(filepath.Join(repoRoot, path))
	return err == nil
}

// TestWorkflows: every workflow under .github/workflows parses, each job has runs-on, a timeout and
// steps, each step is one pinned action or one script that bash parses and that names only make
// targets and repository files that exist; the integration workflow's helper script parses too.
func TestWorkflows(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(repoRoot, ".github", "workflows", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		names[filepath.Base(f)] = true
	}
	for _, want := range []string{"ci.yml", "integration.yml"} {
		if !names[want] {
			t.Errorf(".github/workflows/%s is missing", want)
		}
	}
	targets := makefileTargets(t)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range workflowProblems(filepath.Base(f), data, repoFileExists, targets) {
			t.Error(p)
		}
	}
	if err := bashParses(string(readRepoFile(t, ".github/integration-lib.sh"))); err != nil {
		t.Errorf(".github/integration-lib.sh: %v", err)
	}
}

// TestWorkflowChecksCatch proves the checks above fail on the mistakes they are there for.
func TestWorkflowChecksCatch(t *testing.T) {
	t.Parallel()
	targets := map[string]bool{"charm": true}
	exists := func(p string) bool { return p == ".ci/run" }
	good := "name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n    steps:\n      - uses: actions/checkout@v4\n      - run: make charm && sudo bash .ci/run\n"
	if p := workflowProblems("good.yml", []byte(good), exists, targets); len(p) > 0 {
		t.Fatalf("a good workflow is refused: %v", p)
	}
	cases := map[string]struct{ yaml, want string }{
		"not YAML":        {"jobs: [\n", "not YAML"},
		"no runs-on":      {strings.Replace(good, "    runs-on: ubuntu-24.04\n", "", 1), "job a has no runs-on"},
		"no steps":        {"name: x\non: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: 5\n", "job a has no steps"},
		"no timeout":      {strings.Replace(good, "    timeout-minutes: 5\n", "", 1), "no timeout-minutes"},
		"unpinned action": {strings.Replace(good, "actions/checkout@v4", "actions/checkout", 1), `"actions/checkout" is not owner/name@ref`},
		"uses and run":    {strings.Replace(good, "      - uses: actions/checkout@v4\n", "      - uses: actions/checkout@v4\n        run: ls\n", 1), "exactly one of uses and run"},
		"bad shell":       {strings.Replace(good, "make charm && sudo bash .ci/run", "if then fi (", 1), "bash -n"},
		"unknown target":  {strings.Replace(good, "make charm", "make deploy", 1), "make deploy: no such target"},
		"missing file":    {strings.Replace(good, ".ci/run", ".ci/missing.sh", 1), ".ci/missing.sh does not exist"},
		"no trigger":      {strings.Replace(good, "on: push\n", "", 1), "no `on:` trigger"},
	}
	for name, c := range cases {
		p := workflowProblems("bad.yml", []byte(c.yaml), exists, targets)
		if !strings.Contains(strings.Join(p, "\n"), c.want) {
			t.Errorf("%s: problems %q do not say %q", name, p, c.want)
		}
	}
}
