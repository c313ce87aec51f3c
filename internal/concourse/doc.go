// Package concourse knows how Concourse is run: its keys, the environment files of its web and
// worker commands, and the service definitions that run them. It knows nothing of Juju: the charm
// gathers the facts (addresses, credentials, keys) and this package turns them into files.
package concourse
