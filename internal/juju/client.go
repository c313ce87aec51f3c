package juju

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Client calls Juju's hook tools. It holds no state besides its Runner, so
// one Client may serve concurrent callers if the Runner does.
type Client struct {
	r Runner
}

// NewClient returns a Client that runs every hook tool through r.
func NewClient(r Runner) *Client {
	return &Client{r: r}
}

// run calls a tool that prints nothing useful.
func (c *Client) run(ctx context.Context, stdin []byte, name string, args ...string) error {
	_, err := c.r.Run(ctx, stdin, name, args...)
	return err
}

// runJSON calls a tool that was asked for --format=json and decodes its
// output into out. Empty output and "null" leave out untouched.
func (c *Client) runJSON(ctx context.Context, out any, name string, args ...string) error {
	stdout, err := c.r.Run(ctx, nil, name, args...)
	if err != nil {
		return err
	}
	if err := decodeJSON(stdout, out); err != nil {
		return fmt.Errorf("parse %s output: %w", name, err)
	}
	return nil
}

func decodeJSON(data []byte, out any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers stay exact until normaliseNumbers decides int or float.
	dec.UseNumber()
	return dec.Decode(out)
}

// runString calls a tool whose --format=json output is one JSON string.
func (c *Client) runString(ctx context.Context, name string, args ...string) (string, error) {
	var s string
	if err := c.runJSON(ctx, &s, name, args...); err != nil {
		return "", err
	}
	return s, nil
}

// normaliseNumbers turns the json.Number values decodeJSON produces into
// int64 when they are whole numbers and float64 otherwise, recursively, so
// callers see ordinary Go types (an int option of 8080 is int64(8080)).
func normaliseNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	case map[string]any:
		for k, item := range t {
			t[k] = normaliseNumbers(item)
		}
		return t
	case []any:
		for i, item := range t {
			t[i] = normaliseNumbers(item)
		}
		return t
	}
	return v
}

// sortedKeyValues renders a map as "k=v" arguments in key order, so the same
// data always produces the same command line.
func sortedKeyValues(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}

func requireNonEmpty(what, value string) error {
	if strings.TrimSpace(value) == "" {
		return fmt.Errorf("%s must not be empty", what)
	}
	return nil
}
