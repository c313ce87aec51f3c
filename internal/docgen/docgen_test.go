package docgen

import (
	"strings"
	"testing"
)

const testConfig = `options:
  zeta:
    type: string
    default: ""
    description: |
      Last in the alphabet, first in the file.
        a - an indented
            list kept as written
      Back to prose.
  alpha:
    type: int
    default: 8080
    description: A port.
  pipe:
    type: string
    default: "a|b"
    description: Has a pipe.
  nodefault:
    type: boolean
    description: No default at all.
`

const testActions = `do-it:
  description: Does it.
  params:
    how:
      type: string
      enum: [fast, slow]
      default: fast
      description: |
        How to
        do it.
    who:
      type: string
      description: Who does it.
  required: [who]
quiet:
  description: Nothing to set.
`

func TestGenerateKeepsOrderAndShowsDefaults(t *testing.T) {
	doc, err := Generate([]byte(testConfig), []byte(testActions))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| [`zeta`](#option-zeta) | string | empty |\n| [`alpha`](#option-alpha) | int | `8080` |\n",
		"| [`pipe`](#option-pipe) | string | `a\\|b` |",
		"| [`nodefault`](#option-nodefault) | boolean | none |",
		"### option `zeta`\n\nType string, default empty.\n\nLast in the alphabet, first in the file.\n\n```text\na - an indented\n    list kept as written\n```\n\nBack to prose.\n",
		"| `how` | string: fast, slow | `fast` | How to do it. |",
		"| `who` | string | required | Who does it. |",
		"### action `quiet`\n\nNothing to set.\n\nNo parameters.\n",
		"| [`do-it`](#action-do-it) | `how`, `who` |",
		"`make reference`",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("reference lacks %q:\n%s", want, doc)
		}
	}
	if strings.Index(doc, "### option `zeta`") > strings.Index(doc, "### option `alpha`") {
		t.Error("options are not in file order")
	}
}

func TestGenerateRefusesUndocumented(t *testing.T) {
	cfg := testConfig + "  bare:\n    type: string\n    default: x\n"
	acts := testActions + "silent:\n  params:\n    p:\n      type: string\n"
	_, err := Generate([]byte(cfg), []byte(acts))
	if err == nil {
		t.Fatal("an option without a description is accepted")
	}
	for _, want := range []string{`option "bare" has no description`, `action "silent" has no description`,
		`parameter "p" of action "silent" has no description`, "run `make reference`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	if _, err := Parse([]byte("- a list\n"), []byte(testActions)); err == nil {
		t.Error("config.yaml that is not a mapping is accepted")
	}
	if _, err := Parse([]byte("other: {}\n"), []byte(testActions)); err == nil {
		t.Error("config.yaml without options is accepted")
	}
	if _, err := Parse([]byte(testConfig), []byte("a: [\n")); err == nil {
		t.Error("broken actions.yaml is accepted")
	}
}
