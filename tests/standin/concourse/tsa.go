package main

// The stand-in's TSA protocol (its own, not Concourse's). Transport is SSH:
// web serves it on CONCOURSE_TSA_BIND_PORT with CONCOURSE_TSA_HOST_KEY, and
// accepts only public keys listed in CONCOURSE_TSA_AUTHORIZED_KEYS (re-read
// on SIGHUP). The worker checks the host key against every key in
// CONCOURSE_TSA_PUBLIC_KEY. The SSH user name is ignored. Every exchange is
// one session with one "exec" request; lines end in "\n":
//
//	exec "register-worker"
//	  worker -> web: one JSON line, a registration (below).
//	  web -> worker: "registered" once the row is upserted with
//	                 state=running and this web's peer address.
//	  worker -> web: "heartbeat" every heartbeatInterval; web bumps last_seen.
//	  The session stays open while the worker is connected. When it ends
//	  (EOF, connection lost, or no heartbeat for heartbeatTimeout) the web
//	  drops its peer address from the worker; a running worker left with no
//	  web at all is marked "stalled".
//	exec "land-worker"   worker -> web: {"name": ..., "containers": n}; web -> the new state:
//	                     "landing" while n > 0 (the worker drains and asks again with 0),
//	                     "landed" at 0.
//	exec "retire-worker" the same with "retiring", then "retired" (the row is deleted).
//	A draining worker that no web hears from any more is settled as Concourse's worker
//	lifecycle would: landing -> landed, retiring -> deleted (running -> stalled).
//
// Failures are written to the session's stderr with exit-status 1; success
// is exit-status 0.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	heartbeatInterval = 2 * time.Second
	heartbeatTimeout  = 5 * heartbeatInterval
)

// registration is what a worker sends on register-worker.
type registration struct {
	Name               string   `json:"name"`
	Team               string   `json:"team"`
	Tags               []string `json:"tags"`
	Platform           string   `json:"platform"`
	Version            string   `json:"version"`
	BinaryVersion      string   `json:"binary_version"`
	Runtime            string   `json:"runtime"`
	BaggageclaimDriver string   `json:"baggageclaim_driver"`
}

// workerRef names the worker for land-worker and retire-worker, with the containers it still
// runs (the drain is over at 0).
type workerRef struct {
	Name       string `json:"name"`
	Containers int    `json:"containers"`
}

// tsaServer is web's SSH side.
type tsaServer struct {
	log      *logger
	store    *store
	peer     string
	keysPath string
	config   *ssh.ServerConfig

	mu       sync.Mutex
	keys     []ssh.PublicKey
	sessions map[string]int // open register-worker sessions per worker
}

func newTSAServer(log *logger, st *store, peer, keysPath string, keys []ssh.PublicKey, hostKey ssh.Signer) *tsaServer {
	s := &tsaServer{log: log, store: st, peer: peer, keysPath: keysPath, keys: keys, sessions: map[string]int{}}
	s.config = &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			ok := hasKey(s.keys, key)
			s.mu.Unlock()
			if !ok {
				s.log.infof("tsa: rejected key %s from %s: not authorized", ssh.FingerprintSHA256(key), meta.RemoteAddr())
				return nil, errors.New("key not authorized")
			}
			return &ssh.Permissions{Extensions: map[string]string{"fingerprint": ssh.FingerprintSHA256(key)}}, nil
		},
	}
	s.config.AddHostKey(hostKey)
	return s
}

// reload re-reads the authorized keys file; a bad file keeps the old keys.
func (s *tsaServer) reload() {
	keys, err := loadAuthorizedKeys(s.keysPath)
	if err != nil {
		s.log.errorf("tsa: reload authorized keys failed, keeping the old ones: CONCOURSE_TSA_AUTHORIZED_KEYS: %v", err)
		return
	}
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
	s.log.infof("reloaded %d authorized keys", len(keys))
}

func (s *tsaServer) serve(ctx context.Context, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				s.log.errorf("tsa: accept: %v", err)
			}
			return
		}
		go s.handleConn(ctx, c)
	}
}

func (s *tsaServer) handleConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		s.log.debugf("tsa: handshake with %s failed: %v", c.RemoteAddr(), err)
		return
	}
	c.SetDeadline(time.Time{})
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	go func() {
		<-ctx.Done()
		sc.Close()
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.handleSession(ctx, ch, chReqs)
	}
}

func (s *tsaServer) handleSession(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var command string
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			req.Reply(false, nil)
			continue
		}
		command = payload.Command
		req.Reply(true, nil)
		break
	}
	if command == "" {
		return
	}
	go ssh.DiscardRequests(reqs)
	in := bufio.NewReader(ch)
	var err error
	switch command {
	case "register-worker":
		err = s.register(ctx, ch, in)
	case "land-worker", "retire-worker":
		err = s.landOrRetire(ctx, ch, in, command)
	default:
		err = fmt.Errorf("unknown command %q", command)
	}
	status := uint32(0)
	if err != nil {
		status = 1
		fmt.Fprintf(ch.Stderr(), "%s: %v\n", command, err)
		s.log.errorf("tsa: %s: %v", command, err)
	}
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}

func readJSONLine(in *bufio.Reader, v any) error {
	line, err := in.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return fmt.Errorf("read request: %w", err)
	}
	if err := json.Unmarshal([]byte(line), v); err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	return nil
}

func (s *tsaServer) register(ctx context.Context, ch ssh.Channel, in *bufio.Reader) error {
	var r registration
	if err := readJSONLine(in, &r); err != nil {
		return err
	}
	if r.Name == "" {
		return errors.New("registration has no name")
	}
	s.attach(r.Name)
	defer s.detach(ctx, r.Name)
	if err := s.store.upsert(ctx, r, s.peer); err != nil {
		return fmt.Errorf("record worker %s: %w", r.Name, err)
	}
	s.log.infof("tsa: worker %s registered (team %q, tags %q, platform %s)", r.Name, r.Team, strings.Join(r.Tags, ","), r.Platform)
	s.store.event(ctx, s.log, event{Worker: r.Name, Event: "registered", Peer: s.peer, Detail: "tags " + strings.Join(r.Tags, ",")})
	if _, err := io.WriteString(ch, "registered\n"); err != nil {
		return nil
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		for {
			line, err := in.ReadString('\n')
			if err != nil {
				return
			}
			select {
			case lines <- strings.TrimSpace(line):
			case <-ctx.Done():
				return
			}
		}
	}()
	timer := time.NewTimer(heartbeatTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			s.log.infof("tsa: worker %s missed heartbeats for %s", r.Name, heartbeatTimeout)
			ch.Close()
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if line == "heartbeat" {
				timer.Reset(heartbeatTimeout)
				if err := s.store.heartbeat(ctx, r.Name); err != nil {
					s.log.errorf("tsa: heartbeat of %s: %v", r.Name, err)
				}
			}
		}
	}
}

func (s *tsaServer) attach(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[name]++
}

// detach runs when a register-worker session ends, for whatever reason.
// At shutdown web drops its peer from every worker itself (store.dropPeer).
func (s *tsaServer) detach(ctx context.Context, name string) {
	s.mu.Lock()
	s.sessions[name]--
	left := s.sessions[name]
	if left == 0 {
		delete(s.sessions, name)
	}
	s.mu.Unlock()
	if left > 0 || ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	state, err := s.store.detach(ctx, name, s.peer)
	if err == nil {
		s.store.event(ctx, s.log, event{Worker: name, Event: "disconnected", Peer: s.peer, Detail: stateOrGone(state)})
	}
	switch {
	case err != nil:
		s.log.errorf("tsa: worker %s disconnected; recording it failed: %v", name, err)
	case state == "stalled":
		s.log.infof("tsa: worker %s disconnected without landing or retiring: stalled", name)
	case state == "":
		s.log.infof("tsa: worker %s disconnected (retired)", name)
	default:
		s.log.infof("tsa: worker %s disconnected (%s)", name, state)
	}
}

func (s *tsaServer) landOrRetire(ctx context.Context, ch ssh.Channel, in *bufio.Reader, command string) error {
	var ref workerRef
	if err := readJSONLine(in, &ref); err != nil {
		return err
	}
	state := "landed"
	switch {
	case command == "land-worker" && ref.Containers > 0:
		state = "landing"
	case command == "retire-worker" && ref.Containers > 0:
		state = "retiring"
	case command == "retire-worker":
		state = "retired"
	}
	var err error
	if state == "retired" {
		// A worker retired through another web is already gone: fine.
		if err = s.store.retire(ctx, ref.Name); errors.Is(err, errNoWorker) {
			err = nil
		}
	} else {
		err = s.store.setState(ctx, ref.Name, state)
	}
	if err != nil {
		return fmt.Errorf("worker %q: %w", ref.Name, err)
	}
	s.store.event(ctx, s.log, event{Worker: ref.Name, Event: state, Containers: ref.Containers, Peer: s.peer})
	s.log.infof("tsa: worker %s %s (%d containers)", ref.Name, state, ref.Containers)
	io.WriteString(ch, state+"\n")
	return nil
}
