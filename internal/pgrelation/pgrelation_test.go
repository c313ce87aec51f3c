package pgrelation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const (
	pw      = "Xy7pQ2wLm9RtZk4B" // utils.new_password: 16 letters and digits
	userURI = "secret://4f1b7d2e-0c3a-4f8e-9a61-2b5c7d9e0f11/cqj7rm7mp25c7bc2ikdg"
	tlsURI  = "secret://4f1b7d2e-0c3a-4f8e-9a61-2b5c7d9e0f11/cqj7rm7mp25c7bc2ikeg"
	caPEM   = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
)

// secrets is a fake Juju secret store; reads of other URIs fail as secret-get does.
type secrets map[string]map[string]string

func (s secrets) get(_ context.Context, uri string) (map[string]string, error) {
	if c, ok := s[uri]; ok {
		return c, nil
	}
	return nil, errors.New(`hook tool secret-get exited with status 1: ERROR secret "` + uri + `" not found`)
}

// requirerCopy is the "data" key data_interfaces' provider keeps in its own app bag: the
// requirer's bag as JSON (diff()).
func requirerCopy() string {
	b, _ := json.Marshal(Request("concourse"))
	return string(b)
}

// operatorBag is the app bag of postgresql-operator (PostgreSQLProvider._on_database_requested
// then update_endpoints) with data_interfaces >= 0.17 and a requirer that requested secrets.
func operatorBag(endpoints string) map[string]string {
	return map[string]string{
		"data":                requirerCopy(),
		"database":            "concourse",
		"endpoints":           endpoints,
		"read-only-endpoints": endpoints,
		"secret-user":         userURI,
		"secret-tls":          tlsURI,
		"version":             "16.9",
	}
}

func operatorSecrets(tls string, ca string) secrets {
	return secrets{
		userURI: {"username": "relation-7", "password": pw, "uris": "postgresql://relation-7:" + pw + "@10.151.18.12:5432/concourse"},
		tlsURI:  {"tls": tls, "tls-ca": ca},
	}
}

func TestRequestIsWhatDataInterfacesWrites(t *testing.T) {
	got := Request("concourse")
	want := map[string]string{
		"database":          "concourse",
		"requested-secrets": `["username","password","tls","tls-ca","uris","read-only-uris","entity-name","entity-password"]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Request = %v, want %v", got, want)
	}
	var list []string
	if err := json.Unmarshal([]byte(got["requested-secrets"]), &list); err != nil || len(list) != 8 {
		t.Errorf("requested-secrets is not a JSON list: %v %v", list, err)
	}
	if r := Request("concourse", "CREATEDB", "charmed_read"); r["extra-user-roles"] != "CREATEDB,charmed_read" {
		t.Errorf("extra-user-roles = %q", r["extra-user-roles"])
	}
}

func TestParse(t *testing.T) {
	legacy := map[string]string{ // data_interfaces < 0.17, or a provider without secrets
		"database": "concourse", "endpoints": "10.151.18.12:5432", "read-only-endpoints": "10.151.18.12:5432",
		"username": "relation-3", "password": pw, "version": "14.9", "tls": "False", "tls-ca": "",
		"uris": "postgresql://relation-3:" + pw + "@10.151.18.12:5432/concourse",
	}
	tests := []struct {
		name    string
		bag     map[string]string
		secrets secrets
		state   State
		want    Credentials
		wantErr string
	}{
		{name: "empty bag", bag: map[string]string{}, state: NoData},
		{name: "only the library's diff copy", bag: map[string]string{"data": requirerCopy()}, state: NoData},
		{
			name:    "secrets, tls off, one endpoint",
			bag:     operatorBag("10.151.18.12:5432"),
			secrets: operatorSecrets("False", ""),
			state:   Ready,
			want: Credentials{Host: "10.151.18.12", Port: 5432, Database: "concourse", User: "relation-7", Password: pw,
				Endpoints: []string{"10.151.18.12:5432"}, ReadOnlyEndpoints: []string{"10.151.18.12:5432"}, Version: "16.9",
				URIs: "postgresql://relation-7:" + pw + "@10.151.18.12:5432/concourse"},
		},
		{
			name: "secrets, tls on with CA, several endpoints",
			bag: func() map[string]string {
				b := operatorBag("10.0.0.5:5432")
				b["read-only-endpoints"] = "10.0.0.6:5432,10.0.0.7:5432"
				return b
			}(),
			secrets: operatorSecrets("True", caPEM),
			state:   Ready,
			want: Credentials{Host: "10.0.0.5", Port: 5432, Database: "concourse", User: "relation-7", Password: pw, TLS: true, CA: caPEM,
				Endpoints: []string{"10.0.0.5:5432"}, ReadOnlyEndpoints: []string{"10.0.0.6:5432", "10.0.0.7:5432"}, Version: "16.9",
				URIs: "postgresql://relation-7:" + pw + "@10.151.18.12:5432/concourse"},
		},
		{
			name:    "several read/write endpoints, IPv6 and names",
			bag:     operatorBag("[fd42::5]:6432, db-1.lxd:5432"),
			secrets: operatorSecrets("False", ""),
			state:   Ready,
			want: Credentials{Host: "fd42::5", Port: 6432, Database: "concourse", User: "relation-7", Password: pw,
				Endpoints: []string{"[fd42::5]:6432", "db-1.lxd:5432"}, ReadOnlyEndpoints: []string{"[fd42::5]:6432", "db-1.lxd:5432"}, Version: "16.9",
				URIs: "postgresql://relation-7:" + pw + "@10.151.18.12:5432/concourse"},
		},
		{
			name:  "legacy plain fields",
			bag:   legacy,
			state: Ready,
			want: Credentials{Host: "10.151.18.12", Port: 5432, Database: "concourse", User: "relation-3", Password: pw,
				Endpoints: []string{"10.151.18.12:5432"}, ReadOnlyEndpoints: []string{"10.151.18.12:5432"}, Version: "14.9",
				URIs: legacy["uris"]},
		},
		{
			name: "user secret, tls as plain fields (not requested as secrets)",
			bag: func() map[string]string {
				b := operatorBag("10.0.0.5:5432")
				delete(b, "secret-tls")
				b["tls"] = "True"
				b["tls-ca"] = caPEM
				return b
			}(),
			secrets: operatorSecrets("", ""),
			state:   Ready,
			want: Credentials{Host: "10.0.0.5", Port: 5432, Database: "concourse", User: "relation-7", Password: pw, TLS: true, CA: caPEM,
				Endpoints: []string{"10.0.0.5:5432"}, ReadOnlyEndpoints: []string{"10.0.0.5:5432"}, Version: "16.9",
				URIs: "postgresql://relation-7:" + pw + "@10.151.18.12:5432/concourse"},
		},
		{
			name:  "endpoints before credentials (update_endpoints ran first)",
			bag:   map[string]string{"endpoints": "10.0.0.5:5432", "read-only-endpoints": "10.0.0.5:5432"},
			state: Waiting,
			want:  Credentials{Endpoints: []string{"10.0.0.5:5432"}, ReadOnlyEndpoints: []string{"10.0.0.5:5432"}},
		},
		{
			name:    "credentials before endpoints",
			bag:     map[string]string{"database": "concourse", "secret-user": userURI, "version": "16.9"},
			secrets: operatorSecrets("False", ""),
			state:   Waiting,
			want: Credentials{Database: "concourse", User: "relation-7", Password: pw, Version: "16.9",
				URIs: "postgresql://relation-7:" + pw + "@10.151.18.12:5432/concourse"},
		},
		{name: "endpoint without port", bag: operatorBag("10.0.0.5"), secrets: operatorSecrets("False", ""), state: Invalid, wantErr: `endpoint "10.0.0.5": want host:port`},
		{name: "bad port", bag: operatorBag("10.0.0.5:54321x"), secrets: operatorSecrets("False", ""), state: Invalid, wantErr: `port "54321x" is not 1-65535`},
		{name: "port out of range", bag: operatorBag("10.0.0.5:70000"), secrets: operatorSecrets("False", ""), state: Invalid, wantErr: `port "70000"`},
		{name: "empty entry", bag: operatorBag("10.0.0.5:5432,"), secrets: operatorSecrets("False", ""), state: Invalid, wantErr: "empty endpoint"},
		{name: "no host", bag: operatorBag(":5432"), secrets: operatorSecrets("False", ""), state: Invalid, wantErr: "no host"},
		{name: "unreadable secret", bag: operatorBag("10.0.0.5:5432"), secrets: secrets{}, state: Invalid, wantErr: "read secret-user " + userURI},
		{name: "bad tls flag", bag: operatorBag("10.0.0.5:5432"), secrets: operatorSecrets("yes", ""), state: Invalid, wantErr: `provider field tls: "yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, state, err := Parse(context.Background(), tt.bag, tt.secrets.get)
			if state != tt.state {
				t.Errorf("state %v, want %v (err %v)", state, tt.state, err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), pw) {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v\n(%+v)", got, tt.want, fmt.Sprint(got.Password == tt.want.Password))
			}
		})
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	c, state, err := Parse(context.Background(), operatorBag("10.0.0.5:5432"), operatorSecrets("False", "").get)
	if err != nil || state != Ready {
		t.Fatal(state, err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if s := fmt.Sprintf(verb, c); strings.Contains(s, pw) {
			t.Errorf("%s shows the password: %s", verb, s)
		}
	}
	if s := fmt.Sprint(c); !strings.Contains(s, `user "relation-7"`) || !strings.Contains(s, "<redacted>") {
		t.Errorf("String() = %s", s)
	}
	if cs := c.ConnString(""); cs != "postgres://relation-7:"+pw+"@10.0.0.5:5432/concourse?sslmode=disable" {
		t.Errorf("ConnString = %s", cs)
	}
	c.TLS = true
	if cs := c.ConnString("/etc/ca.pem"); !strings.HasSuffix(cs, "?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem") {
		t.Errorf("ConnString with CA = %s", cs)
	}
}

func TestSecretReaderGetsContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "hook")
	var seen []string
	get := func(ctx context.Context, uri string) (map[string]string, error) {
		if ctx.Value(key{}) != "hook" {
			t.Error("getSecret did not get Parse's context")
		}
		seen = append(seen, uri)
		return operatorSecrets("False", "")[uri], nil
	}
	if _, _, err := Parse(ctx, operatorBag("10.0.0.5:5432"), get); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, []string{userURI, tlsURI}) {
		t.Errorf("read %v", seen)
	}
	if _, state, err := Parse(ctx, operatorBag("10.0.0.5:5432"), nil); state != Invalid || err == nil {
		t.Errorf("nil reader with secrets: %v %v", state, err)
	}
}

func TestSecretLabel(t *testing.T) {
	if l := SecretLabel("postgresql", 4, "user"); l != "postgresql.4.user.secret" {
		t.Errorf("label %q", l)
	}
}
