// Package tests holds the tests that look at the charm from the outside: the packed .charm read as
// Juju reads it, and the built binary run with fake hook tools.
package tests

import (
	"archive/zip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/juju/charm/v12"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/charmpack"
)

// repoRoot is the project root: tests run in their package directory.
const repoRoot = ".."

// buildCharm builds the charm binary and packs it, once per test binary run per architecture.
func buildCharm(t *testing.T, arch string) (binary, charmFile string) {
	t.Helper()
	dir := t.TempDir()
	binary = filepath.Join(dir, "dispatch")
	cmd := exec.Command("go", "build", "-trimpath", "-o", binary, "./cmd/concourse-charm")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	charmFile = filepath.Join(dir, "concourse-ci-machine_"+arch+".charm")
	err := charmpack.Pack(charmpack.Options{
		SourceDir: repoRoot, Dispatch: binary, Arch: arch, Version: "test", Output: charmFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	return binary, charmFile
}

func TestPackedCharmIsReadAsJujuReadsIt(t *testing.T) {
	t.Parallel()
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			_, path := buildCharm(t, arch)
			ch, err := charm.ReadCharmArchive(path)
			if err != nil {
				t.Fatalf("juju/charm rejects the archive: %v", err)
			}
			if err := charm.CheckMeta(ch); err != nil {
				t.Fatalf("metadata check: %v", err)
			}
			if got := charm.MetaFormat(ch); got != charm.FormatV2 {
				t.Errorf("metadata format %v, want v2 (manifest with bases)", got)
			}
			checkMeta(t, ch.Meta())
			checkManifest(t, ch.Manifest(), arch)
			checkConfig(t, ch.Config())
			checkActions(t, ch.Actions())
			if ch.Version() != "test" {
				t.Errorf("version file %q, want test", ch.Version())
			}
			checkZipEntries(t, path, ch.Meta())
			checkExpanded(t, ch)
		})
	}
}

func checkMeta(t *testing.T, meta *charm.Meta) {
	t.Helper()
	if meta.Name != "concourse-ci-machine" {
		t.Errorf("name %q", meta.Name)
	}
	st, ok := meta.Storage["concourse-data"]
	if !ok || st.Type != charm.StorageFilesystem || st.Shared || st.Location != "/var/lib/concourse-data" || st.CountMax != 1 {
		t.Errorf("storage concourse-data = %+v, want one unshared filesystem at /var/lib/concourse-data", st)
	}
	want := map[string]struct {
		role  charm.RelationRole
		iface string
	}{
		"cluster":    {charm.RolePeer, "concourse_ci_cluster"},
		"tsa":        {charm.RoleProvider, "concourse_tsa"},
		"flight":     {charm.RoleRequirer, "concourse_tsa"},
		"postgresql": {charm.RoleRequirer, "postgresql_client"},
	}
	for name, w := range want {
		rel, ok := meta.CombinedRelations()[name]
		if !ok || rel.Role != w.role || rel.Interface != w.iface {
			t.Errorf("relation %s = %+v, want role %s interface %s", name, rel, w.role, w.iface)
		}
	}
	if _, ok := meta.Resources["concourse-release"]; !ok {
		t.Error("resource concourse-release missing")
	}
}

func checkManifest(t *testing.T, m *charm.Manifest, arch string) {
	t.Helper()
	if m == nil || len(m.Bases) != 1 {
		t.Fatalf("manifest %+v, want one base", m)
	}
	b := m.Bases[0]
	if b.Name != "ubuntu" || b.Channel.Track != "24.04" || len(b.Architectures) != 1 || b.Architectures[0] != arch {
		t.Errorf("manifest base %+v, want ubuntu 24.04 %s", b, arch)
	}
}

// checkConfig validates every default against its declared type, as `juju deploy` does.
func checkConfig(t *testing.T, cfg *charm.Config) {
	t.Helper()
	for _, key := range []string{"mode", "version", "download-url", "checksum", "shared-storage-path", "shared-storage-require-mount", "log-level"} {
		if _, ok := cfg.Options[key]; !ok {
			t.Errorf("config option %s missing", key)
		}
	}
	if _, err := cfg.ValidateSettings(cfg.DefaultSettings()); err != nil {
		t.Errorf("defaults do not match their types: %v", err)
	}
	if _, err := cfg.ParseSettingsStrings(map[string]string{"shared-storage-require-mount": "maybe"}); err == nil {
		t.Error("a boolean option accepted \"maybe\"")
	}
	if v := cfg.DefaultSettings()["version"]; v == "latest" || v == "" {
		t.Errorf("default version %q is not pinned", v)
	}
}

func checkActions(t *testing.T, actions *charm.Actions) {
	t.Helper()
	if len(actions.ActionSpecs) == 0 {
		t.Fatal("no actions")
	}
	for name, spec := range actions.ActionSpecs {
		params, err := spec.InsertDefaults(map[string]any{})
		if err != nil {
			t.Errorf("action %s defaults: %v", name, err)
			continue
		}
		if err := spec.ValidateParams(params); err != nil {
			t.Errorf("action %s rejects its own defaults: %v", name, err)
		}
		if err := spec.ValidateParams(map[string]any{"no-such-param": 1}); err == nil {
			t.Errorf("action %s accepts unknown parameters", name)
		}
	}
}

// checkZipEntries looks at the raw zip: dispatch must carry 0755 itself, every hook is a symlink.
func checkZipEntries(t *testing.T, path string, meta *charm.Meta) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	links := map[string]bool{}
	for _, f := range zr.File {
		switch {
		case f.Name == "dispatch":
			if f.Mode().Perm() != 0o755 || !f.Mode().IsRegular() {
				t.Errorf("dispatch mode %v, want -rwxr-xr-x", f.Mode())
			}
		case filepath.Dir(f.Name) == "hooks" && f.Mode()&os.ModeSymlink != 0:
			links[filepath.Base(f.Name)] = true
		}
	}
	var missing []string
	for hook := range meta.Hooks() {
		if !links[hook] {
			missing = append(missing, hook)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("hooks without a symlink: %v", missing)
	}
}

// checkExpanded unpacks as the unit agent does and checks every hook resolves to an executable.
func checkExpanded(t *testing.T, ch *charm.CharmArchive) {
	t.Helper()
	dir := t.TempDir()
	if err := ch.ExpandTo(dir); err != nil {
		t.Fatalf("expand: %v", err)
	}
	for hook := range ch.Meta().Hooks() {
		fi, err := os.Stat(filepath.Join(dir, "hooks", hook))
		if err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("hooks/%s does not resolve to an executable: %v", hook, err)
		}
	}
}

// TestRepositoryHooksMatchMetadata keeps hooks/ (dumped by charmcraft) in step with metadata.yaml.
func TestRepositoryHooksMatchMetadata(t *testing.T) {
	t.Parallel()
	want, err := charmpack.HookNames(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(repoRoot, "hooks"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(repoRoot, "hooks", e.Name()))
		if err != nil || target != "../dispatch" {
			t.Errorf("hooks/%s is not a symlink to ../dispatch", e.Name())
		}
		got = append(got, e.Name())
	}
	if len(got) != len(want) {
		t.Fatalf("hooks/ has %d entries, metadata implies %d: run `make hooks`", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("hooks/ differs from metadata at %s/%s: run `make hooks`", got[i], want[i])
		}
	}
}
