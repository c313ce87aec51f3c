// Package releasetest provides test fixtures for code that installs
// Concourse releases: a stand-in concourse binary, tarballs with the real
// release layout (optionally huge or hostile), and a loopback HTTP server
// with fault injection. It is imported only by tests.
package releasetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// standinPackage is the stand-in's import path inside this module.
const standinPackage = "./tests/standin/concourse"

var plainVersion = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]*$`)

// binaryCache holds compiled stand-ins for this test process. It is
// package-level on purpose: the whole point is that every test and every
// package helper shares one build per version, and a value threaded
// through each test would not be shared. It caches nothing but immutable
// build outputs, keyed by version; RunTests removes its directory.
var binaryCache = struct {
	mu     sync.Mutex
	dir    string
	builds map[string]*build
}{builds: map[string]*build{}}

type build struct {
	once sync.Once
	path string
	err  error
}

// BuildStandin compiles tests/standin/concourse with main.version set to
// version (CGO_ENABLED=0, -trimpath), once per version per process, and
// returns the binary's path. Callers must not modify the file.
func BuildStandin(version string) (string, error) {
	if !plainVersion.MatchString(version) {
		return "", fmt.Errorf("stand-in version %q: not a plain version", version)
	}
	b, dir, err := cacheEntry(version)
	if err != nil {
		return "", err
	}
	b.once.Do(func() { b.path, b.err = compileStandin(dir, version) })
	return b.path, b.err
}

// Standin is BuildStandin for tests: it fails tb on error.
func Standin(tb testing.TB, version string) string {
	tb.Helper()
	p, err := BuildStandin(version)
	if err != nil {
		tb.Fatalf("build stand-in %s: %v", version, err)
	}
	return p
}

// RunTests runs m and then removes the stand-in cache. Use it as
// `func TestMain(m *testing.M) { os.Exit(releasetest.RunTests(m)) }` in
// any package that builds stand-ins, so no binaries are left in $TMPDIR.
func RunTests(m *testing.M) int {
	code := m.Run()
	binaryCache.mu.Lock()
	defer binaryCache.mu.Unlock()
	if binaryCache.dir != "" {
		if err := os.RemoveAll(binaryCache.dir); err != nil {
			fmt.Fprintf(os.Stderr, "releasetest: remove stand-in cache: %v\n", err)
		}
		binaryCache.dir = ""
		binaryCache.builds = map[string]*build{}
	}
	return code
}

func cacheEntry(version string) (*build, string, error) {
	binaryCache.mu.Lock()
	defer binaryCache.mu.Unlock()
	if binaryCache.dir == "" {
		dir, err := os.MkdirTemp("", "releasetest-standin-")
		if err != nil {
			return nil, "", fmt.Errorf("stand-in cache: %w", err)
		}
		binaryCache.dir = dir
	}
	b := binaryCache.builds[version]
	if b == nil {
		b = &build{}
		binaryCache.builds[version] = b
	}
	return b, binaryCache.dir, nil
}

func compileStandin(cacheDir, version string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build stand-in: %w", err)
	}
	out := filepath.Join(cacheDir, version, "concourse")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", out, standinPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build stand-in %s: %w\n%s", version, err, msg)
	}
	return out, nil
}

// moduleRoot asks the go tool, so it works from any package's test dir.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find module root: not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}
