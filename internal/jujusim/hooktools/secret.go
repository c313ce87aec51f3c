package hooktools

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/state"
)

func secretTools() map[string]tool {
	str := func(names ...string) flagSpec { return flagSpec{names: names} }
	boolean := func(names ...string) flagSpec { return flagSpec{names: names, boolean: true} }
	return map[string]tool{
		"secret-add":    {flags: []flagSpec{str("label"), str("description"), str("owner"), str("expire"), str("rotate"), str("file")}, run: secretAdd},
		"secret-get":    {flags: withFormat(str("label"), boolean("peek"), boolean("refresh")), run: secretGet},
		"secret-set":    {flags: []flagSpec{str("label"), str("description"), str("owner"), str("expire"), str("rotate"), str("file")}, run: secretSet},
		"secret-grant":  {flags: []flagSpec{relationFlag, str("unit")}, run: func(c *call) error { return secretAccess(c, "grant") }},
		"secret-revoke": {flags: []flagSpec{relationFlag, str("unit"), str("app")}, run: func(c *call) error { return secretAccess(c, "revoke") }},
		"secret-ids":    {flags: withFormat(), run: secretIDs},
		"secret-remove": {flags: []flagSpec{str("revision")}, run: secretRemove},
	}
}

var errPermission = errors.New("permission denied")

var secretKeyRule = regexp.MustCompile(`^[a-z](?:-?[a-z0-9]){2,}$`)

// secretContent parses key=value, key#base64=value and key#file=path.
func secretContent(c *call) (map[string]string, error) {
	out := map[string]string{}
	if path, ok := c.opts.values["file"]; ok {
		kv, err := readSettings(&call{inv: c.inv, opts: parsed{values: map[string]string{"file": path}}})
		if err != nil {
			return nil, err
		}
		for k, v := range kv {
			out[k] = v
		}
	}
	for _, arg := range c.opts.args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			return nil, usagef("expected \"key=value\", got %q", arg)
		}
		key, suffix, _ := strings.Cut(k, "#")
		switch suffix {
		case "base64":
			data, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, usagef("invalid base64 value for key %q", key)
			}
			v = string(data)
		case "file":
			data, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("read secret file for key %q: %w", key, err)
			}
			v = string(data)
		case "":
		default:
			return nil, usagef("key %q not valid", k)
		}
		if !secretKeyRule.MatchString(key) {
			return nil, usagef("key %q not valid", key)
		}
		out[key] = v
	}
	if len(out) == 0 {
		return nil, usagef("missing secret value or filename")
	}
	return out, nil
}

func newSecretID() (string, error) {
	// Juju secret IDs are 20-character xids in base32hex, lower case.
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("secret id: %w", err)
	}
	const alphabet = "0123456789abcdefghijklmnopqrstuv"
	for i, x := range b {
		b[i] = alphabet[x%32]
	}
	return "secret:" + string(b), nil
}

func normaliseSecretID(id string) string {
	if strings.HasPrefix(id, "secret:") {
		return id
	}
	return "secret:" + id
}

// effectiveSecrets returns the model's secrets with this hook's pending
// changes applied, so a hook sees its own writes.
func effectiveSecrets(m *state.Model, hc *state.HookContext) map[string]*state.Secret {
	cp := map[string]*state.Secret{}
	for id, s := range m.Secrets {
		dup := *s
		dup.Revisions = append([]map[string]string{}, s.Revisions...)
		dup.Grants = map[string][]string{}
		for k, v := range s.Grants {
			dup.Grants[k] = append([]string{}, v...)
		}
		cp[id] = &dup
	}
	ApplySecretOps(cp, hc.SecretOps)
	return cp
}

// ApplySecretOps applies buffered secret changes to secrets.
func ApplySecretOps(secrets map[string]*state.Secret, ops []state.SecretOp) {
	for _, op := range ops {
		s := secrets[op.ID]
		switch op.Op {
		case "add":
			secrets[op.ID] = &state.Secret{ID: op.ID, Label: op.Label, Owner: op.Owner, Description: op.Description, Revisions: []map[string]string{op.Content}}
		case "set":
			if s == nil {
				continue
			}
			if op.Content != nil {
				s.Revisions = append(s.Revisions, op.Content)
			}
			if op.Label != "" {
				s.Label = op.Label
			}
			if op.Description != "" {
				s.Description = op.Description
			}
		case "grant", "revoke":
			if s == nil {
				continue
			}
			if s.Grants == nil {
				s.Grants = map[string][]string{}
			}
			key := strconv.Itoa(op.RelationID)
			s.Grants[key] = state.RemoveString(s.Grants[key], op.Target)
			if op.Op == "grant" {
				s.Grants[key] = append(s.Grants[key], op.Target)
			}
		case "remove":
			if s == nil {
				continue
			}
			if op.Revision > 0 && op.Revision <= len(s.Revisions) && len(s.Revisions) > 1 {
				s.Revisions[op.Revision-1] = nil
				continue
			}
			delete(secrets, op.ID)
		}
	}
}

// owns reports whether u may manage s: its own unit secret, or its
// application's secret when it is the leader.
func owns(m *state.Model, u *state.Unit, s *state.Secret) bool {
	return s.Owner == u.Name || s.Owner == u.App && m.Applications[u.App].Leader == u.Name
}

// canRead reports whether u owns s or was granted it. A grant made with -r lives as long as its
// relation: "once the relation is removed, so too is the access grant" (jujuc secret-grant.go
// help; state removes a relation's scoped secret permissions with it).
func canRead(m *state.Model, u *state.Unit, s *state.Secret) bool {
	if s.Owner == u.Name || s.Owner == u.App {
		return true
	}
	for rel, targets := range s.Grants {
		if id, err := strconv.Atoi(rel); err == nil && id >= 0 && m.Relations[id] == nil {
			continue
		}
		if state.HasString(targets, u.App) || state.HasString(targets, u.Name) {
			return true
		}
	}
	return false
}

func secretAdd(c *call) error {
	content, err := secretContent(c)
	if err != nil {
		return err
	}
	owner := c.opts.str("owner", "application")
	if owner != "application" && owner != "unit" {
		return usagef("secret owner %q not valid", owner)
	}
	id, err := newSecretID()
	if err != nil {
		return err
	}
	err = c.update(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		ownerName := u.App
		if owner == "unit" {
			ownerName = u.Name
		} else if m.Applications[u.App].Leader != u.Name {
			return errors.New("this unit is not the leader")
		}
		hc.SecretOps = append(hc.SecretOps, state.SecretOp{Op: "add", ID: id, Label: c.opts.str("label", ""), Owner: ownerName, Description: c.opts.str("description", ""), Content: content})
		return nil
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.inv.Stdout, id)
	return err
}

// findSecret resolves an ID argument or --label among the effective secrets.
func findSecret(c *call, secrets map[string]*state.Secret, u *state.Unit) (*state.Secret, error) {
	if len(c.opts.args) > 0 {
		id := normaliseSecretID(c.opts.args[0])
		if s := secrets[id]; s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("secret %q not found", id)
	}
	label, ok := c.opts.values["label"]
	if !ok {
		return nil, usagef("require either a secret URI or label")
	}
	for _, s := range secrets {
		if s.Label == label && (s.Owner == u.Name || s.Owner == u.App) || s.ConsumerLabels[u.Name] == label {
			return s, nil
		}
	}
	return nil, fmt.Errorf("secret with label %q not found", label)
}

func secretGet(c *call) error {
	key := ""
	if len(c.opts.args) > 1 {
		key = c.opts.args[1]
	}
	var out any
	err := c.update(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		secrets := effectiveSecrets(m, hc)
		s, err := findSecret(c, secrets, u)
		if err != nil {
			return err
		}
		if !canRead(m, u, s) {
			return errPermission
		}
		content := latest(s)
		if s.Owner != u.Name && s.Owner != u.App {
			content, err = consumerView(m, s, u, c)
			if err != nil {
				return err
			}
		}
		if key == "" {
			out = content
		} else if v, ok := content[key]; ok {
			out = v
		} else {
			return fmt.Errorf("secret key %q not found", key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(out)
}

func latest(s *state.Secret) map[string]string {
	for i := len(s.Revisions) - 1; i >= 0; i-- {
		if s.Revisions[i] != nil {
			return s.Revisions[i]
		}
	}
	return map[string]string{}
}

// consumerView returns the revision a consumer tracks: the latest on first
// read or with --refresh (which moves the tracking), with --peek the latest
// without moving it.
func consumerView(m *state.Model, view *state.Secret, u *state.Unit, c *call) (map[string]string, error) {
	real := m.Secrets[view.ID]
	if real == nil {
		return nil, fmt.Errorf("secret %q not found", view.ID)
	}
	if real.Tracked == nil {
		real.Tracked = map[string]int{}
	}
	rev, tracked := real.Tracked[u.Name]
	if !tracked || c.opts.has("refresh") {
		rev = len(real.Revisions)
		real.Tracked[u.Name] = rev
	}
	if label, ok := c.opts.values["label"]; ok && len(c.opts.args) > 0 {
		if real.ConsumerLabels == nil {
			real.ConsumerLabels = map[string]string{}
		}
		real.ConsumerLabels[u.Name] = label
	}
	if c.opts.has("peek") {
		return latest(real), nil
	}
	if rev < 1 || rev > len(real.Revisions) || real.Revisions[rev-1] == nil {
		return latest(real), nil
	}
	return real.Revisions[rev-1], nil
}

func secretSet(c *call) error {
	if len(c.opts.args) < 1 {
		return usagef("missing secret URI")
	}
	id := normaliseSecretID(c.opts.args[0])
	c.opts.args = c.opts.args[1:]
	var content map[string]string
	if len(c.opts.args) > 0 || c.opts.has("file") {
		var err error
		if content, err = secretContent(c); err != nil {
			return err
		}
	}
	return c.update(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		s := effectiveSecrets(m, hc)[id]
		if s == nil {
			return fmt.Errorf("secret %q not found", id)
		}
		if !owns(m, u, s) {
			return errPermission
		}
		hc.SecretOps = append(hc.SecretOps, state.SecretOp{Op: "set", ID: id, Content: content, Label: c.opts.str("label", ""), Description: c.opts.str("description", "")})
		return nil
	})
}

func secretAccess(c *call, op string) error {
	if len(c.opts.args) != 1 {
		return usagef("missing secret URI")
	}
	id := normaliseSecretID(c.opts.args[0])
	return c.update(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		s := effectiveSecrets(m, hc)[id]
		if s == nil || !owns(m, u, s) {
			return fmt.Errorf("secret %q not found", id)
		}
		relID := -1
		target := c.opts.str("unit", c.opts.str("app", ""))
		if _, ok := c.opts.values["r"]; ok || op == "grant" {
			r, err := c.relationFromFlag(m, hc, u)
			if err != nil {
				return err
			}
			relID = r.ID
			if target == "" {
				_, remote, _ := r.Endpoint(u.App)
				target = remote.App
			}
		}
		if target == "" {
			return usagef("missing relation or application or unit")
		}
		hc.SecretOps = append(hc.SecretOps, state.SecretOp{Op: op, ID: id, RelationID: relID, Target: target})
		return nil
	})
}

func secretIDs(c *call) error {
	ids := []string{}
	err := c.view(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		for id, s := range effectiveSecrets(m, hc) {
			if s.Owner == u.Name || s.Owner == u.App {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(ids)
	return c.write(ids)
}

func secretRemove(c *call) error {
	if len(c.opts.args) != 1 {
		return usagef("missing secret URI")
	}
	id := normaliseSecretID(c.opts.args[0])
	rev := 0
	if r, ok := c.opts.values["revision"]; ok {
		n, err := strconv.Atoi(r)
		if err != nil || n < 1 {
			return usagef("invalid revision %q", r)
		}
		rev = n
	}
	return c.update(func(m *state.Model, hc *state.HookContext, u *state.Unit) error {
		s := effectiveSecrets(m, hc)[id]
		if s == nil || !owns(m, u, s) {
			return fmt.Errorf("secret %q not found", id)
		}
		hc.SecretOps = append(hc.SecretOps, state.SecretOp{Op: "remove", ID: id, Revision: rev})
		return nil
	})
}
