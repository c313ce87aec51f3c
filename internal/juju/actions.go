package juju

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ActionGet returns the parameters of the running action (with defaults
// from actions.yaml filled in by Juju). Numbers are int64 or float64.
//
//	action-get --format=json
func (c *Client) ActionGet(ctx context.Context) (map[string]any, error) {
	params := map[string]any{}
	if err := c.runJSON(ctx, &params, "action-get", "--format=json"); err != nil {
		return nil, err
	}
	if params == nil {
		params = map[string]any{}
	}
	normaliseNumbers(params)
	return params, nil
}

// actionKeyPart is one dot-separated part of an action-set key
// (action-set.go: keyRule).
var actionKeyPart = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

// reservedActionKeys are set by Juju itself (action-set.go: reservedKeys).
var reservedActionKeys = []string{"stdout", "stdout-encoding", "stderr", "stderr-encoding"}

// ValidateActionKey applies action-set's key rules: dot-separated parts, each
// lowercase alphanumeric and hyphens, starting and ending alphanumeric, and
// none of Juju's reserved keys.
func ValidateActionKey(key string) error {
	for _, part := range strings.Split(key, ".") {
		if !actionKeyPart.MatchString(part) {
			return fmt.Errorf("action result key %q: each dot-separated part must be lowercase alphanumeric or hyphens, starting and ending alphanumeric", key)
		}
		if slices.Contains(reservedActionKeys, part) {
			return fmt.Errorf("action result key %q: %q is reserved by Juju", key, part)
		}
	}
	return nil
}

// ActionSet adds results to the running action; dots in a key nest it
// ("admin.password" -> admin: {password: ...}). Every key is checked before
// anything is sent.
//
//	action-set <k1>=<v1> <k2>=<v2> ...     (keys sorted)
//
// action-set reads results from argv only (it has no --file), so values are
// briefly visible in the process table; that is a limit of the tool.
func (c *Client) ActionSet(ctx context.Context, results map[string]string) error {
	if len(results) == 0 {
		return nil
	}
	for k := range results {
		if err := ValidateActionKey(k); err != nil {
			return fmt.Errorf("action-set: %w", err)
		}
	}
	return c.run(ctx, nil, "action-set", sortedKeyValues(results)...)
}

// ActionFail marks the running action failed with msg; the hook should
// still exit 0.
//
//	action-fail -- <message>
func (c *Client) ActionFail(ctx context.Context, msg string) error {
	return c.run(ctx, nil, "action-fail", "--", msg)
}

// ActionLog reports progress of the running action to the operator.
//
//	action-log -- <message>
func (c *Client) ActionLog(ctx context.Context, msg string) error {
	return c.run(ctx, nil, "action-log", "--", msg)
}
