// Package docgen writes docs/reference.md, the reference of every config option and action, from
// the charm's config.yaml and actions.yaml: `make reference` (go run ./cmd/docgen) runs it, and a
// test in ./tests fails when the committed file differs from what it would write, or when an
// option, action or action parameter has no description.
//
// The YAML files are read as nodes, so the reference keeps their order (options grouped as their
// authors wrote them) and shows defaults exactly as written.
package docgen

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Command is what regenerates the reference; every message that asks for a regeneration names it.
const Command = "make reference"

// Option is one config option as config.yaml declares it.
type Option struct {
	Name        string
	Type        string
	Default     *string // nil: no default
	Description string
}

// Param is one action parameter.
type Param struct {
	Name        string
	Type        string
	Default     *string
	Enum        []string
	Description string
	Required    bool
}

// Action is one action as actions.yaml declares it.
type Action struct {
	Name        string
	Description string
	Params      []Param
}

// Reference is what the document is made from.
type Reference struct {
	Options []Option
	Actions []Action
}

// configTypes are the option types Juju accepts.
var configTypes = map[string]bool{"string": true, "int": true, "float": true, "boolean": true, "secret": true}

// Parse reads config.yaml and actions.yaml.
func Parse(configYAML, actionsYAML []byte) (Reference, error) {
	var ref Reference
	opts, err := mapping(configYAML, "config.yaml")
	if err != nil {
		return ref, err
	}
	options := lookup(opts, "options")
	if options == nil || options.Kind != yaml.MappingNode {
		return ref, errors.New("config.yaml: no options mapping")
	}
	for i := 0; i+1 < len(options.Content); i += 2 {
		name, body := options.Content[i].Value, options.Content[i+1]
		ref.Options = append(ref.Options, Option{
			Name: name, Type: scalar(lookup(body, "type")), Default: defaultOf(lookup(body, "default")),
			Description: strings.TrimSpace(scalar(lookup(body, "description"))),
		})
	}
	acts, err := mapping(actionsYAML, "actions.yaml")
	if err != nil {
		return ref, err
	}
	for i := 0; i+1 < len(acts.Content); i += 2 {
		name, body := acts.Content[i].Value, acts.Content[i+1]
		a := Action{Name: name, Description: strings.TrimSpace(scalar(lookup(body, "description")))}
		required := map[string]bool{}
		if req := lookup(body, "required"); req != nil {
			for _, r := range req.Content {
				required[r.Value] = true
			}
		}
		if params := lookup(body, "params"); params != nil {
			for j := 0; j+1 < len(params.Content); j += 2 {
				pname, pbody := params.Content[j].Value, params.Content[j+1]
				p := Param{Name: pname, Type: scalar(lookup(pbody, "type")), Default: defaultOf(lookup(pbody, "default")),
					Description: strings.TrimSpace(scalar(lookup(pbody, "description"))), Required: required[pname]}
				if enum := lookup(pbody, "enum"); enum != nil {
					for _, e := range enum.Content {
						p.Enum = append(p.Enum, e.Value)
					}
				}
				a.Params = append(a.Params, p)
			}
		}
		ref.Actions = append(ref.Actions, a)
	}
	return ref, nil
}

// Problems lists what the reference cannot document: an option, action or parameter without a
// description, an option without a type Juju knows. Empty when there is nothing to fix.
func (r Reference) Problems() []string {
	var out []string
	for _, o := range r.Options {
		if o.Description == "" {
			out = append(out, fmt.Sprintf("config.yaml: option %q has no description", o.Name))
		}
		if !configTypes[o.Type] {
			out = append(out, fmt.Sprintf("config.yaml: option %q has type %q; Juju accepts string, int, float, boolean, secret", o.Name, o.Type))
		}
	}
	for _, a := range r.Actions {
		if a.Description == "" {
			out = append(out, fmt.Sprintf("actions.yaml: action %q has no description", a.Name))
		}
		for _, p := range a.Params {
			if p.Description == "" {
				out = append(out, fmt.Sprintf("actions.yaml: parameter %q of action %q has no description", p.Name, a.Name))
			}
		}
	}
	return out
}

// Generate returns docs/reference.md for the two files, or the problems that keep it from being
// complete.
func Generate(configYAML, actionsYAML []byte) (string, error) {
	ref, err := Parse(configYAML, actionsYAML)
	if err != nil {
		return "", err
	}
	if p := ref.Problems(); len(p) > 0 {
		return "", fmt.Errorf("%s; describe it, then run `%s`", strings.Join(p, "; "), Command)
	}
	return ref.Markdown(), nil
}

// Markdown renders the reference.
func (r Reference) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Reference: configuration options and actions\n\n")
	w("<!-- Generated from config.yaml and actions.yaml by `%s` (go run ./cmd/docgen). Do not edit:\n", Command)
	w("     change the YAML files and run it again; a test in ./tests fails while this file is stale. -->\n\n")
	w("Every option and action the charm declares, with the text Juju shows (`juju config`, `juju actions`).\n")
	w("What each option checks and what a change restarts: [configuration.md](configuration.md); actions in\n")
	w("practice: [actions.md](actions.md).\n\n")

	w("## Configuration options\n\n")
	w("| option | type | default |\n|---|---|---|\n")
	for _, o := range r.Options {
		w("| [`%s`](#option-%s) | %s | %s |\n", o.Name, o.Name, o.Type, showDefault(o.Default))
	}
	for _, o := range r.Options {
		w("\n### option `%s`\n\n", o.Name)
		w("Type %s, default %s.\n\n", o.Type, showDefault(o.Default))
		w("%s\n", prose(o.Description))
	}

	w("\n## Actions\n\n")
	w("| action | parameters |\n|---|---|\n")
	for _, a := range r.Actions {
		var ps []string
		for _, p := range a.Params {
			ps = append(ps, "`"+p.Name+"`")
		}
		params := "none"
		if len(ps) > 0 {
			params = strings.Join(ps, ", ")
		}
		w("| [`%s`](#action-%s) | %s |\n", a.Name, a.Name, params)
	}
	for _, a := range r.Actions {
		w("\n### action `%s`\n\n", a.Name)
		w("%s\n", prose(a.Description))
		if len(a.Params) == 0 {
			w("\nNo parameters.\n")
			continue
		}
		w("\n| parameter | type | default | description |\n|---|---|---|---|\n")
		for _, p := range a.Params {
			typ := p.Type
			if len(p.Enum) > 0 {
				typ += ": " + strings.Join(p.Enum, ", ")
			}
			def := showDefault(p.Default)
			if p.Required {
				def = "required"
			}
			w("| `%s` | %s | %s | %s |\n", p.Name, cell(typ), def, cell(strings.Join(strings.Fields(p.Description), " ")))
		}
	}
	return b.String()
}

// prose renders a description: its lines as written, and runs of indented lines (aligned lists,
// examples) as a preformatted block, dedented by their common indentation, which Markdown would
// otherwise fold into the paragraph.
func prose(desc string) string {
	var b strings.Builder
	lines := strings.Split(desc, "\n")
	indented := func(l string) bool { return strings.HasPrefix(l, " ") && strings.TrimSpace(l) != "" }
	for i := 0; i < len(lines); {
		if !indented(lines[i]) {
			b.WriteString(strings.TrimSpace(lines[i]) + "\n")
			i++
			continue
		}
		j, cut := i, len(lines[i])
		for ; j < len(lines) && indented(lines[j]); j++ {
			cut = min(cut, len(lines[j])-len(strings.TrimLeft(lines[j], " ")))
		}
		b.WriteString("\n```text\n")
		for _, l := range lines[i:j] {
			b.WriteString(strings.TrimRight(l[cut:], " ") + "\n")
		}
		b.WriteString("```\n\n")
		i = j
	}
	return strings.TrimSpace(b.String())
}

func showDefault(d *string) string {
	switch {
	case d == nil:
		return "none"
	case *d == "":
		return "empty"
	}
	return "`" + strings.ReplaceAll(*d, "|", `\|`) + "`"
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func mapping(data []byte, file string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a mapping", file)
	}
	return doc.Content[0], nil
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func defaultOf(n *yaml.Node) *string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return nil
	}
	v := n.Value
	return &v
}
