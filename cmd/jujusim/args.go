package main

import (
	"fmt"
	"strconv"
	"strings"
)

// opts is a parsed command line: juju-style flags may come before, between
// or after the positional arguments, as -x v, -x=v, --name v or --name=v.
type opts struct {
	vals  map[string][]string
	bools map[string]bool
	args  []string
}

// flagKinds maps each flag name (and alias) to "bool" or "string"; aliases
// are given as "n|num-units".
func parseOpts(argv []string, kinds map[string]string) (opts, error) {
	o := opts{vals: map[string][]string{}, bools: map[string]bool{}}
	canon := map[string]string{}
	kind := map[string]string{}
	for names, k := range kinds {
		parts := strings.Split(names, "|")
		for _, n := range parts {
			canon[n] = parts[len(parts)-1]
			kind[n] = k
		}
	}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			o.args = append(o.args, argv[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			o.args = append(o.args, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		c, ok := canon[name]
		if !ok {
			return o, fmt.Errorf("option provided but not defined: %s", a)
		}
		if kind[name] == "bool" {
			o.bools[c] = !hasVal || val == "true"
			continue
		}
		if !hasVal {
			if i+1 >= len(argv) {
				return o, fmt.Errorf("option needs an argument: %s", a)
			}
			i++
			val = argv[i]
		}
		o.vals[c] = append(o.vals[c], val)
	}
	return o, nil
}

func (o opts) str(name, def string) string {
	if v := o.vals[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

func (o opts) integer(name string, def int) (int, error) {
	s := o.str(name, "")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid value %q for --%s", s, name)
	}
	return n, nil
}

// keyValues splits k=v arguments; order is kept for error messages.
func keyValues(list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("expected \"key=value\", got %q", kv)
		}
		out[k] = v
	}
	return out, nil
}
