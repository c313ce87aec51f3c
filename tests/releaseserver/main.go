// Command releaseserver serves fixture releases for system tests: the same
// handler as releasetest.StartServer (Range/If-Range/ETag, request counts at
// GET /_stats), as a standalone process.
//
//	releaseserver --dir DIR [--addr 127.0.0.1:0] [--write-version V --arch amd64 --pad-mb N --standin PATH]
//
// With --write-version it first writes a release into DIR. It prints the
// base URL on stdout, then serves until SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "releaseserver:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "directory to serve (required)")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	version := flag.String("write-version", "", "write a fixture release of this version into --dir first")
	arch := flag.String("arch", "amd64", "architecture of the written release")
	padMB := flag.Int64("pad-mb", 0, "synthetic size of the written release in MiB")
	standin := flag.String("standin", "", "binary to ship as concourse/bin/concourse (default: a shell script)")
	flag.Parse()
	if *dir == "" {
		return errors.New("--dir is required")
	}
	if *version != "" {
		opts := releasetest.TarballOptions{Version: *version, PadBytes: *padMB << 20, StandinPath: *standin}
		if _, err := releasetest.WriteRelease(*dir, *arch, opts); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	h := releasetest.NewHandler(*dir)
	srv := &http.Server{Handler: h}
	fmt.Printf("http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		h.Close()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
