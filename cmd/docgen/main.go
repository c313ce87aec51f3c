// Command docgen writes docs/reference.md from config.yaml and actions.yaml (`make reference`).
// Run it from the repository root after adding or changing a config option or an action; it
// refuses an option, action or parameter without a description, naming it.
//
//	go run ./cmd/docgen [-config config.yaml] [-actions actions.yaml] [-o docs/reference.md]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/docgen"
)

func main() {
	config := flag.String("config", "config.yaml", "the charm's config.yaml")
	actions := flag.String("actions", "actions.yaml", "the charm's actions.yaml")
	out := flag.String("o", "docs/reference.md", "where to write the reference")
	flag.Parse()
	if err := run(*config, *actions, *out); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

func run(configPath, actionsPath, out string) error {
	cfg, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	acts, err := os.ReadFile(actionsPath)
	if err != nil {
		return err
	}
	doc, err := docgen.Generate(cfg, acts)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(out); err == nil && string(old) == doc {
		fmt.Printf("%s is up to date\n", out)
		return nil
	}
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", out)
	return nil
}
