package juju

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// SecretAddOptions are the optional settings of a new secret.
type SecretAddOptions struct {
	Label       string
	Description string
	Owner       string // "application" (Juju's default, leader-managed) or "unit"
}

// SecretSetOptions are the optional settings of a secret update.
type SecretSetOptions struct {
	Label       string
	Description string
}

// SecretGetOptions picks a secret and the revision to read.
type SecretGetOptions struct {
	ID      string // secret URI; ID or Label (or both) is required
	Label   string
	Refresh bool // read the latest revision and keep tracking it
	Peek    bool // read the latest revision this once
}

// secretKey is the key rule of core/secrets (keyRegExp): lowercase, at least
// three characters, single hyphens between alphanumerics.
var secretKey = regexp.MustCompile(`^([a-z](?:-?[a-z0-9]){2,})$`)

func validateSecretContent(tool string, content map[string]string) error {
	if len(content) == 0 {
		return fmt.Errorf("%s: secret content is empty", tool)
	}
	for k := range content {
		if !secretKey.MatchString(k) {
			return fmt.Errorf("%s: secret key %q: want at least 3 lowercase letters, digits or single hyphens, starting with a letter", tool, k)
		}
	}
	return nil
}

// SecretAdd creates a secret and returns its URI.
//
//	secret-add [--label <l>] [--description <d>] [--owner <o>] --file <path>
//
// The content never reaches argv: it is written as JSON to a 0600 file in a
// fresh 0700 directory, read by the tool (core/secrets ReadSecretData reads
// JSON or YAML by path, in the unit agent on this same machine), and removed
// before SecretAdd returns. secret-add cannot read stdin (its --file is a
// path, not a cmd.FileVar), hence the file.
func (c *Client) SecretAdd(ctx context.Context, content map[string]string, opts SecretAddOptions) (string, error) {
	if err := validateSecretContent("secret-add", content); err != nil {
		return "", err
	}
	switch opts.Owner {
	case "", "application", "unit":
	default:
		return "", fmt.Errorf("secret-add: owner %q: want application or unit", opts.Owner)
	}
	var args []string
	args = appendFlag(args, "--label", opts.Label)
	args = appendFlag(args, "--description", opts.Description)
	args = appendFlag(args, "--owner", opts.Owner)
	var id string
	err := withSecretFile(content, func(path string) error {
		out, err := c.r.Run(ctx, nil, "secret-add", append(args, "--file", path)...)
		id = strings.TrimSpace(string(out))
		return err
	})
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", errors.New("secret-add printed no secret id")
	}
	return id, nil
}

// SecretSet writes a new revision of secret id (content in a 0600 file, as
// for SecretAdd) and optionally updates its label and description.
//
//	secret-set [--label <l>] [--description <d>] --file <path> <id>
func (c *Client) SecretSet(ctx context.Context, id string, content map[string]string, opts SecretSetOptions) error {
	if err := requireNonEmpty("secret-set: secret id", id); err != nil {
		return err
	}
	if err := validateSecretContent("secret-set", content); err != nil {
		return err
	}
	var args []string
	args = appendFlag(args, "--label", opts.Label)
	args = appendFlag(args, "--description", opts.Description)
	return withSecretFile(content, func(path string) error {
		return c.run(ctx, nil, "secret-set", append(args, "--file", path, id)...)
	})
}

// SecretGet reads a secret's content.
//
//	secret-get --format=json [--label <l>] [--refresh|--peek] [<id>]
func (c *Client) SecretGet(ctx context.Context, opts SecretGetOptions) (map[string]string, error) {
	if opts.ID == "" && opts.Label == "" {
		return nil, errors.New("secret-get: need a secret id or label")
	}
	if opts.Refresh && opts.Peek {
		return nil, errors.New("secret-get: refresh and peek exclude each other")
	}
	args := []string{"--format=json"}
	args = appendFlag(args, "--label", opts.Label)
	if opts.Refresh {
		args = append(args, "--refresh")
	}
	if opts.Peek {
		args = append(args, "--peek")
	}
	if opts.ID != "" {
		args = append(args, opts.ID)
	}
	content := map[string]string{}
	if err := c.runJSON(ctx, &content, "secret-get", args...); err != nil {
		return nil, err
	}
	if content == nil {
		content = map[string]string{}
	}
	return content, nil
}

// SecretGrant lets the application at the other end of relID (or only unit,
// when given) read secret id, for as long as the relation lives.
//
//	secret-grant -r <relation id> [--unit <unit>] <id>
func (c *Client) SecretGrant(ctx context.Context, id, relID, unit string) error {
	if err := requireNonEmpty("secret-grant: secret id", id); err != nil {
		return err
	}
	if err := requireNonEmpty("secret-grant: relation id", relID); err != nil {
		return err
	}
	args := []string{"-r", relID}
	args = appendFlag(args, "--unit", unit)
	return c.run(ctx, nil, "secret-grant", append(args, id)...)
}

// SecretIDs lists the URIs of the secrets this application (or unit) owns,
// sorted. Juju 3.x prints a list; early 3.0 printed a map of id to label, so
// both are accepted.
//
//	secret-ids --format=json
func (c *Client) SecretIDs(ctx context.Context) ([]string, error) {
	var raw json.RawMessage
	if err := c.runJSON(ctx, &raw, "secret-ids", "--format=json"); err != nil {
		return nil, err
	}
	ids, err := decodeIDList(raw)
	if err != nil {
		return nil, fmt.Errorf("parse secret-ids output: %w", err)
	}
	sort.Strings(ids)
	return ids, nil
}

func decodeIDList(raw json.RawMessage) ([]string, error) {
	text := strings.TrimSpace(string(raw))
	switch {
	case text == "" || text == "null":
		return nil, nil
	case strings.HasPrefix(text, "{"):
		var byID map[string]string
		if err := json.Unmarshal(raw, &byID); err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(byID))
		for id := range byID {
			ids = append(ids, id)
		}
		return ids, nil
	}
	var ids []string
	err := json.Unmarshal(raw, &ids)
	return ids, err
}

// SecretRemove removes every revision of secret id.
//
//	secret-remove <id>
func (c *Client) SecretRemove(ctx context.Context, id string) error {
	if err := requireNonEmpty("secret-remove: secret id", id); err != nil {
		return err
	}
	return c.run(ctx, nil, "secret-remove", id)
}

func appendFlag(args []string, flag, value string) []string {
	if value == "" {
		return args
	}
	return append(args, flag, value)
}

// withSecretFile writes content as JSON to a private temporary file, hands
// its path to use, and removes it whatever use returns.
func withSecretFile(content map[string]string, use func(path string) error) error {
	body, err := json.Marshal(content)
	if err != nil {
		return fmt.Errorf("encode secret content: %w", err)
	}
	dir, err := os.MkdirTemp("", "juju-secret-") // mode 0700
	if err != nil {
		return fmt.Errorf("secret content file: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "content.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		return fmt.Errorf("secret content file: %w", err)
	}
	return use(path)
}
