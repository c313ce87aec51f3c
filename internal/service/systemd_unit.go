package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Install implements Manager: it writes the unit only when its content differs, so an unchanged
// Spec costs no daemon-reload and the caller's restart decision can rest on changed.
func (s *Systemd) Install(ctx context.Context, spec Spec) (bool, error) {
	if err := validate(spec); err != nil {
		return false, err
	}
	// Unit files hold no secrets (they live in EnvFile), so they are world-readable like any unit.
	changed, err := writeIfChanged(s.unitPath(spec.Name), []byte(RenderUnit(spec, s.wantedBy)), 0o644)
	if err != nil {
		return false, fmt.Errorf("install %s: %w", unitName(spec.Name), err)
	}
	if !changed {
		return false, nil
	}
	return true, s.reload(ctx, "install "+unitName(spec.Name))
}

// reload is daemon-reload: systemd rereads unit files only when told to.
func (s *Systemd) reload(ctx context.Context, what string) error {
	if err := s.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("%s: daemon-reload: %w", what, err)
	}
	return nil
}

// Enable implements Manager. The unit is named by its full path so enabling also works for a
// unit directory outside the manager's search path (systemd links it in first).
func (s *Systemd) Enable(ctx context.Context, name string) error {
	_, _, err := s.conn.EnableUnitFilesContext(ctx, []string{s.unitPath(name)}, false, true)
	if err != nil {
		return fmt.Errorf("enable %s: %w", unitName(name), err)
	}
	return s.reload(ctx, "enable "+unitName(name))
}

// Disable implements Manager.
func (s *Systemd) Disable(ctx context.Context, name string) error {
	if _, err := s.conn.DisableUnitFilesContext(ctx, []string{unitName(name)}, false); err != nil {
		return fmt.Errorf("disable %s: %w", unitName(name), err)
	}
	return s.reload(ctx, "disable "+unitName(name))
}

// Remove implements Manager. A unit systemd does not know and whose file is gone is already
// removed, so Remove is idempotent.
func (s *Systemd) Remove(ctx context.Context, name string) error {
	st, err := s.State(ctx, name)
	if err != nil {
		return fmt.Errorf("remove %s: %w", unitName(name), err)
	}
	if st.Installed {
		if err := s.Stop(ctx, name); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
		if err := s.Disable(ctx, name); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
	}
	err = os.Remove(s.unitPath(name))
	if errors.Is(err, fs.ErrNotExist) && !st.Installed {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", unitName(name), err)
	}
	return s.reload(ctx, "remove "+unitName(name))
}
