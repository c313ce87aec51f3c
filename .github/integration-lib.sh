# Helpers for .github/workflows/integration.yml, sourced by its steps (bash). They drive a real Juju
# controller on LXD: juju, jq and lxc (through sudo) must be on PATH. Never run by the project's own
# CI (no Juju there); tests/workflows_test.go checks that this file parses (bash -n).
#
# Juju facts relied on (documentation.ubuntu.com/juju and Juju's source):
#   - `juju add-machine` says "created machine N" on stderr for each machine (cmd/juju/machine/add.go).
#   - A LXD machine's container is named juju-<last 6 hex digits of the model UUID>-<machine id>
#     (core/instance/namespace.go); `juju show-machine N --format=json` gives it as
#     .machines["N"]["instance-id"], so nothing here rebuilds the name.
#   - `juju wait-for machine|unit|application` waits for a query (Juju 3.x; Juju 4 dropped wait-for,
#     so the workflow pins the 3.6 client).
#   - `juju run <unit> <action> --format=json` prints {"<unit>": {"results": {...}, ...}}.

SHARED=${SHARED:-/srv/concourse-shared}

# add_machines N: adds N machines on the charm's base and prints their ids.
add_machines() {
	local out ids
	out=$(juju add-machine -n "$1" --base ubuntu@24.04 2>&1)
	echo "$out" >&2
	ids=$(sed -n 's/^created machine \([0-9][0-9]*\)$/\1/p' <<<"$out" | tr '\n' ' ')
	if [ "$(wc -w <<<"$ids")" -ne "$1" ]; then
		echo "add_machines: expected $1 'created machine' lines" >&2
		return 1
	fi
	echo "$ids"
}

# share_dir ID...: gives each machine's LXD container the host directory $SHARED at the same path,
# as a disk device (a bind mount, so a mount point inside: shared-storage-require-mount holds).
# shift=true maps the host's owners into the unprivileged container (an idmapped mount), so that
# the container's root may write there; without it host root's files show as nobody:nogroup.
share_dir() {
	local m inst
	sudo mkdir -p "$SHARED"
	for m in "$@"; do
		juju wait-for machine "$m" --timeout 20m
		inst=$(juju show-machine "$m" --format=json | jq -r --arg m "$m" '.machines[$m]["instance-id"]')
		echo "machine $m is LXD container $inst"
		sudo lxc config device add "$inst" concourse-shared disk \
			source="$SHARED" path="$SHARED" shift=true
	done
}

# csv ID...: "0 1 2" -> "0,1,2" (for --to).
csv() { local IFS=,; echo "$*"; }

# units APP: the unit names of APP.
units() {
	juju status "$1" --format=json | jq -r --arg a "$1" '.applications[$a].units // {} | keys[]'
}

# wait_active APP N: APP has N units and each is active, as is the application status.
wait_active() {
	local app=$1 n=$2 u
	juju wait-for application "$app" --query="len(units) == $n" --timeout 10m
	for u in $(units "$app"); do
		juju wait-for unit "$u" --timeout 40m
	done
	juju wait-for application "$app" --timeout 10m
	juju status "$app"
}

# messages APP: each unit's workload status message, one a line.
messages() {
	juju status "$1" --format=json | jq -r --arg a "$1" '.applications[$a].units[]["workload-status"].message'
}

# expect_shared APP N: N units of APP say their release is on the shared storage, and the host
# directory holds one unpacked release whatever the number of units.
expect_shared() {
	local app=$1 n=$2 got releases
	got=$(messages "$app" | grep -c "shared storage $SHARED" || true)
	if [ "$got" -ne "$n" ]; then
		echo "$app: $got of $n units on shared storage:" >&2
		messages "$app" >&2
		return 1
	fi
	releases=$(sudo find "$SHARED/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l)
	sudo ls -la "$SHARED" "$SHARED/releases"
	if [ "$releases" -ne 1 ]; then
		echo "$SHARED/releases holds $releases releases, want 1" >&2
		return 1
	fi
}

# web_url APP: http://<address>:8080 of the unit of APP that runs web (its status starts "web").
web_url() {
	local addr
	addr=$(juju status "$1" --format=json | jq -r --arg a "$1" '
		.applications[$a].units | to_entries[]
		| select(.value["workload-status"].message | test("^web")) | .value["public-address"]' | head -n1)
	if [ -z "$addr" ]; then
		echo "web_url: no unit of $1 runs web" >&2
		return 1
	fi
	echo "http://$addr:8080"
}

# admin_password APP: the admin password, from the get-admin-password action on the leader.
admin_password() {
	juju run "$1/leader" get-admin-password --format=json | jq -r '.[].results.password'
}

# run_pipeline URL PASSWORD WORKERS: fly from the web itself, a login, WORKERS workers registered,
# and a one-off build (fly execute) whose output is checked.
run_pipeline() {
	local url=$1 password=$2 workers=$3 dir
	dir=$(mktemp -d)
	curl -sSfL "$url/api/v1/cli?arch=amd64&platform=linux" -o "$dir/fly"
	chmod +x "$dir/fly"
	"$dir/fly" -t ci login -c "$url" -u admin -p "$password"
	"$dir/fly" -t ci workers
	local registered
	registered=$("$dir/fly" -t ci workers --json | jq '[.[] | select(.state == "running")] | length')
	if [ "$registered" -ne "$workers" ]; then
		echo "$registered running workers, want $workers" >&2
		return 1
	fi
	# No image: with runtime=houdini the step runs as a process on the worker.
	cat >"$dir/task.yml" <<-'EOF'
		platform: linux
		run:
		  path: sh
		  args: [-c, 'echo "hello from $(hostname)"']
	EOF
	"$dir/fly" -t ci execute -c "$dir/task.yml" | tee "$dir/build.log"
	grep -q '^hello from ' "$dir/build.log"
}
