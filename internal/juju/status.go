package juju

import (
	"context"
	"fmt"
)

// StatusState is a workload status a charm may set. Juju refuses any other
// (status-set.go: validStatus).
type StatusState string

const (
	Maintenance StatusState = "maintenance"
	Blocked     StatusState = "blocked"
	Waiting     StatusState = "waiting"
	Active      StatusState = "active"
)

// Valid reports whether Juju accepts s in status-set.
func (s StatusState) Valid() bool {
	switch s {
	case Maintenance, Blocked, Waiting, Active:
		return true
	}
	return false
}

// Status is a workload status and its message.
type Status struct {
	State   StatusState
	Message string
}

// StatusSet sets this unit's workload status. It takes effect at once and
// is not rolled back if the hook fails.
//
//	status-set <state> -- <message>
func (c *Client) StatusSet(ctx context.Context, s Status) error {
	return c.statusSet(ctx, false, s)
}

// AppStatusSet sets the application's status; Juju allows it on the leader only.
//
//	status-set --application <state> -- <message>
func (c *Client) AppStatusSet(ctx context.Context, s Status) error {
	return c.statusSet(ctx, true, s)
}

func (c *Client) statusSet(ctx context.Context, app bool, s Status) error {
	if !s.State.Valid() {
		return fmt.Errorf("status-set: invalid status %q: want maintenance, blocked, waiting or active", s.State)
	}
	var args []string
	if app {
		args = append(args, "--application")
	}
	args = append(args, string(s.State), "--", s.Message)
	return c.run(ctx, nil, "status-set", args...)
}

// StatusGet reads this unit's workload status. State may be a status a
// charm cannot set itself, such as "unknown" or "error".
//
//	status-get --include-data --format=json
func (c *Client) StatusGet(ctx context.Context) (Status, error) {
	var out struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if err := c.runJSON(ctx, &out, "status-get", "--include-data", "--format=json"); err != nil {
		return Status{}, err
	}
	return Status{State: StatusState(out.Status), Message: out.Message}, nil
}

// IsLeader reports whether this unit is the application leader; Juju
// guarantees the answer for 30 seconds.
//
//	is-leader --format=json
func (c *Client) IsLeader(ctx context.Context) (bool, error) {
	var leader bool
	if err := c.runJSON(ctx, &leader, "is-leader", "--format=json"); err != nil {
		return false, err
	}
	return leader, nil
}

// ApplicationVersionSet sets the workload version shown by juju status.
//
//	application-version-set -- <version>
func (c *Client) ApplicationVersionSet(ctx context.Context, version string) error {
	return c.run(ctx, nil, "application-version-set", "--", version)
}

// Level is a juju-log level.
type Level string

const (
	LevelDebug   Level = "DEBUG"
	LevelInfo    Level = "INFO"
	LevelWarning Level = "WARNING"
	LevelError   Level = "ERROR"
)

// Log writes msg to the unit's debug-log at level. Never pass secrets.
//
//	juju-log --log-level=<LEVEL> -- <message>
func (c *Client) Log(ctx context.Context, level Level, msg string) error {
	switch level {
	case LevelDebug, LevelInfo, LevelWarning, LevelError:
	default:
		return fmt.Errorf("juju-log: invalid level %q", level)
	}
	return c.run(ctx, nil, "juju-log", "--log-level="+string(level), "--", msg)
}
