package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Store reads and writes a model directory's state.json under the lock.
type Store struct {
	Dir string
}

// ErrNoModel is returned when the directory holds no model.
var ErrNoModel = errors.New("no model here (run deploy first)")

func (s Store) statePath() string { return filepath.Join(s.Dir, "state.json") }

// lock takes an exclusive flock on state.lock. Every open() is a separate
// open file description, so goroutines of one process exclude each other too.
func (s Store) lock() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, "state.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open model lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock model: %w", err)
	}
	return f, nil
}

// Init creates the model directory and an empty model unless one exists.
func (s Store) Init(name, uuid string) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("create model dir: %w", err)
	}
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Close()
	if _, err := os.Stat(s.statePath()); err == nil {
		return nil
	}
	return s.write(NewModel(name, uuid))
}

// Update runs fn on the model under the lock and saves the model if fn
// returns nil. On error nothing is written.
func (s Store) Update(fn func(*Model) error) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Close()
	m, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(m); err != nil {
		return err
	}
	return s.write(m)
}

// View runs fn on a consistent snapshot of the model.
func (s Store) View(fn func(*Model) error) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	m, err := s.read()
	l.Close()
	if err != nil {
		return err
	}
	return fn(m)
}

func (s Store) read() (*Model, error) {
	data, err := os.ReadFile(s.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoModel
	}
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	m := &Model{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", s.statePath(), err)
	}
	m.init()
	return m, nil
}

// write replaces state.json atomically; it is 0600 because relation data
// and secrets may hold credentials.
func (s Store) write(m *Model) error {
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("encode model: %w", err)
	}
	tmp := s.statePath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	if err := os.Rename(tmp, s.statePath()); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	return nil
}
