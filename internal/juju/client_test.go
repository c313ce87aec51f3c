package juju_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

// TestCommandShapes pins the exact command line of every method: a changed
// shape must fail here and be re-checked against Juju's source.
func TestCommandShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(context.Context, *juju.Client) error
		want []string
	}{
		{"ConfigGet", func(ctx context.Context, c *juju.Client) error { _, err := c.ConfigGet(ctx); return err },
			[]string{"config-get", "--all", "--format=json"}},
		{"StatusSet", func(ctx context.Context, c *juju.Client) error {
			return c.StatusSet(ctx, juju.Status{State: juju.Blocked, Message: "set option web-url"})
		}, []string{"status-set", "blocked", "--", "set option web-url"}},
		{"StatusSet message starting with a dash", func(ctx context.Context, c *juju.Client) error {
			return c.StatusSet(ctx, juju.Status{State: juju.Active, Message: "-x"})
		}, []string{"status-set", "active", "--", "-x"}},
		{"StatusSet empty message", func(ctx context.Context, c *juju.Client) error {
			return c.StatusSet(ctx, juju.Status{State: juju.Active})
		}, []string{"status-set", "active", "--", ""}},
		{"AppStatusSet", func(ctx context.Context, c *juju.Client) error {
			return c.AppStatusSet(ctx, juju.Status{State: juju.Waiting, Message: "2/3 units ready"})
		}, []string{"status-set", "--application", "waiting", "--", "2/3 units ready"}},
		{"StatusGet", func(ctx context.Context, c *juju.Client) error { _, err := c.StatusGet(ctx); return err },
			[]string{"status-get", "--include-data", "--format=json"}},
		{"IsLeader", func(ctx context.Context, c *juju.Client) error { _, err := c.IsLeader(ctx); return err },
			[]string{"is-leader", "--format=json"}},
		{"StorageList all", func(ctx context.Context, c *juju.Client) error { _, err := c.StorageList(ctx, ""); return err },
			[]string{"storage-list", "--format=json"}},
		{"StorageList by name", func(ctx context.Context, c *juju.Client) error {
			_, err := c.StorageList(ctx, "concourse-data")
			return err
		}, []string{"storage-list", "--format=json", "concourse-data"}},
		{"StorageGet", func(ctx context.Context, c *juju.Client) error {
			_, err := c.StorageGet(ctx, "concourse-data/0")
			return err
		}, []string{"storage-get", "-s", "concourse-data/0", "--format=json"}},
		{"RelationIDs", func(ctx context.Context, c *juju.Client) error { _, err := c.RelationIDs(ctx, "peers"); return err },
			[]string{"relation-ids", "--format=json", "peers"}},
		{"RelationList", func(ctx context.Context, c *juju.Client) error { _, err := c.RelationList(ctx, "peers:1"); return err },
			[]string{"relation-list", "-r", "peers:1", "--format=json"}},
		{"RelationListApp", func(ctx context.Context, c *juju.Client) error {
			_, err := c.RelationListApp(ctx, "db:4")
			return err
		}, []string{"relation-list", "-r", "db:4", "--app", "--format=json"}},
		{"RelationGet unit", func(ctx context.Context, c *juju.Client) error {
			_, err := c.RelationGet(ctx, "peers:1", "concourse/2", false)
			return err
		}, []string{"relation-get", "-r", "peers:1", "--format=json", "-", "concourse/2"}},
		{"RelationGet app", func(ctx context.Context, c *juju.Client) error {
			_, err := c.RelationGet(ctx, "db:4", "postgresql", true)
			return err
		}, []string{"relation-get", "-r", "db:4", "--format=json", "--app", "-", "postgresql"}},
		{"RelationSet unit", func(ctx context.Context, c *juju.Client) error {
			return c.RelationSet(ctx, "peers:1", false, map[string]string{"k": "v"})
		}, []string{"relation-set", "-r", "peers:1", "--file", "-"}},
		{"RelationSet app", func(ctx context.Context, c *juju.Client) error {
			return c.RelationSet(ctx, "peers:1", true, map[string]string{"k": "v"})
		}, []string{"relation-set", "-r", "peers:1", "--app", "--file", "-"}},
		{"OpenedPorts", func(ctx context.Context, c *juju.Client) error { _, err := c.OpenedPorts(ctx); return err },
			[]string{"opened-ports", "--format=json"}},
		{"OpenPort", func(ctx context.Context, c *juju.Client) error { return c.OpenPort(ctx, juju.TCP(8080)) },
			[]string{"open-port", "8080/tcp"}},
		{"OpenPort range", func(ctx context.Context, c *juju.Client) error {
			return c.OpenPort(ctx, juju.Port{Protocol: "udp", Number: 1000, To: 2000})
		}, []string{"open-port", "1000-2000/udp"}},
		{"ClosePort icmp", func(ctx context.Context, c *juju.Client) error { return c.ClosePort(ctx, juju.Port{Protocol: "icmp"}) },
			[]string{"close-port", "icmp"}},
		{"ApplicationVersionSet", func(ctx context.Context, c *juju.Client) error { return c.ApplicationVersionSet(ctx, "7.11.2") },
			[]string{"application-version-set", "--", "7.11.2"}},
		{"Log", func(ctx context.Context, c *juju.Client) error {
			return c.Log(ctx, juju.LevelWarning, "disk nearly full")
		},
			[]string{"juju-log", "--log-level=WARNING", "--", "disk nearly full"}},
		{"ActionGet", func(ctx context.Context, c *juju.Client) error { _, err := c.ActionGet(ctx); return err },
			[]string{"action-get", "--format=json"}},
		{"ActionSet sorted", func(ctx context.Context, c *juju.Client) error {
			return c.ActionSet(ctx, map[string]string{"zeta": "1", "admin.password": "p=w d", "alpha-1": ""})
		}, []string{"action-set", "admin.password=p=w d", "alpha-1=", "zeta=1"}},
		{"ActionFail", func(ctx context.Context, c *juju.Client) error { return c.ActionFail(ctx, "web is down") },
			[]string{"action-fail", "--", "web is down"}},
		{"ActionLog", func(ctx context.Context, c *juju.Client) error { return c.ActionLog(ctx, "-- landing worker") },
			[]string{"action-log", "--", "-- landing worker"}},
		{"SecretGet by id", func(ctx context.Context, c *juju.Client) error {
			_, err := c.SecretGet(ctx, juju.SecretGetOptions{ID: "secret:abc"})
			return err
		}, []string{"secret-get", "--format=json", "secret:abc"}},
		{"SecretGet by label refresh", func(ctx context.Context, c *juju.Client) error {
			_, err := c.SecretGet(ctx, juju.SecretGetOptions{Label: "admin", Refresh: true})
			return err
		}, []string{"secret-get", "--format=json", "--label", "admin", "--refresh"}},
		{"SecretGet id and label peek", func(ctx context.Context, c *juju.Client) error {
			_, err := c.SecretGet(ctx, juju.SecretGetOptions{ID: "secret:abc", Label: "admin", Peek: true})
			return err
		}, []string{"secret-get", "--format=json", "--label", "admin", "--peek", "secret:abc"}},
		{"SecretGrant whole app", func(ctx context.Context, c *juju.Client) error { return c.SecretGrant(ctx, "secret:abc", "db:4", "") },
			[]string{"secret-grant", "-r", "db:4", "secret:abc"}},
		{"SecretGrant one unit", func(ctx context.Context, c *juju.Client) error {
			return c.SecretGrant(ctx, "secret:abc", "db:4", "postgresql/1")
		}, []string{"secret-grant", "-r", "db:4", "--unit", "postgresql/1", "secret:abc"}},
		{"SecretIDs", func(ctx context.Context, c *juju.Client) error { _, err := c.SecretIDs(ctx); return err },
			[]string{"secret-ids", "--format=json"}},
		{"SecretRemove", func(ctx context.Context, c *juju.Client) error { return c.SecretRemove(ctx, "secret:abc") },
			[]string{"secret-remove", "secret:abc"}},
		{"ResourceGet", func(ctx context.Context, c *juju.Client) error { _, err := c.ResourceGet(ctx, "concourse"); return err },
			[]string{"resource-get", "concourse"}},
		{"NetworkGet", func(ctx context.Context, c *juju.Client) error { _, err := c.NetworkGet(ctx, "web"); return err },
			[]string{"network-get", "--format=json", "web"}},
		{"UnitGetPrivateAddress", func(ctx context.Context, c *juju.Client) error { _, err := c.UnitGetPrivateAddress(ctx); return err },
			[]string{"unit-get", "--format=json", "private-address"}},
		{"LeaderGet", func(ctx context.Context, c *juju.Client) error { _, err := c.LeaderGet(ctx); return err },
			[]string{"leader-get", "--format=json"}},
		{"LeaderSet sorted", func(ctx context.Context, c *juju.Client) error {
			return c.LeaderSet(ctx, map[string]string{"b": "2", "a": "1"})
		}, []string{"leader-set", "a=1", "b=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := jujutest.New()
			// Outputs that the methods that must have one can parse.
			fake.SetOutput("resource-get", "/var/lib/juju/resources/concourse/concourse.tgz")
			if err := tt.call(context.Background(), juju.NewClient(fake)); err != nil {
				t.Fatalf("call failed: %v", err)
			}
			got := fake.Argv()
			if len(got) != 1 || !slices.Equal(got[0], tt.want) {
				t.Fatalf("argv %q, want exactly [%q]", got, tt.want)
			}
			if stdin := fake.Calls("")[0].Stdin; stdin != nil && tt.want[0] != "relation-set" {
				t.Errorf("unexpected stdin %q", stdin)
			}
		})
	}
}

// TestSecretsNeverOnArgv checks that secret content goes through a private
// file that exists only during the call and never appears on argv.
func TestSecretsNeverOnArgv(t *testing.T) {
	t.Parallel()
	content := map[string]string{"password": "s3cret value", "username": "admin"}
	tests := []struct {
		name     string
		tool     string
		call     func(context.Context, *juju.Client) error
		wantHead []string // argv before "--file <path>"
		wantTail []string // argv after it
	}{
		{"SecretAdd", "secret-add", func(ctx context.Context, c *juju.Client) error {
			id, err := c.SecretAdd(ctx, content, juju.SecretAddOptions{Label: "admin", Description: "web admin", Owner: "unit"})
			if err == nil && id != "secret:cq0abc" {
				err = errors.New("id " + id)
			}
			return err
		}, []string{"secret-add", "--label", "admin", "--description", "web admin", "--owner", "unit"}, nil},
		{"SecretAdd defaults", "secret-add", func(ctx context.Context, c *juju.Client) error {
			_, err := c.SecretAdd(ctx, content, juju.SecretAddOptions{})
			return err
		}, []string{"secret-add"}, nil},
		{"SecretSet", "secret-set", func(ctx context.Context, c *juju.Client) error {
			return c.SecretSet(ctx, "secret:cq0abc", content, juju.SecretSetOptions{Label: "admin"})
		}, []string{"secret-set", "--label", "admin"}, []string{"secret:cq0abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := jujutest.New()
			var path string
			fake.Handle(tt.tool, func(c jujutest.Call) ([]byte, error) {
				i := slices.Index(c.Args, "--file")
				if i < 0 || i+1 >= len(c.Args) {
					return nil, errors.New("no --file argument")
				}
				path = c.Args[i+1]
				info, err := os.Stat(path)
				if err != nil {
					return nil, err
				}
				if info.Mode().Perm() != 0o600 {
					return nil, errors.New("content file mode " + info.Mode().String())
				}
				dirInfo, err := os.Stat(filepath.Dir(path))
				if err != nil || dirInfo.Mode().Perm() != 0o700 {
					return nil, errors.New("content dir not 0700")
				}
				body, err := os.ReadFile(path)
				if err != nil {
					return nil, err
				}
				var got map[string]string
				if err := yaml.Unmarshal(body, &got); err != nil {
					return nil, err
				}
				if !reflect.DeepEqual(got, content) {
					return nil, errors.New("content file holds " + string(body))
				}
				return []byte("secret:cq0abc\n"), nil
			})
			if err := tt.call(context.Background(), juju.NewClient(fake)); err != nil {
				t.Fatal(err)
			}
			argv := fake.Argv()[0]
			want := append(append(append([]string{}, tt.wantHead...), "--file", path), tt.wantTail...)
			if !slices.Equal(argv, want) {
				t.Fatalf("argv %q, want %q", argv, want)
			}
			for _, a := range argv {
				if strings.Contains(a, "s3cret") {
					t.Fatalf("secret value on argv: %q", argv)
				}
			}
			if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("content dir %s left behind: %v", filepath.Dir(path), err)
			}
		})
	}
}

// TestRelationSetStdin parses the stdin of relation-set back as YAML, the
// way jujuc reads it, including values YAML could otherwise re-type.
func TestRelationSetStdin(t *testing.T) {
	t.Parallel()
	data := map[string]string{
		"private-key":  "-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n",
		"looks-bool":   "true",
		"looks-number": "0123",
		"yes":          "no",
		"colon":        "a: b # c",
		"deleted":      "",
		"unicode":      "héllo\u2028",
	}
	fake := jujutest.New()
	if err := juju.NewClient(fake).RelationSet(context.Background(), "peers:1", true, data); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls("relation-set")
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	var got map[string]string
	if err := yaml.Unmarshal(calls[0].Stdin, &got); err != nil {
		t.Fatalf("stdin %q is not YAML: %v", calls[0].Stdin, err)
	}
	if !reflect.DeepEqual(got, data) {
		t.Fatalf("stdin decodes to %q, want %q", got, data)
	}
	for _, a := range calls[0].Args {
		if strings.Contains(a, "AAAA") {
			t.Fatalf("value on argv: %q", calls[0].Args)
		}
	}
}

// TestNoCallWhenNothingToDo: empty writes must not reach Juju at all.
func TestNoCallWhenNothingToDo(t *testing.T) {
	t.Parallel()
	fake := jujutest.New()
	c := juju.NewClient(fake)
	ctx := context.Background()
	if err := c.RelationSet(ctx, "peers:1", false, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.ActionSet(ctx, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	if err := c.LeaderSet(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if calls := fake.Calls(""); len(calls) != 0 {
		t.Fatalf("unexpected calls %v", calls)
	}
}

// TestRejectedBeforeCalling covers arguments Juju would refuse: the client
// refuses them first and runs nothing.
func TestRejectedBeforeCalling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(context.Context, *juju.Client) error
		want string
	}{
		{"status error", func(ctx context.Context, c *juju.Client) error {
			return c.StatusSet(ctx, juju.Status{State: "error"})
		}, "invalid status"},
		{"status unknown for app", func(ctx context.Context, c *juju.Client) error {
			return c.AppStatusSet(ctx, juju.Status{State: "unknown"})
		}, "invalid status"},
		{"log level", func(ctx context.Context, c *juju.Client) error { return c.Log(ctx, "TRACE!", "x") }, "invalid level"},
		{"action key upper case", func(ctx context.Context, c *juju.Client) error {
			return c.ActionSet(ctx, map[string]string{"ok": "1", "Bad": "2"})
		}, `"Bad"`},
		{"action key trailing hyphen", func(ctx context.Context, c *juju.Client) error {
			return c.ActionSet(ctx, map[string]string{"foo-": "1"})
		}, `"foo-"`},
		{"action key empty part", func(ctx context.Context, c *juju.Client) error {
			return c.ActionSet(ctx, map[string]string{"a..b": "1"})
		}, `"a..b"`},
		{"action key reserved", func(ctx context.Context, c *juju.Client) error {
			return c.ActionSet(ctx, map[string]string{"out.stderr": "1"})
		}, "reserved"},
		{"relation-set without relation", func(ctx context.Context, c *juju.Client) error {
			return c.RelationSet(ctx, "", false, map[string]string{"a": "b"})
		}, "relation id"},
		{"relation-set empty key", func(ctx context.Context, c *juju.Client) error {
			return c.RelationSet(ctx, "peers:1", false, map[string]string{"": "b"})
		}, "empty key"},
		{"relation-get without member", func(ctx context.Context, c *juju.Client) error {
			_, err := c.RelationGet(ctx, "peers:1", "", false)
			return err
		}, "unit or application"},
		{"storage-get without id", func(ctx context.Context, c *juju.Client) error {
			_, err := c.StorageGet(ctx, "")
			return err
		}, "storage id"},
		{"open-port zero", func(ctx context.Context, c *juju.Client) error { return c.OpenPort(ctx, juju.TCP(0)) }, "1-65535"},
		{"open-port bad protocol", func(ctx context.Context, c *juju.Client) error {
			return c.OpenPort(ctx, juju.Port{Protocol: "sctp", Number: 80})
		}, "protocol"},
		{"sync ports bad port", func(ctx context.Context, c *juju.Client) error {
			return c.SyncPorts(ctx, []juju.Port{juju.TCP(80), juju.TCP(70000)})
		}, "1-65535"},
		{"secret-add no content", func(ctx context.Context, c *juju.Client) error {
			_, err := c.SecretAdd(ctx, nil, juju.SecretAddOptions{})
			return err
		}, "empty"},
		{"secret-add short key", func(ctx context.Context, c *juju.Client) error {
			_, err := c.SecretAdd(ctx, map[string]string{"pw": "x"}, juju.SecretAddOptions{})
			return err
		}, `"pw"`},
		{"secret-add bad owner", func(ctx context.Context, c *juju.Client) error {
			_, err := c.SecretAdd(ctx, map[string]string{"password": "x"}, juju.SecretAddOptions{Owner: "model"})
			return err
		}, "owner"},
		{"secret-get nothing to find it by", func(ctx context.Context, c *juju.Client) error {
			_, err := c.SecretGet(ctx, juju.SecretGetOptions{Refresh: true})
			return err
		}, "id or label"},
		{"secret-get refresh and peek", func(ctx context.Context, c *juju.Client) error {
			_, err := c.SecretGet(ctx, juju.SecretGetOptions{ID: "secret:x", Refresh: true, Peek: true})
			return err
		}, "refresh and peek"},
		{"secret-grant without relation", func(ctx context.Context, c *juju.Client) error {
			return c.SecretGrant(ctx, "secret:x", "", "")
		}, "relation id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := jujutest.New()
			err := tt.call(context.Background(), juju.NewClient(fake))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if calls := fake.Calls(""); len(calls) != 0 {
				t.Fatalf("ran %v despite invalid arguments", calls)
			}
		})
	}
}

// TestToolErrorsPassThrough: a failing tool's *ToolError reaches the caller
// intact, stderr included.
func TestToolErrorsPassThrough(t *testing.T) {
	t.Parallel()
	fake := jujutest.New()
	fake.SetError("status-set", 1, "ERROR this unit is not the leader")
	err := juju.NewClient(fake).AppStatusSet(context.Background(), juju.Status{State: juju.Active})
	var te *juju.ToolError
	if !errors.As(err, &te) || te.Tool != "status-set" || te.ExitCode != 1 {
		t.Fatalf("got %v, want status-set ToolError", err)
	}
	if !strings.Contains(err.Error(), "not the leader") {
		t.Errorf("error %q lost stderr", err)
	}
}
