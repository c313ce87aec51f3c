package juju_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

// client returns a Client whose tool prints output.
func client(tool, output string) *juju.Client {
	fake := jujutest.New()
	fake.SetOutput(tool, output)
	return juju.NewClient(fake)
}

func TestParseOutputs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name   string
		tool   string
		output string
		call   func(*juju.Client) (any, error)
		want   any
	}{
		{"config-get typed values", "config-get",
			`{"port":8080,"ratio":0.5,"big":9007199254740993,"enabled":true,"name":"ci","unset":null,"admin":"secret:cq0"}` + "\n",
			func(c *juju.Client) (any, error) { return c.ConfigGet(ctx) },
			map[string]any{"port": int64(8080), "ratio": 0.5, "big": int64(9007199254740993), "enabled": true, "name": "ci", "unset": nil, "admin": "secret:cq0"}},
		{"config-get null", "config-get", "null\n",
			func(c *juju.Client) (any, error) { return c.ConfigGet(ctx) }, map[string]any{}},
		{"config-get empty output", "config-get", "",
			func(c *juju.Client) (any, error) { return c.ConfigGet(ctx) }, map[string]any{}},
		{"is-leader true", "is-leader", "true\n",
			func(c *juju.Client) (any, error) { return c.IsLeader(ctx) }, true},
		{"is-leader false", "is-leader", "false",
			func(c *juju.Client) (any, error) { return c.IsLeader(ctx) }, false},
		{"status-get", "status-get", `{"message":"ready","status":"active","status-data":{}}`,
			func(c *juju.Client) (any, error) { return c.StatusGet(ctx) }, juju.Status{State: juju.Active, Message: "ready"}},
		{"storage-list", "storage-list", `["concourse-data/0","concourse-data/1"]`,
			func(c *juju.Client) (any, error) { return c.StorageList(ctx, "") }, []string{"concourse-data/0", "concourse-data/1"}},
		{"storage-list empty", "storage-list", `[]`,
			func(c *juju.Client) (any, error) { return c.StorageList(ctx, "") }, []string{}},
		{"storage-list null", "storage-list", `null`,
			func(c *juju.Client) (any, error) { return c.StorageList(ctx, "") }, []string(nil)},
		{"storage-get", "storage-get", `{"kind":"filesystem","location":"/var/lib/concourse-data"}`,
			func(c *juju.Client) (any, error) { return c.StorageGet(ctx, "concourse-data/0") },
			juju.StorageInfo{Kind: "filesystem", Location: "/var/lib/concourse-data"}},
		{"relation-ids", "relation-ids", `["peers:0"]`,
			func(c *juju.Client) (any, error) { return c.RelationIDs(ctx, "peers") }, []string{"peers:0"}},
		{"relation-list", "relation-list", `["concourse/1","concourse/2"]`,
			func(c *juju.Client) (any, error) { return c.RelationList(ctx, "peers:0") }, []string{"concourse/1", "concourse/2"}},
		{"relation-list null", "relation-list", "null",
			func(c *juju.Client) (any, error) { return c.RelationList(ctx, "peers:0") }, []string(nil)},
		{"relation-list --app", "relation-list", `"postgresql"` + "\n",
			func(c *juju.Client) (any, error) { return c.RelationListApp(ctx, "db:1") }, "postgresql"},
		{"relation-get", "relation-get", `{"egress-subnets":"10.0.0.5/32","private-address":"10.0.0.5"}`,
			func(c *juju.Client) (any, error) { return c.RelationGet(ctx, "peers:0", "concourse/1", false) },
			map[string]string{"egress-subnets": "10.0.0.5/32", "private-address": "10.0.0.5"}},
		{"relation-get null bag", "relation-get", "null",
			func(c *juju.Client) (any, error) { return c.RelationGet(ctx, "peers:0", "concourse", true) }, map[string]string{}},
		{"relation-get empty bag", "relation-get", "{}",
			func(c *juju.Client) (any, error) { return c.RelationGet(ctx, "peers:0", "concourse", true) }, map[string]string{}},
		{"opened-ports", "opened-ports", `["9000-9010/udp","8080/tcp","icmp","2222/tcp"]`,
			func(c *juju.Client) (any, error) { return c.OpenedPorts(ctx) },
			[]juju.Port{{Protocol: "icmp"}, {Protocol: "tcp", Number: 2222}, {Protocol: "tcp", Number: 8080}, {Protocol: "udp", Number: 9000, To: 9010}}},
		{"opened-ports none", "opened-ports", "[]",
			func(c *juju.Client) (any, error) { return c.OpenedPorts(ctx) }, []juju.Port{}},
		{"action-get nested", "action-get", `{"count":3,"opts":{"ratio":1.5,"names":["a",2]}}`,
			func(c *juju.Client) (any, error) { return c.ActionGet(ctx) },
			map[string]any{"count": int64(3), "opts": map[string]any{"ratio": 1.5, "names": []any{"a", int64(2)}}}},
		{"action-get null", "action-get", "null",
			func(c *juju.Client) (any, error) { return c.ActionGet(ctx) }, map[string]any{}},
		{"secret-get", "secret-get", `{"password":"pw","username":"admin"}`,
			func(c *juju.Client) (any, error) { return c.SecretGet(ctx, juju.SecretGetOptions{ID: "secret:x"}) },
			map[string]string{"password": "pw", "username": "admin"}},
		{"secret-ids list", "secret-ids", `["secret:b","secret:a"]`,
			func(c *juju.Client) (any, error) { return c.SecretIDs(ctx) }, []string{"secret:a", "secret:b"}},
		{"secret-ids null", "secret-ids", "null\n",
			func(c *juju.Client) (any, error) { return c.SecretIDs(ctx) }, []string(nil)},
		{"secret-ids map form", "secret-ids", `{"secret:b":"lb","secret:a":""}`,
			func(c *juju.Client) (any, error) { return c.SecretIDs(ctx) }, []string{"secret:a", "secret:b"}},
		{"secret-add id", "secret-add", "secret:cq0abc\n",
			func(c *juju.Client) (any, error) {
				return c.SecretAdd(ctx, map[string]string{"password": "x"}, juju.SecretAddOptions{})
			}, "secret:cq0abc"},
		{"resource-get bare path", "resource-get", "/var/lib/juju/agents/unit-c-0/resources/concourse/concourse.tgz",
			func(c *juju.Client) (any, error) { return c.ResourceGet(ctx, "concourse") },
			"/var/lib/juju/agents/unit-c-0/resources/concourse/concourse.tgz"},
		{"resource-get trailing newline", "resource-get", "/r/x.tgz\n",
			func(c *juju.Client) (any, error) { return c.ResourceGet(ctx, "concourse") }, "/r/x.tgz"},
		{"unit-get", "unit-get", `"10.1.2.3"` + "\n",
			func(c *juju.Client) (any, error) { return c.UnitGetPrivateAddress(ctx) }, "10.1.2.3"},
		{"leader-get", "leader-get", `{"a":"1"}`,
			func(c *juju.Client) (any, error) { return c.LeaderGet(ctx) }, map[string]string{"a": "1"}},
		{"network-get", "network-get", `{"bind-addresses":[{"mac-address":"00:16:3e:aa:bb:cc","interface-name":"eth0",` +
			`"addresses":[{"hostname":"","value":"10.0.0.7","cidr":"10.0.0.0/24"}]}],` +
			`"egress-subnets":["10.0.0.7/32"],"ingress-addresses":["10.0.0.7"]}`,
			func(c *juju.Client) (any, error) { return c.NetworkGet(ctx, "web") },
			juju.NetworkInfo{
				BindAddresses: []juju.BindAddress{{MACAddress: "00:16:3e:aa:bb:cc", InterfaceName: "eth0",
					Addresses: []juju.InterfaceAddress{{Value: "10.0.0.7", CIDR: "10.0.0.0/24"}}}},
				EgressSubnets:    []string{"10.0.0.7/32"},
				IngressAddresses: []string{"10.0.0.7"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.call(client(tt.tool, tt.output))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name   string
		tool   string
		output string
		call   func(*juju.Client) error
		want   string
	}{
		{"config-get not JSON", "config-get", "port: 8080\n", func(c *juju.Client) error { _, err := c.ConfigGet(ctx); return err }, "config-get"},
		{"is-leader smart output", "is-leader", "True", func(c *juju.Client) error { _, err := c.IsLeader(ctx); return err }, "is-leader"},
		{"opened-ports bad entry", "opened-ports", `["80/sctp"]`, func(c *juju.Client) error { _, err := c.OpenedPorts(ctx); return err }, "opened-ports"},
		{"relation-get non-string value", "relation-get", `{"a":1}`, func(c *juju.Client) error {
			_, err := c.RelationGet(ctx, "r:1", "u/0", false)
			return err
		}, "relation-get"},
		{"resource-get nothing", "resource-get", "\n", func(c *juju.Client) error { _, err := c.ResourceGet(ctx, "concourse"); return err }, "no path"},
		{"secret-add no id", "secret-add", "", func(c *juju.Client) error {
			_, err := c.SecretAdd(ctx, map[string]string{"password": "x"}, juju.SecretAddOptions{})
			return err
		}, "no secret id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call(client(tt.tool, tt.output))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestNetworkInfoAddresses(t *testing.T) {
	t.Parallel()
	bind := []juju.BindAddress{{Addresses: []juju.InterfaceAddress{{Value: ""}, {Value: "10.0.0.9"}}}}
	tests := []struct {
		name        string
		info        juju.NetworkInfo
		wantIngress string
		wantBind    string
	}{
		{"ingress preferred", juju.NetworkInfo{BindAddresses: bind, IngressAddresses: []string{"192.0.2.1"}}, "192.0.2.1", "10.0.0.9"},
		{"falls back to bind", juju.NetworkInfo{BindAddresses: bind}, "10.0.0.9", "10.0.0.9"},
		{"nothing", juju.NetworkInfo{}, "", ""},
	}
	for _, tt := range tests {
		if got := tt.info.IngressAddress(); got != tt.wantIngress {
			t.Errorf("%s: IngressAddress %q, want %q", tt.name, got, tt.wantIngress)
		}
		if got := tt.info.BindAddress(); got != tt.wantBind {
			t.Errorf("%s: BindAddress %q, want %q", tt.name, got, tt.wantBind)
		}
	}
}
