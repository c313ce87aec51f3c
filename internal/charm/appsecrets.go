package charm

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/storage"
)

// Peer application bag keys written by the leader. Only secret URIs and PUBLIC keys travel in
// relation data; the secrets themselves live in Juju secrets owned by the application.
const (
	keyKeysSecret   = "keys-secret"    // URI: session signing key + TSA host key
	keyAdminSecret  = "admin-secret"   // URI: admin username + password
	keyTSAPublicKey = "tsa-public-key" // authorized_keys form of the TSA host key
)

// Fields of the application's secrets (Juju's key rule: lowercase, dashes).
const (
	fieldSessionKey    = "session-signing-key"
	fieldTSAHostKey    = "tsa-host-key"
	fieldAdminUser     = "username"
	fieldAdminPassword = "password"
	defaultAdminUser   = "admin"
)

// appSecrets are the application-wide secrets every web unit must share.
type appSecrets struct {
	sessionKey, hostKey concourse.Key
	adminUser, adminPW  string
}

// ensureAppSecrets makes the leader create the application's keys and admin password once, in
// Juju secrets owned by the application, and publish their URIs (and the TSA host's public key) in
// the peer application bag. secret-add and relation-set commit together when the hook succeeds,
// so a killed hook leaves neither behind. The admin secret starts with adminUser (admin-username).
func (c *Charm) ensureAppSecrets(ctx context.Context, peers peerView, adminUser string) error {
	if peers.relID == "" {
		return nil
	}
	set := map[string]string{}
	if peers.app[keyKeysSecret] == "" {
		fmt.Fprintln(c.out, "generating the session signing key and TSA host key")
		session, err := concourse.GenerateKey(c.keyBits)
		if err != nil {
			return err
		}
		host, err := concourse.GenerateKey(c.keyBits)
		if err != nil {
			return err
		}
		id, err := c.tools.SecretAdd(ctx, map[string]string{fieldSessionKey: session.PrivatePEM, fieldTSAHostKey: host.PrivatePEM},
			juju.SecretAddOptions{Label: "concourse-keys", Description: "Concourse session signing key and TSA host key"})
		if err != nil {
			return fmt.Errorf("store the application keys: %w", err)
		}
		set[keyKeysSecret], set[keyTSAPublicKey] = id, host.Public
	}
	if peers.app[keyAdminSecret] == "" {
		pw, err := newPassword()
		if err != nil {
			return err
		}
		id, err := c.tools.SecretAdd(ctx, map[string]string{fieldAdminUser: adminUser, fieldAdminPassword: pw},
			juju.SecretAddOptions{Label: "concourse-admin", Description: "Concourse admin user (get-admin-password)"})
		if err != nil {
			return fmt.Errorf("store the admin password: %w", err)
		}
		set[keyAdminSecret] = id
	}
	if len(set) == 0 {
		return nil
	}
	if err := c.tools.RelationSet(ctx, peers.relID, true, set); err != nil {
		return fmt.Errorf("publish the application secrets: %w", err)
	}
	for k, v := range set {
		peers.app[k] = v
	}
	return nil
}

// readAppSecrets reads the application's secrets; ok is false until the leader has created them.
func (c *Charm) readAppSecrets(ctx context.Context, peers peerView) (s appSecrets, ok bool, err error) {
	keysID, adminID := peers.app[keyKeysSecret], peers.app[keyAdminSecret]
	if keysID == "" || adminID == "" {
		return s, false, nil
	}
	keys, err := c.tools.SecretGet(ctx, juju.SecretGetOptions{ID: keysID})
	if err != nil {
		return s, false, fmt.Errorf("read the application keys: %w", err)
	}
	if s.sessionKey, err = concourse.KeyFromPEM(keys[fieldSessionKey]); err != nil {
		return s, false, fmt.Errorf("session signing key in %s: %w", keysID, err)
	}
	if s.hostKey, err = concourse.KeyFromPEM(keys[fieldTSAHostKey]); err != nil {
		return s, false, fmt.Errorf("TSA host key in %s: %w", keysID, err)
	}
	admin, err := c.tools.SecretGet(ctx, juju.SecretGetOptions{ID: adminID})
	if err != nil {
		return s, false, fmt.Errorf("read the admin password: %w", err)
	}
	s.adminUser, s.adminPW = admin[fieldAdminUser], admin[fieldAdminPassword]
	if s.adminUser == "" || s.adminPW == "" {
		return s, false, fmt.Errorf("admin secret %s has no %s or %s", adminID, fieldAdminUser, fieldAdminPassword)
	}
	return s, true, nil
}

// newPassword is 24 random bytes, URL-safe: 32 characters no shell or URL will mangle.
func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// adminHash returns a bcrypt hash of password, reusing the one remembered in the unit's state
// when it still matches: a fresh salt on every hook would change the web's environment, and so
// restart it, on every hook.
func adminHash(stateDir, password string) (string, error) {
	path := filepath.Join(stateDir, "admin.bcrypt")
	if old, err := os.ReadFile(path); err == nil && bcrypt.CompareHashAndPassword(old, []byte(password)) == nil {
		return string(old), nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash the admin password: %w", err)
	}
	if err := storage.WriteFileAtomic(path, h, 0o600); err != nil {
		return "", fmt.Errorf("remember the admin password hash: %w", err)
	}
	return string(h), nil
}
