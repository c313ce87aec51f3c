package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/releasetest"
)

const (
	standinVersion = "7.99.1"
	waitTimeout    = 30 * time.Second
	adminUser      = "admin"
	adminPassword  = "correct horse battery"
)

// binary builds the stand-in once per test process (releasetest caches it).
func binary(t *testing.T) string {
	t.Helper()
	return releasetest.Standin(t, standinVersion)
}

// keypair is an RSA key written as a PEM file, with its authorized_keys line.
type keypair struct {
	path    string
	pub     ssh.PublicKey
	authKey string
}

func newKey(t *testing.T, dir, name string, pkcs8 bool) keypair {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	if pkcs8 {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	path := filepath.Join(dir, name)
	writeFile(t, path, string(pem.EncodeToMemory(block)))
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return keypair{path: path, pub: pub, authKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + name}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// proc is a running stand-in whose combined output is collected by line.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // from Wait, valid once exited is closed

	mu     sync.Mutex
	buf    []byte
	lines  []string
	notify chan struct{} // closed and replaced on every new line
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.lines = append(p.lines, string(p.buf[:i]))
		p.buf = p.buf[i+1:]
		close(p.notify)
		p.notify = make(chan struct{})
	}
	return len(b), nil
}

// start runs the stand-in with exactly env (plus PATH), killing it at cleanup.
func start(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, exited: make(chan struct{}), notify: make(chan struct{})}
	p.cmd = exec.Command(binary(t), args...)
	p.cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(args, " "), p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n") + string(p.buf)
}

// waitLine waits for an output line containing want and returns it; it
// fails the test if the process exits or waitTimeout passes first.
func (p *proc) waitLine(want string) string {
	p.t.Helper()
	line, err := p.awaitLine(want)
	if err != nil {
		p.t.Fatalf("waiting for %q: %v", want, err)
	}
	return line
}

func (p *proc) awaitLine(want string) (string, error) {
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	exited := false
	for {
		p.mu.Lock()
		for _, l := range append(p.lines[:len(p.lines):len(p.lines)], string(p.buf)) {
			if strings.Contains(l, want) {
				p.mu.Unlock()
				return l, nil
			}
		}
		notify := p.notify
		p.mu.Unlock()
		if exited { // Wait returned, so every byte of output is in
			return "", fmt.Errorf("process exited (%v)", p.err)
		}
		select {
		case <-notify:
		case <-p.exited:
			exited = true
		case <-deadline.C:
			return "", errors.New("timed out")
		}
	}
}

// wait returns the exit code, failing if the process outlives waitTimeout.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		p.t.Fatalf("process still running after %s", waitTimeout)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("wait: %v", p.err)
	}
	return 0
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// runToExit runs the stand-in to completion and returns code and output.
func runToExit(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	p := start(t, env, args...)
	return p.wait(), p.output()
}

var fieldRE = regexp.MustCompile(`(\w+)=(\S+)`)

// fields parses key=value pairs from a log line.
func fields(line string) map[string]string {
	out := map[string]string{}
	for _, m := range fieldRE.FindAllStringSubmatch(line, -1) {
		out[m[1]] = m[2]
	}
	return out
}
