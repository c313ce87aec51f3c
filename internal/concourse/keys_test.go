package concourse

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestGeneratedKeyParsesAsConcourseExpects(t *testing.T) {
	t.Parallel()
	k, err := generateKey(2048) // KeyBits is 4096; the format is what matters here
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.PrivatePEM, "-----BEGIN RSA PRIVATE KEY-----\n") {
		t.Errorf("private key is not PKCS#1 PEM: %.40q", k.PrivatePEM)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Public))
	if err != nil || pub.Type() != "ssh-rsa" {
		t.Fatalf("public half %q: %v", k.Public, err)
	}
	again, err := KeyFromPEM(k.PrivatePEM)
	if err != nil || again.Public != k.Public {
		t.Fatalf("KeyFromPEM: %v, public %q want %q", err, again.Public, k.Public)
	}
}

func TestKeyFromPEMRefusesGarbage(t *testing.T) {
	t.Parallel()
	if _, err := KeyFromPEM("not a key"); err == nil {
		t.Fatal("garbage accepted as a private key")
	}
}

func TestAuthorizedKeysIsCanonical(t *testing.T) {
	t.Parallel()
	a, _ := generateKey(1024)
	b, _ := generateKey(1024)
	withComment, err := ParsePublicKey(b.Public + " worker@host")
	if err != nil || withComment != b.Public {
		t.Fatalf("ParsePublicKey dropped nothing: %q, %v", withComment, err)
	}
	got := string(AuthorizedKeys([]string{b.Public, a.Public, withComment, ""}))
	want := string(AuthorizedKeys([]string{a.Public, b.Public}))
	if got != want || strings.Count(got, "\n") != 2 {
		t.Fatalf("AuthorizedKeys not canonical:\n%s\nwant\n%s", got, want)
	}
	if _, err := ParsePublicKey("ssh-rsa notbase64"); err == nil {
		t.Fatal("malformed public key accepted")
	}
}
