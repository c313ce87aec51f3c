package charm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/concourse-ci-machine/concourse-ci-machine/internal/concourse"
)

// Relation endpoints between web and worker applications (metadata.yaml): the web side provides
// `tsa`, the worker side requires `flight`. Inside one application the peer relation does the same.
const (
	tsaEndpoint    = "tsa"
	flightEndpoint = "flight"
)

// Unit bag keys (peer relation, tsa and flight). Only public keys and addresses.
const (
	keyRole       = "role"        // what the unit runs: web, worker, web+worker
	keyTSAAddress = "tsa-address" // host:port of this unit's TSA, set while it runs web
	keyWorkerKey  = "worker-key"  // this unit's worker public key, set while it runs a worker
)

// workerKey returns this unit's worker key, generating it once into the unit's own storage (0600,
// never on shared storage; only its public half leaves the unit).
func (c *Charm) workerKey(dataDir string) (concourse.Key, error) {
	dir := filepath.Join(dataDir, "worker")
	if err := privateDir(dir, 0o700, -1); err != nil {
		return concourse.Key{}, err
	}
	path := filepath.Join(dir, "worker_key")
	if data, err := os.ReadFile(path); err == nil {
		k, perr := concourse.KeyFromPEM(string(data))
		if perr == nil {
			return k, nil
		}
		fmt.Fprintf(c.out, "worker key %s unreadable (%v): generating a new one\n", path, perr)
	}
	k, err := concourse.GenerateKey(c.keyBits)
	if err != nil {
		return k, err
	}
	if _, err := writeFile(path, []byte(k.PrivatePEM), 0o600, -1); err != nil {
		return k, err
	}
	return k, nil
}

// relationUnits is one relation's remote side: the application bag and each unit's bag.
type relationUnits struct {
	id    string
	app   map[string]string
	units map[string]map[string]string
}

// readRelations reads every relation on endpoint (tsa has many; flight has at most one).
func (c *Charm) readRelations(ctx context.Context, endpoint string) ([]relationUnits, error) {
	ids, err := c.tools.RelationIDs(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s relations: %w", endpoint, err)
	}
	var out []relationUnits
	for _, id := range ids {
		r := relationUnits{id: id, units: map[string]map[string]string{}}
		remoteApp, err := c.tools.RelationListApp(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("remote application of %s: %w", id, err)
		}
		if remoteApp != "" {
			if r.app, err = c.tools.RelationGet(ctx, id, remoteApp, true); err != nil {
				return nil, fmt.Errorf("read %s data of %s: %w", id, remoteApp, err)
			}
		}
		members, err := c.tools.RelationList(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("list units of %s: %w", id, err)
		}
		for _, u := range members {
			if r.units[u], err = c.tools.RelationGet(ctx, id, u, false); err != nil {
				return nil, fmt.Errorf("read %s data of %s: %w", id, u, err)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// tsaTargets is what a worker needs to reach the webs: every TSA address and the host keys to
// trust (several while a key rotates).
type tsaTargets struct {
	hosts    []string
	hostKeys []string
}

// collectTSAs gathers the TSAs a worker registers with: its own web, the webs among its peers,
// and those of a related web application (flight).
func collectTSAs(own string, peers peerView, flight []relationUnits) tsaTargets {
	var t tsaTargets
	add := func(addr, key string) {
		if addr != "" {
			t.hosts = append(t.hosts, addr)
		}
		if key != "" {
			t.hostKeys = append(t.hostKeys, key)
		}
	}
	add(own, "")
	for _, bag := range peers.units {
		add(bag[keyTSAAddress], "")
	}
	if len(t.hosts) > 0 {
		for _, k := range trustedHostKeys(peers.app) { // several while a key rotates (rotation.go)
			add("", k)
		}
	}
	for _, r := range flight {
		for _, bag := range r.units {
			add(bag[keyTSAAddress], "")
		}
		for _, k := range trustedHostKeys(r.app) {
			add("", k)
		}
	}
	slices.Sort(t.hosts)
	t.hosts = slices.Compact(t.hosts)
	return t
}

// collectWorkerKeys gathers the worker keys a web authorizes: its own worker's, its peers' and
// those of related worker applications (tsa). A departed unit is no longer listed by relation-list,
// so its key drops out on the next reconcile.
func (c *Charm) collectWorkerKeys(own string, peers peerView, tsa []relationUnits) []string {
	keys := []string{own}
	addFrom := func(unit string, bag map[string]string) {
		if bag[keyWorkerKey] == "" {
			return
		}
		k, err := concourse.ParsePublicKey(bag[keyWorkerKey])
		if err != nil {
			fmt.Fprintf(c.out, "ignoring the worker key of %s: %v\n", unit, err)
			return
		}
		keys = append(keys, k)
	}
	for u, bag := range peers.units {
		addFrom(u, bag)
	}
	for _, r := range tsa {
		for u, bag := range r.units {
			addFrom(u, bag)
		}
	}
	return keys
}

// publishRole tells peers and related applications what this unit runs, where its TSA listens
// and which worker key it uses. Keys of a role the unit no longer runs are cleared.
func (c *Charm) publishRole(ctx context.Context, leader bool, peers peerView, releaseData map[string]string, r roles, tsaAddr, workerPub string, tsaRels, flightRels []relationUnits) error {
	bag := map[string]string{keyRole: r.String(), keyTSAAddress: "", keyWorkerKey: ""}
	for k, v := range releaseData {
		bag[k] = v
	}
	if r.web {
		bag[keyTSAAddress] = tsaAddr
	}
	if r.worker {
		bag[keyWorkerKey] = workerPub
	}
	if peers.relID != "" {
		if err := c.setBag(ctx, peers.relID, false, bag); err != nil {
			return err
		}
	}
	for _, rel := range tsaRels {
		if err := c.setBag(ctx, rel.id, false, map[string]string{keyTSAAddress: bag[keyTSAAddress]}); err != nil {
			return err
		}
		if leader && peers.app[keyTSAPublicKey] != "" {
			keys := map[string]string{keyTSAPublicKey: peers.app[keyTSAPublicKey],
				keyTSAPublicKeyNext: peers.app[keyTSAPublicKeyNext], keyTSAPublicKeyOld: peers.app[keyTSAPublicKeyOld]}
			if err := c.setBag(ctx, rel.id, true, keys); err != nil {
				return err
			}
		}
	}
	for _, rel := range flightRels {
		// The web application's leader waits for these keys while it rotates its host key.
		if err := c.setBag(ctx, rel.id, false, map[string]string{keyWorkerKey: bag[keyWorkerKey], keyTrustedHostKeys: bag[keyTrustedHostKeys]}); err != nil {
			return err
		}
	}
	return nil
}

// flightHint is the command that gives a worker application a TSA.
func flightHint(app string) string {
	return fmt.Sprintf("juju integrate %s:%s <web-application>:%s", app, flightEndpoint, tsaEndpoint)
}
