package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/charmpack"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/jujusim/machine"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/pgtest"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

// app is the demo's Concourse application; pgApp the PostgreSQL provider's.
const (
	app   = "concourse-ci"
	pgApp = "postgresql"
)

// build compiles what the demo runs besides the charm: the simulator, the stand-in concourse
// (static, as the release's binary) and tests/pgprovider packed as a charm.
func (d *demo) build(ctx context.Context) error {
	d.jujusim = d.path("jujusim")
	d.standin = d.path("concourse")
	dispatch := d.path("pgprovider-dispatch")
	for _, b := range []struct{ out, pkg, ldflags string }{
		{d.jujusim, "./cmd/jujusim", ""},
		{d.standin, "./tests/standin/concourse", "-X main.version=" + version},
		{dispatch, "./tests/pgprovider", ""},
	} {
		args := []string{"build", "-trimpath", "-o", b.out}
		if b.ldflags != "" {
			args = append(args, "-ldflags", b.ldflags)
		}
		if err := runCmd(ctx, "", append([]string{"go"}, append(args, b.pkg)...)...); err != nil {
			return err
		}
		fmt.Printf("    built %s\n", b.pkg)
	}
	d.provider = d.path("postgresql.charm")
	return charmpack.Pack(charmpack.Options{SourceDir: "tests/pgprovider", Dispatch: dispatch, Arch: "amd64", Version: "demo", Output: d.provider})
}

// serveRelease writes a release in the published layout (the stand-in as concourse/bin/concourse,
// padded with copies of it, so it compresses like a real one) and serves it on every interface,
// addressed to the machines through the simulator bridge's host address.
func (d *demo) serveRelease(context.Context) error {
	dir := d.path("release")
	art, err := releasetest.WriteRelease(dir, "amd64", releasetest.TarballOptions{
		Version: version, StandinPath: d.standin, PadFrom: d.standin, PadBytes: d.opts.mb << 20, Layout: releasetest.LayoutReal})
	if err != nil {
		return err
	}
	srv, err := startReleaseServer(dir, machine.DefaultNetwork().HostIP(), art)
	if err != nil {
		return err
	}
	d.server = srv
	d.onCleanup(srv.stop)
	fmt.Printf("    %s (%.1f MiB, sha1 sidecar beside it)\n", srv.url(), float64(art.Size)/(1<<20))
	return nil
}

// startPostgres starts a throw-away cluster on the bridge's host address (pgtest, as the e2e
// tests do), for tests/pgprovider to hand out databases from.
func (d *demo) startPostgres(ctx context.Context) error {
	pg, err := pgtest.StartCluster(ctx, pgtest.ForProvider("nspawn"))
	if err != nil {
		return err
	}
	d.pg = pg
	d.onCleanup(func() { _ = pg.Stop() })
	d.pgArgs = []string{"--config", "host=" + pg.Host, "--config", fmt.Sprintf("port=%d", pg.Port),
		"--config", "admin-user=" + pg.SuperUser, "--config", "admin-password=" + pg.SuperPassword}
	fmt.Printf("    PostgreSQL %s at %s\n", pg.Version, pg.Addr())
	return nil
}

// deploy is what an operator types: deploy with a shared directory, then integrate.
func (d *demo) deploy(ctx context.Context) error {
	d.model = d.path("model")
	d.shared = d.path("shared")
	if err := os.Mkdir(d.shared, 0o755); err != nil {
		return err
	}
	d.onCleanup(func() {
		if err := runCmd(context.Background(), "", d.jujusim, "--model", d.model, "destroy-model"); err != nil {
			fmt.Fprintln(os.Stderr, "demo: destroy-model:", err)
		}
	})
	cmds := [][]string{
		append([]string{"deploy", d.provider, pgApp, "--provider", "nspawn"}, d.pgArgs...),
		{"deploy", d.opts.charm, app, "-n", fmt.Sprint(d.opts.units), "--provider", "nspawn",
			"--storage", "concourse-data=1G", "--shared-dir", d.shared + ":/srv/concourse-shared",
			"--config", "shared-storage-path=/srv/concourse-shared",
			"--config", "version=" + version, "--config", "download-url=" + d.server.template()},
		{"integrate", app + ":postgresql", pgApp + ":database"},
	}
	for _, c := range cmds {
		fmt.Printf("    jujusim %s\n", redactArgs(c))
		if err := runCmd(ctx, "", append([]string{d.jujusim, "--model", d.model}, c...)...); err != nil {
			return err
		}
	}
	return nil
}

// redactArgs hides the superuser password from the echoed command line.
func redactArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "admin-password=") {
			a = "admin-password=..."
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// checkWorkers asks the web, with the admin password from its action, which workers registered.
func (d *demo) checkWorkers(ctx context.Context) error {
	st, err := d.status(ctx)
	if err != nil {
		return err
	}
	web := webUnit(st)
	if web == "" {
		return fmt.Errorf("no unit says it runs the web")
	}
	out, err := output(ctx, d.jujusim, "--model", d.model, "run", web, "get-admin-password", "--format", "json")
	if err != nil {
		return err
	}
	user, pw := findString(out, "username"), findString(out, "password")
	addr := st.Machines[st.Applications[app].Units[web].Machine].IPAddresses[0]
	fmt.Printf("    web %s at http://%s:8080 (fly -t demo login -c http://%s:8080 -u %s)\n", web, addr, addr, user)
	workers, err := d.registeredWorkers(ctx, fmt.Sprintf("http://%s:8080/api/v1/workers", addr), user, pw)
	for _, w := range workers {
		fmt.Printf("    worker %-20s %s\n", w.Name, w.State)
	}
	return err
}

type worker struct{ Name, State string }

// registeredWorkers asks the web until every worker unit runs, for a minute at most: workers dial
// the TSA on their own schedule, after the hooks that started them.
func (d *demo) registeredWorkers(ctx context.Context, url, user, pw string) ([]worker, error) {
	want := max(d.opts.units-1, 1)
	deadline := time.Now().Add(time.Minute)
	for {
		var workers []worker
		err := getJSON(ctx, url, user, pw, &workers)
		running := 0
		for _, w := range workers {
			if w.State == "running" {
				running++
			}
		}
		if err == nil && running == want {
			return workers, nil
		}
		if time.Now().After(deadline) {
			return workers, fmt.Errorf("the web lists %d running workers after a minute (%v), want %d", running, err, want)
		}
		select {
		case <-ctx.Done():
			return workers, ctx.Err()
		case <-time.After(time.Second): // polling an external service for the operator's eyes
		}
	}
}

func getJSON(ctx context.Context, url, user, pw string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(user, pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// findString finds key in an action's JSON output (`juju run` nests results under the unit).
func findString(out, key string) string {
	i := strings.Index(out, "{")
	if i < 0 {
		return ""
	}
	var v any
	if json.Unmarshal([]byte(out[i:]), &v) != nil {
		return ""
	}
	return find(v, key)
}

func find(v any, key string) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if s, ok := m[key].(string); ok {
		return s
	}
	for _, e := range m {
		if s := find(e, key); s != "" {
			return s
		}
	}
	return ""
}

// runCmd runs a command with its output shown only when it fails.
func runCmd(ctx context.Context, dir string, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(argv[0])+" "+strings.Join(argv[1:min(len(argv), 4)], " "), err, out)
	}
	return nil
}

func output(ctx context.Context, argv ...string) (string, error) {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(argv[1:min(len(argv), 6)], " "), err)
	}
	return string(out), nil
}

// hostPort joins the host the machines use with the port ln got.
func hostPort(host string, ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return net.JoinHostPort(host, port)
}
