package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// runRemote is `concourse land-worker|retire-worker --name NAME`: it asks a TSA to land or retire
// a worker by name, as an operator does for a worker that cannot do it itself (gone, or cut off
// from its webs). Like the real command it reads the TSA settings from CONCOURSE_TSA_HOST,
// CONCOURSE_TSA_PUBLIC_KEY and CONCOURSE_TSA_WORKER_PRIVATE_KEY (the TSA must authorize that
// key) and the name only from --name. The first TSA that accepts wins; exit 1 if none does.
func runRemote(ctx context.Context, command string, args, environ []string, stdout, stderr io.Writer) int {
	name, err := nameFlag(args)
	if err != nil {
		fmt.Fprintf(stderr, "stand-in %s: %v\n", command, err)
		return 2
	}
	e := newEnvReader(environ)
	var hosts []string
	if e.required("CONCOURSE_TSA_HOST") != "" {
		hosts = e.list("CONCOURSE_TSA_HOST")
	}
	hostKeys := e.authorizedKeys("CONCOURSE_TSA_PUBLIC_KEY", false)
	key := e.rsaKey("CONCOURSE_TSA_WORKER_PRIVATE_KEY")
	if err := e.err(); err != nil {
		return configError(stderr, command, err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return configError(stderr, command, fmt.Errorf("CONCOURSE_TSA_WORKER_PRIVATE_KEY: %v", err))
	}
	var errs []error
	for _, host := range hosts {
		reply, err := remoteCommand(ctx, host, command, name, signer, hostKeys)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", host, err))
			continue
		}
		fmt.Fprintf(stdout, "%s %s via %s\n", name, reply, host)
		return 0
	}
	fmt.Fprintf(stderr, "stand-in %s: %v\n", command, errors.Join(errs...))
	return 1
}

// nameFlag reads --name NAME or --name=NAME, the only flag the subcommands take here.
func nameFlag(args []string) (string, error) {
	switch {
	case len(args) == 0:
		return "", errors.New("the required flag `--name' was not specified")
	case len(args) == 2 && args[0] == "--name":
		return args[1], nil
	case len(args) == 1 && strings.HasPrefix(args[0], "--name="):
		return strings.TrimPrefix(args[0], "--name="), nil
	}
	return "", fmt.Errorf("unexpected arguments %q (usage: --name NAME)", args)
}

// remoteCommand runs one land-worker or retire-worker exchange with the TSA at host and returns
// the TSA's reply ("landed", "retired").
func remoteCommand(ctx context.Context, host, command, name string, signer ssh.Signer, hostKeys []ssh.PublicKey) (string, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	sc, chans, reqs, err := ssh.NewClientConn(conn, host, &ssh.ClientConfig{
		User: name,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if hasKey(hostKeys, key) {
				return nil
			}
			return fmt.Errorf("host key %s is not in CONCOURSE_TSA_PUBLIC_KEY", ssh.FingerprintSHA256(key))
		},
	})
	if err != nil {
		return "", err
	}
	client := ssh.NewClient(sc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	ref, _ := json.Marshal(workerRef{Name: name})
	sess.Stdin = bytes.NewReader(append(ref, '\n'))
	var errOut bytes.Buffer
	sess.Stderr = &errOut
	out, err := sess.Output(command)
	if err != nil {
		return "", fmt.Errorf("%v %s", err, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
