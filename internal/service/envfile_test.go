package service

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func TestReadEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env")
	content := "# comment\n; also a comment\n\nPLAIN=value\n  SPACED = padded value  \n" +
		"DOUBLE=\"a \\\"quoted\\\" word\"\nSINGLE='lit $x \\n'\nEMPTY=\nEQUALS=a=b\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLAIN": "value", "SPACED": "padded value", "DOUBLE": `a "quoted" word`,
		"SINGLE": `lit $x \n`, "EMPTY": "", "EQUALS": "a=b",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("readEnvFile = %q, want %q", got, want)
	}
	if env, err := readEnvFile(""); err != nil || env != nil {
		t.Fatalf(`readEnvFile("") = %v, %v`, env, err)
	}
}

func TestReadEnvFileRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(path, []byte("OK=1\nnot a pair\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readEnvFile(path); err == nil {
		t.Fatal("readEnvFile accepted a line without =")
	}
}
