// Package pgrelation is the requirer side of the `postgresql_client` interface, as
// charms.data_platform_libs.v0.data_interfaces (DatabaseRequires) speaks it and the PostgreSQL
// operator (canonical/postgresql-operator, src/relations/postgresql_provider.py) answers it.
// docs/postgresql-relation.md lists the keys and where they come from.
//
// The requirer's leader writes Request(...) into its application bag; the provider answers in
// its own application bag, with the credentials either in Juju secrets (secret-user,
// secret-tls: URIs granted to the relation) or, from providers older than secrets, as plain
// fields. Parse turns that bag into Credentials.
package pgrelation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Keys of the requirer's application bag (DatabaseRequirerEventHandlers._on_relation_created_event,
// RequirerEventHandlers._on_relation_created_event).
const (
	KeyDatabase         = "database"
	KeyRequestedSecrets = "requested-secrets"
	KeyExtraUserRoles   = "extra-user-roles"
)

// Keys of the provider's application bag (DatabaseProviderData.set_*, ProviderData.set_*,
// Data._generate_secret_field_name: "secret-" + group).
const (
	KeySecretUser        = "secret-user"
	KeySecretTLS         = "secret-tls"
	KeyEndpoints         = "endpoints"
	KeyReadOnlyEndpoints = "read-only-endpoints"
	KeyVersion           = "version"
	KeyUsername          = "username"
	KeyPassword          = "password"
	KeyURIs              = "uris"
	KeyReadOnlyURIs      = "read-only-uris"
	KeyTLS               = "tls"
	KeyTLSCA             = "tls-ca"
)

// requestedSecrets is RequirerData.SECRET_FIELDS: every field the requirer asks to receive in a
// secret rather than in the bag. Its order is the library's, so the JSON is byte for byte what a
// Python requirer writes (json.dumps of the list).
func requestedSecrets() []string {
	return []string{"username", "password", "tls", "tls-ca", "uris", "read-only-uris", "entity-name", "entity-password"}
}

// secretGroups maps each secret field of the provider's bag to the keys its secret holds
// (Data.SECRET_LABEL_MAP: username, password, uris, read-only-uris → user; tls, tls-ca → tls).
func secretGroups() map[string][]string {
	return map[string][]string{
		KeySecretUser: {KeyUsername, KeyPassword, KeyURIs, KeyReadOnlyURIs},
		KeySecretTLS:  {KeyTLS, KeyTLSCA},
	}
}

// Request returns what the requirer's leader writes into its application bag of the relation,
// in relation-created (and, to be safe, on every reconcile: writing the same values is a no-op):
// the database name, the JSON list of requested secret fields, and extra-user-roles when roles
// are given (joined with ",", as the operator splits them).
func Request(database string, extraUserRoles ...string) map[string]string {
	list, _ := json.Marshal(requestedSecrets()) // a []string always encodes
	req := map[string]string{KeyDatabase: database, KeyRequestedSecrets: string(list)}
	if len(extraUserRoles) > 0 {
		req[KeyExtraUserRoles] = strings.Join(extraUserRoles, ",")
	}
	return req
}

// SecretLabel is the label data_interfaces gives a provider secret on the requirer's side when it
// first reads it (Data._generate_secret_label: "<endpoint>.<relation id>.<group>.secret"); pass it
// as SecretGetOptions.Label to name the secret in later secret-changed hooks (JUJU_SECRET_LABEL).
func SecretLabel(endpoint string, relationID int, group string) string {
	return fmt.Sprintf("%s.%d.%s.secret", endpoint, relationID, group)
}

// SecretGetter reads the content of the secret with this URI. In a charm it is a closure over the
// juju client that always reads the latest revision, as data_interfaces does
// (CachedSecret.get_content: get_content(refresh=True)):
//
//	func(ctx context.Context, uri string) (map[string]string, error) {
//		return tools.SecretGet(ctx, juju.SecretGetOptions{ID: uri, Refresh: true})
//	}
type SecretGetter func(ctx context.Context, uri string) (map[string]string, error)

// State says how far the provider got.
type State int

const (
	// NoData: the provider has written nothing yet (or the bag is not readable yet).
	NoData State = iota
	// Waiting: the provider wrote something, but not yet the database, credentials and endpoints.
	Waiting
	// Ready: Credentials are complete.
	Ready
	// Invalid: the provider's data is malformed or its secret cannot be read; Parse returns an error.
	Invalid
)

func (s State) String() string {
	switch s {
	case NoData:
		return "no relation data yet"
	case Waiting:
		return "waiting for the database provider"
	case Ready:
		return "ready"
	case Invalid:
		return "invalid provider data"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Credentials are what the provider gave. Password is a secret: String and GoString leave it out,
// and no error of this package contains it. URIs holds the provider's connection URIs, which
// contain the password too, and are left out the same way.
type Credentials struct {
	Host      string // of the first read/write endpoint
	Port      int    // of the first read/write endpoint
	Database  string
	User      string
	Password  string
	TLS       bool   // the provider says its server has TLS enabled
	CA        string // PEM, when TLS is on and the provider shared its CA
	Endpoints []string
	// ReadOnlyEndpoints are the replicas ("host:port"); the operator points it at the primary
	// when there are none.
	ReadOnlyEndpoints []string
	Version           string
	URIs              string // secret: "postgresql://user:password@host:port/db"
}

// String describes the credentials without the password or the URIs.
func (c Credentials) String() string {
	pw := "<none>"
	if c.Password != "" {
		pw = "<redacted>"
	}
	return fmt.Sprintf("postgresql user %q password %s database %q endpoints %s tls %t version %q",
		c.User, pw, c.Database, strings.Join(c.Endpoints, ","), c.TLS, c.Version)
}

// GoString keeps %#v from printing the password.
func (c Credentials) GoString() string { return "pgrelation.Credentials{" + c.String() + "}" }

// ConnString returns a lib/pq / libpq URL for the first endpoint. It CONTAINS THE PASSWORD: never
// log it. With TLS on, sslmode is verify-full against sslRootCert (a file holding CA) when given,
// else require; with TLS off, disable.
func (c Credentials) ConnString(sslRootCert string) string {
	q := url.Values{}
	switch {
	case c.TLS && sslRootCert != "":
		q.Set("sslmode", "verify-full")
		q.Set("sslrootcert", sslRootCert)
	case c.TLS:
		q.Set("sslmode", "require")
	default:
		q.Set("sslmode", "disable")
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.User, c.Password),
		Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), Path: "/" + c.Database, RawQuery: q.Encode()}
	return u.String()
}

// Parse reads the provider's application bag. Fields the provider put in a secret (secret-user,
// secret-tls) are read through getSecret; fields it wrote in the bag itself (providers without
// secrets, or fields not requested as secrets) are taken from the bag, as
// Data._fetch_relation_data_with_secrets falls back to "normal" fields. The state is NoData for
// an empty bag, Waiting until database, username, password and endpoints are all there, Ready
// then, and Invalid together with a non-nil error when the data is malformed or a secret cannot
// be read.
func Parse(ctx context.Context, appBag map[string]string, getSecret SecretGetter) (Credentials, State, error) {
	if len(providerKeys(appBag)) == 0 {
		return Credentials{}, NoData, nil
	}
	fields := map[string]string{}
	for _, k := range []string{KeyUsername, KeyPassword, KeyURIs, KeyReadOnlyURIs, KeyTLS, KeyTLSCA} {
		if v, ok := appBag[k]; ok {
			fields[k] = v
		}
	}
	for _, secretKey := range []string{KeySecretUser, KeySecretTLS} {
		uri := appBag[secretKey]
		if uri == "" {
			continue
		}
		if getSecret == nil {
			return Credentials{}, Invalid, fmt.Errorf("provider shared %s %s but no secret reader was given", secretKey, uri)
		}
		content, err := getSecret(ctx, uri)
		if err != nil {
			return Credentials{}, Invalid, fmt.Errorf("read %s %s: %w", secretKey, uri, err)
		}
		for _, k := range secretGroups()[secretKey] {
			if v, ok := content[k]; ok {
				fields[k] = v
			}
		}
	}

	c := Credentials{Database: appBag[KeyDatabase], User: fields[KeyUsername], Password: fields[KeyPassword],
		CA: fields[KeyTLSCA], Version: appBag[KeyVersion], URIs: fields[KeyURIs]}
	tls, err := parseBool(fields[KeyTLS])
	if err != nil {
		return Credentials{}, Invalid, fmt.Errorf("provider field %s: %w", KeyTLS, err)
	}
	c.TLS = tls
	if c.Endpoints, err = parseEndpoints(appBag[KeyEndpoints]); err != nil {
		return Credentials{}, Invalid, fmt.Errorf("provider field %s: %w", KeyEndpoints, err)
	}
	if c.ReadOnlyEndpoints, err = parseEndpoints(appBag[KeyReadOnlyEndpoints]); err != nil {
		return Credentials{}, Invalid, fmt.Errorf("provider field %s: %w", KeyReadOnlyEndpoints, err)
	}
	if c.Database == "" || c.User == "" || c.Password == "" || len(c.Endpoints) == 0 {
		return c, Waiting, nil
	}
	host, port, _ := splitEndpoint(c.Endpoints[0]) // validated by parseEndpoints
	c.Host, c.Port = host, port
	return c, Ready, nil
}

// Missing names what a Waiting provider has not written yet, for a status message.
func (c Credentials) Missing() []string {
	var out []string
	if c.Database == "" {
		out = append(out, KeyDatabase)
	}
	if c.User == "" {
		out = append(out, KeyUsername)
	}
	if c.Password == "" {
		out = append(out, KeyPassword)
	}
	if len(c.Endpoints) == 0 {
		out = append(out, KeyEndpoints)
	}
	return out
}

// providerKeys are the bag's keys but "data", which data_interfaces keeps in its own bags as a
// copy of the other side's bag (diff), and which says nothing about the provider's progress.
func providerKeys(bag map[string]string) []string {
	var keys []string
	for k := range bag {
		if k != "data" {
			keys = append(keys, k)
		}
	}
	return keys
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("%q is neither True nor False", s)
}

// parseEndpoints splits "host:port[,host:port...]" (DatabaseProviderData.set_endpoints: "database
// hosts and ports comma separated list"). Empty means none.
func parseEndpoints(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		ep := strings.TrimSpace(part)
		if _, _, err := splitEndpoint(ep); err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, ep)
	}
	return out, nil
}

func splitEndpoint(ep string) (string, int, error) {
	if ep == "" {
		return "", 0, errors.New("empty endpoint")
	}
	host, portStr, err := net.SplitHostPort(ep)
	if err != nil {
		return "", 0, fmt.Errorf("endpoint %q: want host:port", ep)
	}
	if host == "" {
		return "", 0, fmt.Errorf("endpoint %q: no host", ep)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("endpoint %q: port %q is not 1-65535", ep, portStr)
	}
	return host, port, nil
}
