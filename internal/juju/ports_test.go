package juju_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju/jujutest"
)

func TestParsePort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    juju.Port
		wantStr string
		wantErr bool
	}{
		{in: "8080/tcp", want: juju.TCP(8080), wantStr: "8080/tcp"},
		{in: "8080", want: juju.TCP(8080), wantStr: "8080/tcp"},
		{in: "53/UDP", want: juju.Port{Protocol: "udp", Number: 53}, wantStr: "53/udp"},
		{in: "1000-2000/udp", want: juju.Port{Protocol: "udp", Number: 1000, To: 2000}, wantStr: "1000-2000/udp"},
		{in: "7-7/tcp", want: juju.TCP(7), wantStr: "7/tcp"},
		{in: "icmp", want: juju.Port{Protocol: "icmp"}, wantStr: "icmp"},
		{in: " 22/tcp\n", want: juju.TCP(22), wantStr: "22/tcp"},
		{in: "0/tcp", wantErr: true},
		{in: "65536/tcp", wantErr: true},
		{in: "2000-1000/tcp", wantErr: true},
		{in: "80/sctp", wantErr: true},
		{in: "80/icmp", wantErr: true},
		{in: "http", wantErr: true},
		{in: "80-x/tcp", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := juju.ParsePort(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParsePort(%q) = %v, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want || got.String() != tt.wantStr {
			t.Errorf("ParsePort(%q) = %#v (%q), %v; want %#v (%q)", tt.in, got, got.String(), err, tt.want, tt.wantStr)
		}
	}
}

func TestSyncPorts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opened string
		want   []juju.Port
		calls  [][]string // after the opened-ports query
	}{
		{"nothing to do", `["8080/tcp","2222/tcp"]`, []juju.Port{juju.TCP(2222), juju.TCP(8080)}, nil},
		{"equivalent spellings are the same port", `["8080/tcp"]`, []juju.Port{{Protocol: "TCP", Number: 8080, To: 8080}}, nil},
		{"open missing in order", `null`, []juju.Port{juju.TCP(8080), juju.TCP(2222), {Protocol: "udp", Number: 53}},
			[][]string{{"open-port", "2222/tcp"}, {"open-port", "8080/tcp"}, {"open-port", "53/udp"}}},
		{"close extra in order", `["9000-9100/tcp","2222/tcp","8080/tcp","icmp"]`, []juju.Port{juju.TCP(8080)},
			[][]string{{"close-port", "icmp"}, {"close-port", "2222/tcp"}, {"close-port", "9000-9100/tcp"}}},
		{"close before open", `["8080/tcp","9000-9100/tcp"]`, []juju.Port{juju.TCP(8080), {Protocol: "tcp", Number: 9000, To: 9200}, juju.TCP(443)},
			[][]string{{"close-port", "9000-9100/tcp"}, {"open-port", "443/tcp"}, {"open-port", "9000-9200/tcp"}}},
		{"close everything", `["8080/tcp"]`, nil, [][]string{{"close-port", "8080/tcp"}}},
		{"duplicates opened once", `[]`, []juju.Port{juju.TCP(80), juju.TCP(80)}, [][]string{{"open-port", "80/tcp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := jujutest.New()
			fake.SetOutput("opened-ports", tt.opened)
			if err := juju.NewClient(fake).SyncPorts(context.Background(), tt.want); err != nil {
				t.Fatal(err)
			}
			argv := fake.Argv()
			if len(argv) == 0 || !slices.Equal(argv[0], []string{"opened-ports", "--format=json"}) {
				t.Fatalf("first call %q, want opened-ports", argv)
			}
			got := argv[1:]
			if len(got) != len(tt.calls) {
				t.Fatalf("calls %q, want %q", got, tt.calls)
			}
			for i := range got {
				if !slices.Equal(got[i], tt.calls[i]) {
					t.Fatalf("calls %q, want %q", got, tt.calls)
				}
			}
		})
	}
}

func TestSyncPortsStopsAtFirstFailure(t *testing.T) {
	t.Parallel()
	fake := jujutest.New()
	fake.SetOutput("opened-ports", `[]`)
	fake.SetErrorFor("open-port", []string{"443/tcp"}, 1, "ERROR cannot open port")
	err := juju.NewClient(fake).SyncPorts(context.Background(), []juju.Port{juju.TCP(8080), juju.TCP(443)})
	if err == nil || !strings.Contains(err.Error(), "cannot open port") {
		t.Fatalf("got %v, want the open-port failure", err)
	}
	if n := len(fake.Calls("open-port")); n != 1 {
		t.Fatalf("%d open-port calls after a failure, want 1", n)
	}
}
