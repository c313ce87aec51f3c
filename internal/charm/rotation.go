package charm

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
	"github.com/concourse-ci-machine/concourse-ci-machine/internal/juju"
)

// Rotating the TSA host key (rotate-keys) without cutting any worker off. A Concourse web presents
// exactly one host key, read at start; a worker accepts every key in CONCOURSE_TSA_PUBLIC_KEY, read
// at start. So the switch goes in stages, each recorded by the leader in the peer application bag
// (public keys only) and the keys secret (private keys), and moved on by the leader once every
// unit concerned has said, in its own unit bag, that it applied the previous one:
//
//  1. trust:  secret tsa-host-key-next = new key; bag tsa-public-key-next = its public half. Every
//     worker (peers, and the units of related worker applications, through the tsa relation's
//     application bag) is given both keys and restarted (landed first); it publishes the
//     fingerprints it now trusts (tsa-trusted-keys). The webs still present the old key.
//  2. switch: once every worker trusts the new key, the leader makes it THE host key (secret
//     tsa-host-key = new, tsa-host-key-next dropped; bag tsa-public-key = new, tsa-public-key-old
//     = old). Every web restarts with it and publishes its fingerprint (tsa-host-key-fingerprint).
//     Workers still trust both, so a worker reaches every web whether it has switched yet or not.
//  3. done:   once every web presents the new key, the leader drops tsa-public-key-old; workers
//     are given the new key only and restart (landed first). The old private key left the secret
//     in stage 2.
//
// A unit acknowledges in the same hook that applies the stage: if applying fails the hook fails,
// and Juju discards its relation data with it. A worker that never acknowledges (a unit that is
// down) holds the rotation at stage 1, which is harmless (everyone still reaches the old key);
// the application status names it. Workers restart twice, webs once.
const (
	keyTSAPublicKeyNext = "tsa-public-key-next"      // app bag, stage 1
	keyTSAPublicKeyOld  = "tsa-public-key-old"       // app bag, stage 2
	fieldTSAHostKeyNext = "tsa-host-key-next"        // keys secret, stage 1
	keyTrustedHostKeys  = "tsa-trusted-keys"         // unit bag of a worker: fingerprints, comma-separated
	keyHostKeyInUse     = "tsa-host-key-fingerprint" // unit bag of a web: the host key it presents
)

// trustedHostKeys are the host keys a worker is given from an application bag (peer, or a web
// application's on flight): the key the webs present, and during a rotation the next or old one.
func trustedHostKeys(app map[string]string) []string {
	var keys []string
	for _, k := range []string{keyTSAPublicKey, keyTSAPublicKeyNext, keyTSAPublicKeyOld} {
		if app[k] != "" {
			keys = append(keys, app[k])
		}
	}
	return keys
}

// fingerprint is the SHA256 fingerprint of an authorized_keys line, "" when it does not parse.
func fingerprint(line string) string {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(k)
}

// rotationAcks is what this unit publishes about the host keys it uses after this hook: the keys
// its worker is given, and the key its web presents (the peer bag's tsa-public-key, whose private
// half the secret holds: the leader changes both in one hook, which Juju commits together).
func rotationAcks(r roles, t tsaTargets, app map[string]string) map[string]string {
	acks := map[string]string{keyTrustedHostKeys: "", keyHostKeyInUse: ""}
	if r.worker && len(t.hosts) > 0 && len(t.hostKeys) > 0 {
		var fps []string
		for _, k := range t.hostKeys {
			fps = append(fps, fingerprint(k))
		}
		slices.Sort(fps)
		acks[keyTrustedHostKeys] = strings.Join(slices.Compact(fps), ",")
	}
	if r.web && app[keyTSAPublicKey] != "" {
		acks[keyHostKeyInUse] = fingerprint(app[keyTSAPublicKey])
	}
	return acks
}

// withAcks is data with this unit's rotation acknowledgements added (a copy).
func withAcks(data map[string]string, r roles, t tsaTargets, app map[string]string) map[string]string {
	out := maps.Clone(data)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, rotationAcks(r, t, app))
	return out
}

// rotationStage names the stage a peer application bag records: "" when no rotation is under way.
func rotationStage(app map[string]string) string {
	switch {
	case app[keyTSAPublicKeyNext] != "":
		return "trust"
	case app[keyTSAPublicKeyOld] != "":
		return "switch"
	}
	return ""
}

// advanceRotation (leader) moves a rotation on as far as the units' acknowledgements allow, and
// returns what it waits for, for the application status ("" when no rotation is under way). It
// makes no hook-tool call unless a rotation is under way.
func (c *Charm) advanceRotation(ctx context.Context, peers peerView, tsaRels []relationUnits, r roles) (string, error) {
	if rotationStage(peers.app) == "" {
		return "", nil
	}
	own, err := c.tools.RelationGet(ctx, peers.relID, c.env.UnitName, false)
	if err != nil {
		return "", fmt.Errorf("read own peer data: %w", err)
	}
	if peers.app[keyTSAPublicKeyNext] != "" {
		want := fingerprint(peers.app[keyTSAPublicKeyNext])
		lagging, total := workersLagging(c.env.UnitName, own, peers, tsaRels, want)
		if len(lagging) > 0 {
			return fmt.Sprintf("TSA host key rotation (1/2): %d of %d workers trust the new key; waiting for %s",
				total-len(lagging), total, strings.Join(lagging, ", ")), nil
		}
		if err := c.promoteHostKey(ctx, peers); err != nil {
			return "", err
		}
	}
	// This unit's own web, if any, switches in this very hook (runWeb reads the secret just set):
	// it counts as switched, like every web that publishes its fingerprint in the hook it restarts.
	want := fingerprint(peers.app[keyTSAPublicKey])
	lagging, total := websLagging(peers, want)
	if r.web {
		total++
	}
	if len(lagging) > 0 {
		return fmt.Sprintf("TSA host key rotation (2/2): %d of %d webs present the new key; waiting for %s",
			total-len(lagging), total, strings.Join(lagging, ", ")), nil
	}
	if err := c.tools.RelationSet(ctx, peers.relID, true, map[string]string{keyTSAPublicKeyOld: ""}); err != nil {
		return "", fmt.Errorf("drop the old TSA host key: %w", err)
	}
	delete(peers.app, keyTSAPublicKeyOld)
	c.log(ctx, juju.LevelInfo, fmt.Sprintf("TSA host key rotation done: every web presents %s; workers now trust it alone", want))
	return "", nil
}

// workersLagging lists the units running a worker whose published trusted keys lack want: this
// unit (from its own bag, as its last hook left it), its peers and the units of related worker
// applications. A unit that runs no worker publishes no worker key and is not waited for.
func workersLagging(self string, own map[string]string, peers peerView, tsaRels []relationUnits, want string) (lagging []string, total int) {
	check := func(unit string, bag map[string]string) {
		if bag[keyWorkerKey] == "" {
			return
		}
		total++
		if !slices.Contains(strings.Split(bag[keyTrustedHostKeys], ","), want) {
			lagging = append(lagging, unit)
		}
	}
	check(self, own)
	for _, u := range peers.members {
		check(u, peers.units[u])
	}
	for _, rel := range tsaRels {
		units := slices.Sorted(maps.Keys(rel.units))
		sortUnits(units)
		for _, u := range units {
			check(u, rel.units[u])
		}
	}
	return lagging, total
}

// websLagging lists the peers running a web whose published host key is not want.
func websLagging(peers peerView, want string) (lagging []string, total int) {
	for _, u := range peers.members {
		bag := peers.units[u]
		if !strings.Contains(bag[keyRole], "web") {
			continue
		}
		total++
		if bag[keyHostKeyInUse] != want {
			lagging = append(lagging, u)
		}
	}
	return lagging, total
}

// promoteHostKey makes the next host key the one the webs present (stage 2): one secret-set and
// one relation-set, which Juju commits together with the hook.
func (c *Charm) promoteHostKey(ctx context.Context, peers peerView) error {
	id := peers.app[keyKeysSecret]
	keys, err := c.tools.SecretGet(ctx, juju.SecretGetOptions{ID: id})
	if err != nil {
		return fmt.Errorf("read the application keys: %w", err)
	}
	next, err := concourse.KeyFromPEM(keys[fieldTSAHostKeyNext])
	if err != nil {
		return fmt.Errorf("next TSA host key in %s: %w", id, err)
	}
	published, err := concourse.ParsePublicKey(peers.app[keyTSAPublicKeyNext])
	if err != nil || published != next.Public {
		return fmt.Errorf("the next TSA host key in %s is not the one published in %s: the rotation cannot go on", id, keyTSAPublicKeyNext)
	}
	content := maps.Clone(keys)
	content[fieldTSAHostKey] = next.PrivatePEM
	delete(content, fieldTSAHostKeyNext)
	if err := c.tools.SecretSet(ctx, id, content, juju.SecretSetOptions{}); err != nil {
		return fmt.Errorf("switch the TSA host key: %w", err)
	}
	bag := map[string]string{keyTSAPublicKey: next.Public, keyTSAPublicKeyOld: peers.app[keyTSAPublicKey], keyTSAPublicKeyNext: ""}
	if err := c.tools.RelationSet(ctx, peers.relID, true, bag); err != nil {
		return fmt.Errorf("publish the new TSA host key: %w", err)
	}
	for k, v := range bag {
		if v == "" {
			delete(peers.app, k)
		} else {
			peers.app[k] = v
		}
	}
	c.log(ctx, juju.LevelInfo, fmt.Sprintf("TSA host key rotation: every worker trusts %s; the webs switch to it", fingerprint(next.Public)))
	return nil
}
