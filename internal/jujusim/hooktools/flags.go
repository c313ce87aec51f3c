package hooktools

import (
	"strings"
)

// flagSpec declares one flag and its aliases (without dashes). Juju's
// gnuflag accepts -x and --x alike, "=value" or a separate value, and flags
// interspersed with positional arguments.
type flagSpec struct {
	names   []string
	boolean bool
}

type parsed struct {
	values map[string]string // canonical (first) name -> value
	set    map[string]bool
	args   []string
}

func (p parsed) str(name, def string) string {
	if v, ok := p.values[name]; ok {
		return v
	}
	return def
}

func (p parsed) has(name string) bool { return p.set[name] }

// formatFlags are the output flags of every getter (cmd.Output.AddFlags).
var formatFlags = []flagSpec{{names: []string{"format"}}, {names: []string{"o", "output"}}}

func withFormat(specs ...flagSpec) []flagSpec {
	return append(append([]flagSpec{}, formatFlags...), specs...)
}

func parseArgs(args []string, specs []flagSpec) (parsed, error) {
	p := parsed{values: map[string]string{}, set: map[string]bool{}}
	lookup := map[string]flagSpec{}
	for _, s := range specs {
		for _, n := range s.names {
			lookup[n] = s
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			p.args = append(p.args, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			p.args = append(p.args, a)
			continue
		}
		dashes := "-"
		name := a[1:]
		if strings.HasPrefix(name, "-") {
			dashes, name = "--", name[1:]
		}
		name, value, hasValue := strings.Cut(name, "=")
		spec, ok := lookup[name]
		if !ok {
			return p, usagef("flag provided but not defined: %s%s", dashes, name)
		}
		canon := spec.names[0]
		switch {
		case spec.boolean && hasValue:
			if value != "true" && value != "false" {
				return p, usagef("invalid value %q for flag %s%s: parse error", value, dashes, name)
			}
			if value == "true" {
				p.set[canon] = true
			}
		case spec.boolean:
			p.set[canon] = true
		case hasValue:
			p.values[canon], p.set[canon] = value, true
		default:
			if i+1 >= len(args) {
				return p, usagef("flag needs an argument: %s%s", dashes, name)
			}
			i++
			p.values[canon], p.set[canon] = args[i], true
		}
	}
	if f, ok := p.values["format"]; ok && f != "smart" && f != "json" && f != "yaml" {
		return p, usagef("invalid value %q for flag --format: unknown format %q", f, f)
	}
	return p, nil
}
