package service

import (
	"fmt"
	"path/filepath"
	"strings"
)

// validate rejects a Spec that no supervisor could run as written, before anything is touched:
// both backends need an absolute program and a plain name, and a unit file has no way to carry a
// newline inside a setting.
func validate(spec Spec) error {
	if spec.Name == "" || strings.ContainsAny(spec.Name, "/\\ \t\n") || strings.HasSuffix(spec.Name, ".service") {
		return fmt.Errorf("service name %q: want a plain name without .service", spec.Name)
	}
	if len(spec.Exec) == 0 || !filepath.IsAbs(spec.Exec[0]) {
		return fmt.Errorf("service %s: Exec must start with an absolute program path, got %q", spec.Name, spec.Exec)
	}
	for _, path := range []string{spec.EnvFile, spec.WorkingDir} {
		if path != "" && !filepath.IsAbs(path) {
			return fmt.Errorf("service %s: %q is not an absolute path", spec.Name, path)
		}
	}
	settings := append([]string{spec.Description, spec.EnvFile, spec.User, spec.Group, spec.WorkingDir}, spec.AmbientCaps...)
	for _, s := range settings {
		if strings.ContainsAny(s, "\r\n") {
			return fmt.Errorf("service %s: setting %q contains a newline", spec.Name, s)
		}
	}
	return nil
}
