package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"
)

// envReader reads CONCOURSE_* settings from an environment and collects every
// problem, so one run reports all of them, each naming its variable.
type envReader struct {
	vals map[string]string
	used map[string]bool
	errs []error
}

func newEnvReader(environ []string) *envReader {
	e := &envReader{vals: map[string]string{}, used: map[string]bool{}}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			e.vals[k] = v
		}
	}
	return e
}

func (e *envReader) failf(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// err joins every problem found so far, one per line.
func (e *envReader) err() error { return errors.Join(e.errs...) }

func (e *envReader) lookup(name string) (string, bool) {
	e.used[name] = true
	v, ok := e.vals[name]
	return v, ok && v != ""
}

// unknown lists CONCOURSE_* variables that nothing read: the real binary
// ignores them, and so do we (the caller logs them at debug).
func (e *envReader) unknown() []string {
	var out []string
	for k := range e.vals {
		if strings.HasPrefix(k, "CONCOURSE_") && !e.used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (e *envReader) required(name string) string {
	v, ok := e.lookup(name)
	if !ok {
		e.failf(name, "must be set")
	}
	return v
}

func (e *envReader) optional(name, def string) string {
	if v, ok := e.lookup(name); ok {
		return v
	}
	return def
}

func (e *envReader) oneOf(name, def string, allowed ...string) string {
	v := e.optional(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.failf(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (e *envReader) port(name string, def int) int {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		e.failf(name, "%q is not a port number", v)
		return def
	}
	return n
}

func (e *envReader) ip(name, def string) string {
	v := e.optional(name, def)
	if net.ParseIP(v) == nil {
		e.failf(name, "%q is not an IP address", v)
	}
	return v
}

func (e *envReader) boolean(name string) bool {
	v, ok := e.lookup(name)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.failf(name, "%q is not a boolean", v)
	}
	return b
}

// list splits a comma-separated value, dropping blanks.
func (e *envReader) list(name string) []string {
	v, _ := e.lookup(name)
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (e *envReader) externalURL(name string) string {
	v := e.required(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.failf(name, "%q is not an absolute http(s) URL", v)
	}
	return v
}

// rsaKey reads a required path to an RSA private key in PEM.
func (e *envReader) rsaKey(name string) *rsa.PrivateKey {
	path := e.required(name)
	if path == "" {
		return nil
	}
	k, err := loadRSAPrivateKey(path)
	if err != nil {
		e.failf(name, "%v", err)
	}
	return k
}

// authorizedKeys reads a required path in authorized_keys format.
func (e *envReader) authorizedKeys(name string, allowEmpty bool) []ssh.PublicKey {
	path := e.required(name)
	if path == "" {
		return nil
	}
	keys, err := loadAuthorizedKeys(path)
	if err != nil {
		e.failf(name, "%v", err)
	} else if len(keys) == 0 && !allowEmpty {
		e.failf(name, "%s holds no keys", path)
	}
	return keys
}

// localUsers parses CONCOURSE_ADD_LOCAL_USER, "user:bcrypt-hash[,user:hash]".
// A plain password is refused: the charm promises never to hand one over.
func (e *envReader) localUsers(name string) map[string][]byte {
	users := map[string][]byte{}
	if e.required(name) == "" {
		return users
	}
	for _, entry := range e.list(name) {
		user, hash, ok := strings.Cut(entry, ":")
		if !ok || user == "" || hash == "" {
			e.failf(name, "entry %d is not user:password", len(users)+1)
			continue
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			e.failf(name, "password for user %q is not a bcrypt hash; refusing a plain password", user)
			continue
		}
		users[user] = []byte(hash)
	}
	return users
}

func loadRSAPrivateKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: bad PKCS#1 RSA key", path)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: bad PKCS#8 key", path)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: PKCS#8 key is %T, not RSA", path, k)
		}
		return rk, nil
	default:
		return nil, fmt.Errorf("%s: PEM block %q is not an RSA private key", path, block.Type)
	}
}

// loadAuthorizedKeys parses every non-blank, non-comment line; one bad line
// fails the whole file, naming the line.
func loadAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []ssh.PublicKey
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("%s line %d: not an authorized key", path, i+1)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// hasKey reports whether k is among keys.
func hasKey(keys []ssh.PublicKey, k ssh.PublicKey) bool {
	m := k.Marshal()
	for _, c := range keys {
		if string(c.Marshal()) == string(m) {
			return true
		}
	}
	return false
}
