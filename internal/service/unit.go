package service

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RenderUnit renders spec as a systemd unit file, [Install]ed into wantedBy. It is pure and
// deterministic so the charm can hash its output to decide when a restart is due.
//
// Type=exec (not simple) makes a start job fail when the program cannot be executed (missing
// binary, bad user or directory), so Start reports it instead of "done" and a failed unit later.
func RenderUnit(spec Spec, wantedBy string) string {
	var b strings.Builder
	line := func(key, value string) { fmt.Fprintf(&b, "%s=%s\n", key, value) }

	b.WriteString("[Unit]\n")
	line("Description", unitValue(spec.Description))

	b.WriteString("\n[Service]\n")
	line("Type", "exec")
	line("ExecStart", execLine(spec.Exec))
	if spec.ReloadSignal != 0 {
		// $MAINPID is meant to be expanded by systemd, so this line is not quoted.
		line("ExecReload", "/bin/kill -"+signalName(spec.ReloadSignal)+" $MAINPID")
	}
	writeOptional(line, "EnvironmentFile", spec.EnvFile)
	writeOptional(line, "User", spec.User)
	writeOptional(line, "Group", spec.Group)
	writeOptional(line, "WorkingDirectory", spec.WorkingDir)
	writeStop(line, spec)
	if spec.Delegate {
		line("Delegate", "yes")
	}
	if spec.Unlimited {
		line("TasksMax", "infinity")
		line("LimitNOFILE", "infinity")
		line("LimitNPROC", "infinity")
	}
	if spec.RestartOnFailure {
		line("Restart", "on-failure")
		line("RestartSec", "5")
	}
	if len(spec.AmbientCaps) > 0 {
		line("AmbientCapabilities", strings.Join(spec.AmbientCaps, " "))
	}

	b.WriteString("\n[Install]\n")
	line("WantedBy", wantedBy)
	return b.String()
}

func writeOptional(line func(key, value string), key, value string) {
	if value != "" {
		line(key, unitValue(value))
	}
}

// writeStop renders how the unit stops. SendSIGKILL is systemd's default; it is written out so
// the unit says plainly that a stop which outlives TimeoutStopSec ends in SIGKILL.
func writeStop(line func(key, value string), spec Spec) {
	if spec.KillProcessOnly {
		line("KillMode", "process")
	}
	if spec.KillSignal != 0 {
		line("KillSignal", signalName(spec.KillSignal))
	}
	if spec.TimeoutStop > 0 {
		line("TimeoutStopSec", unitDuration(spec.TimeoutStop))
	}
	line("SendSIGKILL", "yes")
}

func unitDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func signalName(sig unix.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return fmt.Sprint(int(sig))
}

// unitValue escapes specifiers (%) in a plain setting. Newlines cannot be escaped in a unit file;
// Install rejects them (validate) and RenderUnit, which cannot fail, folds them into spaces.
func unitValue(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	return strings.ReplaceAll(s, "%", "%%")
}

// execLine quotes each argument the way systemd splits ExecStart=, so the program receives exactly
// spec.Exec: no specifier (%), variable ($) or escape (\) expansion, and spaces kept.
func execLine(args []string) string {
	quoted := make([]string, len(args))
	for i, arg := range args {
		quoted[i] = execQuote(arg)
	}
	return strings.Join(quoted, " ")
}

func execQuote(arg string) string {
	var b strings.Builder
	needQuotes := arg == ""
	for _, r := range arg {
		switch {
		case r == '%':
			b.WriteString("%%")
		case r == '$':
			b.WriteString("$$")
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
			needQuotes = true
		case r == '\n':
			b.WriteString(`\n`)
			needQuotes = true
		case r == '\t':
			b.WriteString(`\t`)
			needQuotes = true
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
			needQuotes = true
		default:
			b.WriteRune(r)
			needQuotes = needQuotes || !execSafe(r)
		}
	}
	if needQuotes {
		return `"` + b.String() + `"`
	}
	return b.String()
}

// execSafe is the set of characters that never need quoting, whatever their position.
func execSafe(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("_@%$+=:,./-", r)
}
