package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/docgen"
)

// referenceProblem says why committed (docs/reference.md) is not what `make reference` writes for
// these config.yaml and actions.yaml, in words that name the command to run; nil when it is.
func referenceProblem(configYAML, actionsYAML, committed []byte) error {
	want, err := docgen.Generate(configYAML, actionsYAML)
	if err != nil {
		return fmt.Errorf("docs/reference.md cannot be generated: %w", err)
	}
	if string(committed) == want {
		return nil
	}
	ref, _ := docgen.Parse(configYAML, actionsYAML) // Generate parsed it already
	var missing []string
	for _, o := range ref.Options {
		if !strings.Contains(string(committed), "\n### option `"+o.Name+"`\n") {
			missing = append(missing, "option "+o.Name)
		}
	}
	for _, a := range ref.Actions {
		if !strings.Contains(string(committed), "\n### action `"+a.Name+"`\n") {
			missing = append(missing, "action "+a.Name)
		}
	}
	what := "a description, type or default changed"
	if len(missing) > 0 {
		what = "not in it: " + strings.Join(missing, ", ")
	}
	return fmt.Errorf("docs/reference.md is stale (%s; first difference at line %d): run `%s` (go run ./cmd/docgen) "+
		"from the repository root and commit docs/reference.md", what, firstDiffLine(string(committed), want), docgen.Command)
}

func firstDiffLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

func readRepoFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestReferenceIsCurrent: docs/reference.md documents every option of config.yaml and every action
// of actions.yaml as they are now, and each has a description. Adding an option or action (or
// changing its text) without `make reference`, or without a description, fails here.
func TestReferenceIsCurrent(t *testing.T) {
	t.Parallel()
	if err := referenceProblem(readRepoFile(t, "config.yaml"), readRepoFile(t, "actions.yaml"), readRepoFile(t, "docs/reference.md")); err != nil {
		t.Fatal(err)
	}
}

// TestReferenceCheckCatches proves the check above fails, and says what to run, for each way the
// reference can fall behind: the real YAML files with one more option or action, described or not.
func TestReferenceCheckCatches(t *testing.T) {
	t.Parallel()
	cfg, acts, committed := readRepoFile(t, "config.yaml"), readRepoFile(t, "actions.yaml"), readRepoFile(t, "docs/reference.md")
	if !strings.HasPrefix(string(cfg), "options:") {
		t.Fatal("config.yaml no longer starts with options: adapt how this test appends an option")
	}
	withOption := func(body string) []byte {
		return []byte(strings.TrimRight(string(cfg), "\n") + "\n  zz-new-option:\n" + body)
	}
	withAction := func(body string) []byte {
		return []byte(strings.TrimRight(string(acts), "\n") + "\nzz-new-action:\n" + body)
	}
	cases := []struct {
		name      string
		cfg, acts []byte
		want      []string
	}{
		{"option added, reference not regenerated",
			withOption("    type: string\n    default: \"\"\n    description: A new option.\n"), acts,
			[]string{"stale", "not in it: option zz-new-option", "`make reference`"}},
		{"option added without a description",
			withOption("    type: string\n    default: \"\"\n"), acts,
			[]string{`option "zz-new-option" has no description`, "`make reference`"}},
		{"option with an empty description",
			withOption("    type: int\n    default: 1\n    description: \"  \"\n"), acts,
			[]string{`option "zz-new-option" has no description`}},
		{"option of a type Juju refuses",
			withOption("    type: list\n    description: Lists are not an option type.\n"), acts,
			[]string{`option "zz-new-option" has type "list"`}},
		{"action added, reference not regenerated",
			cfg, withAction("  description: A new action.\n"),
			[]string{"stale", "not in it: action zz-new-action", "`make reference`"}},
		{"action added without a description",
			cfg, withAction("  params:\n    level:\n      type: string\n      description: How much.\n"),
			[]string{`action "zz-new-action" has no description`, "`make reference`"}},
		{"action parameter without a description",
			cfg, withAction("  description: A new action.\n  params:\n    level:\n      type: string\n"),
			[]string{`parameter "level" of action "zz-new-action" has no description`}},
		{"a description changed",
			[]byte(strings.Replace(string(cfg), "Concourse log level", "The Concourse log level", 1)), acts,
			[]string{"stale", "a description, type or default changed", "`make reference`"}},
	}
	for _, c := range cases {
		err := referenceProblem(c.cfg, c.acts, committed)
		if err == nil {
			t.Errorf("%s: the reference check passes", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", c.name, err, w)
			}
		}
	}
	// And once regenerated, the same change passes.
	added := withOption("    type: string\n    default: \"\"\n    description: A new option.\n")
	regenerated, err := docgen.Generate(added, acts)
	if err != nil {
		t.Fatal(err)
	}
	if err := referenceProblem(added, acts, []byte(regenerated)); err != nil {
		t.Errorf("a regenerated reference is refused: %v", err)
	}
	if !strings.Contains(regenerated, "| [`zz-new-option`](#option-zz-new-option) | string | empty |") ||
		!strings.Contains(regenerated, "### option `zz-new-option`\n\nType string, default empty.\n\nA new option.\n") {
		t.Errorf("the new option is not documented as expected:\n%s", regenerated)
	}
}
