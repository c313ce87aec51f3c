package charm

import (
	"context"
	"fmt"
	"strconv"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// keyAdminGeneration (peer application bag) counts admin password changes. It carries nothing
// secret: writing it wakes every peer with relation-changed, so each web unit applies the new
// password on every Juju version (secret-changed reaches the units of an application-owned
// secret's own application only on recent Juju) and under the simulator alike.
const keyAdminGeneration = "admin-generation"

// Limits of a password an operator chooses. Concourse keeps only a bcrypt hash of it, and bcrypt
// reads at most 72 bytes.
const (
	minPasswordLen = 8
	maxPasswordLen = 72
)

// setAdminPassword stores a new admin password (the one given, or a generated one) in the
// application's secret. Every web restarts with its hash: Concourse reads CONCOURSE_ADD_LOCAL_USER
// only when the web starts (skymarshal loads local users into its store at start; SIGHUP reloads
// only the TSA's worker keys). The password is shown only when generated, and never logged.
func (c *Charm) setAdminPassword(ctx context.Context) error {
	if err := c.requireLeader(ctx, "set-admin-password"); err != nil {
		return err
	}
	params, err := c.tools.ActionGet(ctx)
	if err != nil {
		return fmt.Errorf("read parameters: %w", err)
	}
	password, generated, err := chosenPassword(params)
	if err != nil {
		return err
	}
	a, err := c.adminSecret(ctx)
	if err != nil {
		return err
	}
	relID, app, id, admin := a.relID, a.app, a.id, a.content
	user := admin[fieldAdminUser]
	if user == "" {
		user = defaultAdminUser
	}
	results := map[string]string{"username": user}
	if generated {
		results["password"] = password
	}
	if admin[fieldAdminPassword] == password {
		results["message"] = "the admin password is already this one: nothing changed"
		return c.tools.ActionSet(ctx, results)
	}
	content := map[string]string{fieldAdminUser: user}
	for k, v := range admin {
		content[k] = v
	}
	content[fieldAdminPassword] = password
	if err := c.tools.SecretSet(ctx, id, content, juju.SecretSetOptions{}); err != nil {
		return fmt.Errorf("store the new admin password: %w", err)
	}
	gen, _ := strconv.Atoi(app[keyAdminGeneration])
	if err := c.tools.RelationSet(ctx, relID, true, map[string]string{keyAdminGeneration: strconv.Itoa(gen + 1)}); err != nil {
		return fmt.Errorf("tell the web units: %w", err)
	}
	results["message"] = "stored; every web unit restarts with it (Concourse reads local users only at start)"
	if c.runsService(ctx, concourse.WebService) {
		// The leader gets no relation-changed for its own write: it applies the password now.
		if err := c.Reconcile(ctx); err != nil {
			return fmt.Errorf("the new password is stored, but applying it on this unit failed (the next hook retries): %w", err)
		}
		results["message"] = "stored; this unit's web restarted with it, the other web units follow"
	}
	return c.tools.ActionSet(ctx, results)
}

// chosenPassword is the password parameter, checked, or a new random one (generated true).
func chosenPassword(params map[string]any) (password string, generated bool, err error) {
	raw, given := params["password"]
	if !given {
		pw, err := newPassword()
		return pw, true, err
	}
	password, ok := raw.(string)
	switch {
	case !ok:
		return "", false, fmt.Errorf("password must be a string (quote it if it looks like a number)")
	case password == "":
		return "", false, fmt.Errorf("password is empty: give one of at least %d characters, or leave it out to have one generated", minPasswordLen)
	case len([]rune(password)) < minPasswordLen:
		return "", false, fmt.Errorf("password is shorter than %d characters: give a longer one, or leave it out to have one generated", minPasswordLen)
	case len(password) > maxPasswordLen:
		return "", false, fmt.Errorf("password is longer than %d bytes, more than bcrypt (which Concourse uses) can hash: give a shorter one", maxPasswordLen)
	}
	return password, false, nil
}

// requireLeader refuses, on a unit that is not the leader, an action that writes what only the
// leader may write (the application's secrets and peer application data).
func (c *Charm) requireLeader(ctx context.Context, action string) error {
	leader, err := c.tools.IsLeader(ctx)
	if err != nil {
		return fmt.Errorf("leadership: %w", err)
	}
	if !leader {
		return fmt.Errorf("%s changes the application's secrets, which only the leader may do: run it on the leader: juju run %s/leader %s", action, c.env.AppName(), action)
	}
	return nil
}

// runsService says whether the supervisor knows name on this unit (false when there is none).
func (c *Charm) runsService(ctx context.Context, name string) bool {
	mgr, err := c.serviceManager(ctx)
	if err != nil {
		return false
	}
	st, err := mgr.State(ctx, name)
	return err == nil && st.Installed
}
