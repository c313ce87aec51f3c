package juju

import (
	"context"
	"encoding/json"
	"fmt"
)

// RelationIDs lists the ids ("<endpoint>:<n>") of the live relations on
// endpoint, sorted (relation-ids.go sorts them).
//
//	relation-ids --format=json <endpoint>
func (c *Client) RelationIDs(ctx context.Context, endpoint string) ([]string, error) {
	if err := requireNonEmpty("relation-ids: endpoint", endpoint); err != nil {
		return nil, err
	}
	var ids []string
	if err := c.runJSON(ctx, &ids, "relation-ids", "--format=json", endpoint); err != nil {
		return nil, err
	}
	return ids, nil
}

// RelationList lists the remote units in relation relID that this unit has
// seen join (for a peer relation: the other units of this application).
//
//	relation-list -r <id> --format=json
func (c *Client) RelationList(ctx context.Context, relID string) ([]string, error) {
	if err := requireNonEmpty("relation-list: relation id", relID); err != nil {
		return nil, err
	}
	var units []string
	if err := c.runJSON(ctx, &units, "relation-list", "-r", relID, "--format=json"); err != nil {
		return nil, err
	}
	return units, nil
}

// RelationListApp names the application on the other side of relID.
//
//	relation-list -r <id> --app --format=json
func (c *Client) RelationListApp(ctx context.Context, relID string) (string, error) {
	if err := requireNonEmpty("relation-list: relation id", relID); err != nil {
		return "", err
	}
	return c.runString(ctx, "relation-list", "-r", relID, "--app", "--format=json")
}

// RelationGet reads the whole data bag of member (a unit name, or with app
// an application name) in relation relID. An empty bag is an empty map.
//
//	relation-get -r <id> --format=json [--app] - <member>
//
// "-" is the key argument meaning "all keys"; jujuc takes the key first and
// the unit or application second (relation-get.go: Init).
func (c *Client) RelationGet(ctx context.Context, relID, member string, app bool) (map[string]string, error) {
	if err := requireNonEmpty("relation-get: relation id", relID); err != nil {
		return nil, err
	}
	if err := requireNonEmpty("relation-get: unit or application", member); err != nil {
		return nil, err
	}
	args := []string{"-r", relID, "--format=json"}
	if app {
		args = append(args, "--app")
	}
	args = append(args, "-", member)
	data := map[string]string{}
	if err := c.runJSON(ctx, &data, "relation-get", args...); err != nil {
		return nil, err
	}
	if data == nil {
		data = map[string]string{}
	}
	return data, nil
}

// RelationSet merges data into this unit's bag (or with app, this
// application's bag, which only the leader may write) in relation relID. A
// key set to "" is deleted, as relation-set does. Nothing is written until
// the hook exits 0.
//
//	relation-set -r <id> [--app] --file -     (data on stdin)
//
// The data goes on stdin so no value is limited by, or visible in, argv.
// jujuc reads the file as YAML into map[string]string (relation-set.go:
// readSettings); we send JSON, the subset of YAML that every YAML parser
// reads the same way, so no value is ever re-typed or re-quoted.
func (c *Client) RelationSet(ctx context.Context, relID string, app bool, data map[string]string) error {
	if err := requireNonEmpty("relation-set: relation id", relID); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	for k := range data {
		if k == "" {
			return fmt.Errorf("relation-set: empty key")
		}
	}
	body, err := json.Marshal(data) // map keys come out sorted
	if err != nil {
		return fmt.Errorf("relation-set: encode data: %w", err)
	}
	args := []string{"-r", relID}
	if app {
		args = append(args, "--app")
	}
	args = append(args, "--file", "-")
	return c.run(ctx, body, "relation-set", args...)
}
