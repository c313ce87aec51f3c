package concourse

import (
	"strings"
	"testing"
)

func TestRenderQuotesWhatSystemdWouldMangle(t *testing.T) {
	t.Parallel()
	got, err := Env{
		"B_HASH":  "admin:$2a$10$abc",
		"A_PLAIN": "/var/lib/x",
		"C_SPACE": `a "b" \c`,
		"D_EMPTY": "",
	}.Render()
	if err != nil {
		t.Fatal(err)
	}
	want := "A_PLAIN=/var/lib/x\n" +
		`B_HASH="admin:$2a$10$abc"` + "\n" +
		`C_SPACE="a \"b\" \\c"` + "\n" +
		`D_EMPTY=""` + "\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRenderRefusesNewlineNamingTheVariable(t *testing.T) {
	t.Parallel()
	_, err := Env{"CONCOURSE_X": "a\nCONCOURSE_Y=b"}.Render()
	if err == nil || !strings.Contains(err.Error(), "CONCOURSE_X") {
		t.Fatalf("err = %v, want one naming CONCOURSE_X", err)
	}
}

func TestWebEnvTLSModes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pg   Postgres
		mode string
	}{
		{Postgres{}, "disable"},
		{Postgres{TLS: true}, "require"},
		{Postgres{TLS: true, CAFile: "/x/ca.pem"}, "verify-full"},
	} {
		e := Web{Postgres: tc.pg}.Env()
		if e["CONCOURSE_POSTGRES_SSLMODE"] != tc.mode {
			t.Errorf("%+v: sslmode %q, want %q", tc.pg, e["CONCOURSE_POSTGRES_SSLMODE"], tc.mode)
		}
		if _, ok := e["CONCOURSE_VERSION"]; ok {
			t.Error("CONCOURSE_VERSION set: the real binary panics with it")
		}
	}
}

func TestWorkerEnvSortsTSAHosts(t *testing.T) {
	t.Parallel()
	a := Worker{TSAHosts: []string{"10.0.0.2:2222", "10.0.0.1:2222"}}.Env()
	b := Worker{TSAHosts: []string{"10.0.0.1:2222", "10.0.0.2:2222"}}.Env()
	if a["CONCOURSE_TSA_HOST"] != "10.0.0.1:2222,10.0.0.2:2222" || a["CONCOURSE_TSA_HOST"] != b["CONCOURSE_TSA_HOST"] {
		t.Fatalf("TSA hosts %q / %q", a["CONCOURSE_TSA_HOST"], b["CONCOURSE_TSA_HOST"])
	}
	if _, ok := a["CONCOURSE_RUNTIME"]; ok {
		t.Error("empty runtime rendered instead of left to Concourse's default")
	}
}
