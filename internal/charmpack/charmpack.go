// Package charmpack packs the charm into a .charm archive without charmcraft.
//
// The archive is what `charmcraft pack` would produce for a charm whose code is one static binary:
// metadata.yaml, config.yaml, actions.yaml, README.md, a generated manifest.yaml (bases), a version
// file, `dispatch` (mode 0755: Juju only fixes the exec bit of hooks/*), and one hooks/<name> symlink
// to ../dispatch for every hook Juju can emit for this metadata. Entries are sorted and stamped with a
// fixed time so that the same inputs give the same bytes.
package charmpack

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/juju/charm/v12"
	"gopkg.in/yaml.v3"
)

// Options says what to pack.
type Options struct {
	SourceDir string // holds metadata.yaml, config.yaml, actions.yaml, README.md
	Dispatch  string // path of the built charm binary
	Arch      string // amd64 or arm64
	Version   string // written to the archive's `version` file
	Output    string // the .charm file to write
}

// The one base the charm runs on; charmcraft.yaml says the same.
const (
	baseName    = "ubuntu"
	baseChannel = "24.04"
)

// copiedFiles are copied when present; metadata.yaml is required.
func copiedFiles() []string {
	return []string{"metadata.yaml", "config.yaml", "actions.yaml", "README.md", "icon.svg", "LICENSE"}
}

// fixedTime stamps every entry: zip cannot store times before 1980.
func fixedTime() time.Time { return time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC) }

// HookNames returns, sorted, every hook Juju may run for the charm whose metadata.yaml is in dir.
func HookNames(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "metadata.yaml"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	meta, err := charm.ReadMeta(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	var names []string
	for name := range meta.Hooks() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// Manifest returns manifest.yaml for one architecture.
func Manifest(arch string) ([]byte, error) {
	type base struct {
		Name          string   `yaml:"name"`
		Channel       string   `yaml:"channel"`
		Architectures []string `yaml:"architectures"`
	}
	return yaml.Marshal(map[string]any{
		"bases": []base{{Name: baseName, Channel: baseChannel, Architectures: []string{arch}}},
	})
}

// Pack writes the archive described by opts.
func Pack(opts Options) error {
	if opts.Arch != "amd64" && opts.Arch != "arm64" {
		return fmt.Errorf("pack: architecture %q: want amd64 or arm64", opts.Arch)
	}
	hooks, err := HookNames(opts.SourceDir)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	manifest, err := Manifest(opts.Arch)
	if err != nil {
		return fmt.Errorf("pack: manifest: %w", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w := entryWriter{zw: zw}
	for _, name := range copiedFiles() {
		data, err := os.ReadFile(filepath.Join(opts.SourceDir, name))
		if os.IsNotExist(err) && name != "metadata.yaml" {
			continue
		}
		if err != nil {
			return fmt.Errorf("pack: %w", err)
		}
		w.file(name, 0o644, data)
	}
	w.file("manifest.yaml", 0o644, manifest)
	w.file("version", 0o644, []byte(opts.Version+"\n"))
	if err := w.fromFile("dispatch", 0o755, opts.Dispatch); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	w.dir("hooks/")
	for _, hook := range hooks {
		w.symlink("hooks/"+hook, "../dispatch")
	}
	if w.err != nil {
		return fmt.Errorf("pack: %w", w.err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	return writeFileAtomic(opts.Output, buf.Bytes())
}

// LinkHooks makes dir/<hook> a symlink to ../dispatch for every hook, and removes links that are
// no longer hooks, so that the repository's hooks/ directory matches metadata.yaml (charmcraft
// dumps it as it is).
func LinkHooks(srcDir, hooksDir string) error {
	hooks, err := HookNames(srcDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(hooksDir, 0o755); err != nil {
		return err
	}
	want := make(map[string]bool, len(hooks))
	for _, hook := range hooks {
		want[hook] = true
		path := filepath.Join(hooksDir, hook)
		if target, err := os.Readlink(path); err == nil && target == "../dispatch" {
			continue
		}
		_ = os.Remove(path)
		if err := os.Symlink("../dispatch", path); err != nil {
			return fmt.Errorf("link hook: %w", err)
		}
	}
	entries, err := os.ReadDir(hooksDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !want[e.Name()] {
			if err := os.Remove(filepath.Join(hooksDir, e.Name())); err != nil {
				return fmt.Errorf("remove stale hook: %w", err)
			}
		}
	}
	return nil
}

// entryWriter keeps the first error so that Pack reads as a list of entries.
type entryWriter struct {
	zw  *zip.Writer
	err error
}

func (w *entryWriter) create(name string, mode os.FileMode) io.Writer {
	if w.err != nil {
		return nil
	}
	hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: fixedTime()}
	hdr.SetMode(mode)
	out, err := w.zw.CreateHeader(hdr)
	w.err = err
	return out
}

func (w *entryWriter) file(name string, perm os.FileMode, data []byte) {
	if out := w.create(name, perm); out != nil {
		_, w.err = out.Write(data)
	}
}

func (w *entryWriter) fromFile(name string, perm os.FileMode, src string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	w.file(name, perm, data)
	return nil
}

func (w *entryWriter) dir(name string) {
	w.create(name, os.ModeDir|0o755)
}

// symlink stores a link the way Info-ZIP does: Unix mode with S_IFLNK, the target as content.
func (w *entryWriter) symlink(name, target string) {
	if out := w.create(name, os.ModeSymlink|0o777); out != nil {
		_, w.err = io.WriteString(out, target)
	}
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".charm-*")
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("pack: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("pack: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pack: write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
