// Package juju is the charm's only door to Juju: it reads the hook
// environment (Env) and calls the hook tools through a typed Client.
//
// Every hook tool is run through the Runner interface so that tests (and the
// jujusim simulator) can substitute the process boundary. The argument shapes
// follow the hook-tool commands in Juju's source,
// worker/uniter/runner/jujuc/*.go (Juju 3.x, github.com/juju/cmd/v4
// generation); docs/hook-tools.md lists every method, its exact command line
// and the file it was checked against.
//
// Conventions shared by every method:
//   - flags come before positional arguments, and free text (status and log
//     messages, action messages, versions) follows a "--" so a message that
//     starts with "-" is never parsed as a flag (jujuc uses gnuflag, which
//     honours "--");
//   - data that may be large or secret travels on stdin or in a 0600 file,
//     never on argv, wherever the tool allows it;
//   - JSON output is requested with --format=json and "null" or empty output
//     is read as the empty value.
package juju
