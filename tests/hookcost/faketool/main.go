// Command faketool is every Juju hook tool the charm calls, for the hook-cost benchmark: installed
// under each tool's name (symlinks), it appends its command line to $HOOKCOST_LOG (one JSON array
// a line) and answers from the model in $HOOKCOST_MODEL, writing relation-set, status-set,
// secret-add and port changes back into it. It does the least a tool can, so that what the
// benchmark compares is the charm's work and its number of calls, not the tools'.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Model is the little of a Juju model a unit sees through its hook tools. The benchmark writes
// the same type (tests/hookcost/model_test.go mirrors it).
type Model struct {
	Unit      string                                  `json:"unit"`
	Leader    bool                                    `json:"leader"`
	Config    map[string]any                          `json:"config"`
	Relations map[string][]string                     `json:"relations"` // endpoint -> relation ids
	Remote    map[string]string                       `json:"remote"`    // relation id -> remote application
	Members   map[string][]string                     `json:"members"`   // relation id -> remote units
	Bags      map[string]map[string]map[string]string `json:"bags"`      // relation id -> unit or app -> data
	Storage   map[string]string                       `json:"storage"`   // storage id -> location
	Address   string                                  `json:"address"`
	Secrets   map[string]map[string]string            `json:"secrets"`
	Status    map[string]string                       `json:"status"` // "unit", "application" -> "state\x00message"
	Ports     []string                                `json:"ports"`
}

func main() {
	tool := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if err := record(append([]string{tool}, args...)); err != nil {
		fail(err)
	}
	path := os.Getenv("HOOKCOST_MODEL")
	data, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var m Model
	if err := json.Unmarshal(data, &m); err != nil {
		fail(err)
	}
	out, changed, err := answer(&m, tool, args)
	if err != nil {
		fail(err)
	}
	if changed {
		if err := save(path, &m); err != nil {
			fail(err)
		}
	}
	if out != nil {
		if s, ok := out.(rawText); ok {
			fmt.Print(string(s))
			return
		}
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			fail(err)
		}
	}
}

// rawText is printed as it is, not as JSON.
type rawText string

func answer(m *Model, tool string, args []string) (out any, changed bool, err error) {
	last := ""
	if len(args) > 0 {
		last = args[len(args)-1]
	}
	switch tool {
	case "config-get":
		return m.Config, false, nil
	case "is-leader":
		return m.Leader, false, nil
	case "relation-ids":
		return orEmpty(m.Relations[last]), false, nil
	case "relation-list":
		id := flag(args, "-r")
		if slices.Contains(args, "--app") {
			return m.Remote[id], false, nil
		}
		return orEmpty(m.Members[id]), false, nil
	case "relation-get":
		bag := m.Bags[flag(args, "-r")][last]
		if bag == nil {
			bag = map[string]string{}
		}
		return bag, false, nil
	case "relation-set":
		return nil, true, relationSet(m, flag(args, "-r"), slices.Contains(args, "--app"))
	case "storage-list":
		ids := []string{}
		for id := range m.Storage {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return ids, false, nil
	case "storage-get":
		return map[string]string{"kind": "filesystem", "location": m.Storage[flag(args, "-s")]}, false, nil
	case "network-get":
		return map[string]any{"ingress-addresses": []string{m.Address},
			"bind-addresses": []any{map[string]any{"interface-name": "eth0", "addresses": []any{map[string]string{"value": m.Address, "cidr": m.Address + "/24"}}}}}, false, nil
	case "status-get":
		state, msg, _ := strings.Cut(m.Status[statusKey(args)], "\x00")
		if state == "" {
			state = "unknown"
		}
		return map[string]any{"status": state, "message": msg, "status-data": map[string]any{}}, false, nil
	case "status-set":
		i := slices.Index(args, "--")
		if i < 1 {
			return nil, false, fmt.Errorf("status-set %v: want <state> -- <message>", args)
		}
		if m.Status == nil {
			m.Status = map[string]string{}
		}
		m.Status[statusKey(args)] = args[i-1] + "\x00" + strings.Join(args[i+1:], " ")
		return nil, true, nil
	case "opened-ports":
		return orEmpty(m.Ports), false, nil
	case "open-port":
		m.Ports = append(m.Ports, last)
		return nil, true, nil
	case "close-port":
		m.Ports = slices.DeleteFunc(m.Ports, func(p string) bool { return p == last })
		return nil, true, nil
	case "secret-add":
		return secretAdd(m, flag(args, "--file"))
	case "secret-get":
		for _, a := range args {
			if content, ok := m.Secrets[a]; ok {
				return content, false, nil
			}
		}
		return nil, false, fmt.Errorf("secret %v not found", args)
	case "resource-get":
		return nil, false, fmt.Errorf("could not download resource: resource#%s not found", last)
	}
	return nil, false, nil // juju-log, application-version-set, ...: nothing to answer
}

func relationSet(m *Model, id string, app bool) error {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	var kv map[string]string
	if err := json.Unmarshal(data, &kv); err != nil {
		return fmt.Errorf("relation-set data: %w", err)
	}
	owner := m.Unit
	if app {
		owner, _, _ = strings.Cut(m.Unit, "/")
	}
	if m.Bags == nil {
		m.Bags = map[string]map[string]map[string]string{}
	}
	if m.Bags[id] == nil {
		m.Bags[id] = map[string]map[string]string{}
	}
	bag := m.Bags[id][owner]
	if bag == nil {
		bag = map[string]string{}
		m.Bags[id][owner] = bag
	}
	for k, v := range kv {
		if v == "" {
			delete(bag, k)
		} else {
			bag[k] = v
		}
	}
	return nil
}

func secretAdd(m *Model, file string) (any, bool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, false, err
	}
	var content map[string]string
	if err := json.Unmarshal(data, &content); err != nil {
		return nil, false, fmt.Errorf("secret content: %w", err)
	}
	if m.Secrets == nil {
		m.Secrets = map[string]map[string]string{}
	}
	id := fmt.Sprintf("secret:hookcost%d", len(m.Secrets))
	m.Secrets[id] = content
	return rawText(id), true, nil
}

func statusKey(args []string) string {
	if slices.Contains(args, "--application") {
		return "application"
	}
	return "unit"
}

// flag is the value after name in args ("" when absent).
func flag(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// record appends argv to the call log: O_APPEND writes of one line are not interleaved.
func record(argv []string) error {
	line, err := json.Marshal(argv)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(os.Getenv("HOOKCOST_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// save replaces the model file whole, so a reader never sees half of it.
func save(path string, m *Model) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "ERROR %v\n", err)
	os.Exit(1)
}
