package concourse

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// KeyBits is the size of every RSA key the charm generates: `concourse generate-key`'s default.
const KeyBits = 4096

// Key is an RSA private key in PEM (PKCS#1, as `concourse generate-key` writes it) with its public
// half in authorized_keys form.
type Key struct {
	PrivatePEM string
	Public     string // "ssh-rsa AAAA...", no comment, no newline
}

// GenerateKey makes a new RSA key of bits (KeyBits when 0).
func GenerateKey(bits int) (Key, error) {
	if bits == 0 {
		bits = KeyBits
	}
	return generateKey(bits)
}

func generateKey(bits int) (Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return Key{}, fmt.Errorf("generate %d-bit RSA key: %w", bits, err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}
	return KeyFromPEM(string(pem.EncodeToMemory(block)))
}

// KeyFromPEM parses a private key (PKCS#1 or PKCS#8 RSA) and derives its public half, so a key
// read back from a secret is checked before any service is given it.
func KeyFromPEM(privatePEM string) (Key, error) {
	signer, err := ssh.ParsePrivateKey([]byte(privatePEM))
	if err != nil {
		return Key{}, fmt.Errorf("parse private key: %w", err)
	}
	if t := signer.PublicKey().Type(); t != ssh.KeyAlgoRSA {
		return Key{}, fmt.Errorf("private key is %s, want RSA", t)
	}
	return Key{PrivatePEM: privatePEM, Public: authorizedLine(signer.PublicKey())}, nil
}

func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// ParsePublicKey checks one authorized_keys line (as a worker publishes it) and returns it in
// canonical form, comments and options dropped, so that the same key always renders the same way.
func ParsePublicKey(line string) (string, error) {
	k, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "", fmt.Errorf("parse public key %.40q: %w", line, err)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return "", fmt.Errorf("public key %.40q: more than one key", line)
	}
	return authorizedLine(k), nil
}

// AuthorizedKeys renders keys as an authorized_keys file: canonical, sorted, deduplicated, so the
// file (and whether the web must reload) depends only on the set of keys.
func AuthorizedKeys(keys []string) []byte {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var b bytes.Buffer
	for _, k := range keys {
		if k != "" {
			b.WriteString(k + "\n")
		}
	}
	return b.Bytes()
}
