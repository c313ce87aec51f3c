package machine

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestNetworkAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		subnet, wantHost string
		wantErr          bool
	}{
		{"10.213.0.0/24", "10.213.0.1", false},
		{"192.168.77.0/24", "192.168.77.1", false},
		{"10.213.0.0/16", "", true},
		{"10.213.0.5/24", "", true},
		{"fd00::/64", "", true},
		{"nonsense", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.subnet, func(t *testing.T) {
			t.Parallel()
			n := Network{Bridge: "b", Subnet: tt.subnet}
			_, err := n.prefix()
			if (err != nil) != tt.wantErr {
				t.Fatalf("prefix: %v, want error %v", err, tt.wantErr)
			}
			if got := n.HostIP(); got != tt.wantHost {
				t.Errorf("HostIP = %q, want %q", got, tt.wantHost)
			}
		})
	}
}

func TestProcStat(t *testing.T) {
	t.Parallel()
	self, err := lookupProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !self.alive() {
		t.Error("this process does not count as alive")
	}
	tests := []struct {
		name string
		p    proc
	}{
		{"reused pid (other start time)", proc{PID: self.PID, Start: self.Start + 1}},
		{"no pid", proc{}},
		{"gone pid", proc{PID: 1 << 30, Start: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.p.alive() {
				t.Errorf("%+v counts as alive", tt.p)
			}
		})
	}
}

func TestNoteNotification(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	tests := []struct {
		name      string
		msgs      []string
		wantReady bool
		wantErr   string
	}{
		{"status only", []string{"STATUS=Container running."}, false, ""},
		{"leader then ready", []string{"STATUS=Container running.\nX_NSPAWN_LEADER_PID=" + strconv.Itoa(pid), "READY=1"}, true, ""},
		{"ready without leader", []string{"READY=1"}, false, "without a leader pid"},
		{"bad leader", []string{"X_NSPAWN_LEADER_PID=abc"}, false, "leader pid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := &Machine{rec: record{Dir: t.TempDir()}}
			var ready bool
			var err error
			for _, msg := range tt.msgs {
				if ready, err = m.noteNotification(msg); err != nil {
					break
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || ready != tt.wantReady {
				t.Fatalf("ready %v err %v, want ready %v", ready, err, tt.wantReady)
			}
			if ready && m.rec.Leader.PID != pid {
				t.Errorf("leader %d, want %d", m.rec.Leader.PID, pid)
			}
		})
	}
}

func TestNsenterArgs(t *testing.T) {
	t.Parallel()
	m := &Machine{rec: record{Leader: proc{PID: 42}}}
	base := []string{"-t", "42", "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"}
	tests := []struct {
		name string
		cmd  Cmd
		want []string
	}{
		{"no dir", Cmd{Argv: []string{"hook", "a b"}}, append(slices.Clone(base), "hook", "a b")},
		{"root dir", Cmd{Argv: []string{"hook"}, Dir: "/"}, append(slices.Clone(base), "hook")},
		{"dir applied inside", Cmd{Argv: []string{"hook"}, Dir: "/var/lib/juju"},
			append(slices.Clone(base), "/usr/bin/env", "-C", "/var/lib/juju", "--", "hook")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := m.nsenterArgs(tt.cmd); !slices.Equal(got, tt.want) {
				t.Errorf("nsenterArgs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNspawnArgsBinds(t *testing.T) {
	t.Parallel()
	m := &Machine{rec: record{Dir: "/state/0", Name: "jsabc", Network: DefaultNetwork()}}
	args := m.nspawnArgs(Spec{
		ID: "0", ModelDir: "/model", ToolsBinary: "/tools/jujusim",
		Binds: []Bind{{HostPath: "/srv/a"}, {HostPath: "/host/b", Path: "/srv/b", ReadOnly: true}},
	})
	for _, want := range []string{
		"--boot", "--register=no", "--network-bridge=jujusim0", "--machine=jsabc", "--hostname=juju-0",
		"--bind=/model", "--bind-ro=/tools/jujusim", "--bind=/srv/a:/srv/a", "--bind-ro=/host/b:/srv/b",
		"--directory=/state/0/root",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("nspawn args lack %q: %q", want, args)
		}
	}
}

func TestWriteTar(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "d", "f"), "content")
	if err := os.Chmod(filepath.Join(src, "d", "f"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("d/f", filepath.Join(src, "l")); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(t.TempDir(), "one")
	writeFile(t, single, "x")

	tests := []struct {
		name, src, as string
		want          map[string]string // name -> type and content or link target
	}{
		{"tree", src, "opt/app", map[string]string{
			"opt/app/": "dir", "opt/app/d/": "dir", "opt/app/d/f": "file 0640 content", "opt/app/l": "link d/f",
		}},
		{"single file", single, "etc/one", map[string]string{"etc/one": "file 0644 x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := writeTar(&buf, tt.src, tt.as); err != nil {
				t.Fatal(err)
			}
			got := readTar(t, &buf)
			if len(got) != len(tt.want) {
				t.Errorf("archive holds %v, want %v", got, tt.want)
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("%s: %q, want %q", name, got[name], want)
				}
			}
		})
	}
}

func readTar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	got := map[string]string{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s carries owner names %q/%q", hdr.Name, hdr.Uname, hdr.Gname)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			got[hdr.Name] = "dir"
		case tar.TypeSymlink:
			got[hdr.Name] = "link " + hdr.Linkname
		case tar.TypeReg:
			data, _ := io.ReadAll(tr)
			got[hdr.Name] = fmt.Sprintf("file %04o %s", hdr.Mode&0o777, data)
		}
	}
}

func TestStateDirMustBePrivate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, state string
		spec        Spec
		wantErr     bool
	}{
		{"outside", "/var/lib/jujusim/m1", Spec{ID: "0", ModelDir: "/srv/model"}, false},
		{"sibling with common prefix", "/srv/model-machines", Spec{ID: "0", ModelDir: "/srv/model"}, false},
		{"inside model dir", "/srv/model/nspawn", Spec{ID: "0", ModelDir: "/srv/model"}, true},
		{"inside model dir, unclean", "/srv/model/./x/..", Spec{ID: "0", ModelDir: "/srv/model/"}, true},
		{"inside a shared bind", "/shared/state", Spec{ID: "0", Binds: []Bind{{HostPath: "/shared", Path: "/srv"}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Provider{opts: Options{StateDir: tt.state}}
			if err := p.checkStateDirPrivate(tt.spec); (err != nil) != tt.wantErr {
				t.Errorf("checkStateDirPrivate: %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestUnescapeMount(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`/tmp/a\040b`:   "/tmp/a b",
		`/tmp/back\134`: `/tmp/back\`,
		`/plain`:        "/plain",
	}
	for in, want := range tests {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
