#!/usr/bin/env bash
# make test-cluster: clbdrain end to end on a real Temporal cluster, built and
# started here on a machine with nothing but Go and apt:
#   - the Temporal server and its SQL tool, release TEMPORAL_SERVER_VERSION (pinned
#     in the Makefile), built once from the Go module proxy into ./bin;
#   - PostgreSQL from Debian's packages (installed with apt-get when missing), a
#     cluster of its own in a temporary directory on a free port, run as the
#     package's unprivileged postgres user, its two databases created and migrated
#     with the server's SQL tool from the schema directories of the server module;
#   - then the Go scenarios of e2e/cluster: two server nodes over that database,
#     drains while a node is killed with kill -9, a cancel, a schedule, and a
#     table of the verdicts from clbsim's audit.
# Everything started here (server nodes, PostgreSQL, the temporary directory) is
# removed on exit, failed or not.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
VERSION=${TEMPORAL_SERVER_VERSION:?set TEMPORAL_SERVER_VERSION (the Makefile pins it)}
BIN=$PWD/bin
SERVER=$BIN/temporal-server
SQL_TOOL=$BIN/temporal-sql-tool
DYNAMIC_CONFIG=deploy/temporal/dynamicconfig.yaml
REPORT=$BIN/cluster.txt

say() { echo "test-cluster: $*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# PostgreSQL refuses to run as root: as root, its commands run as the postgres user.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

work="" build_dir="" pg_bin=""
cleanup() {
	local code=$?
	trap - EXIT INT TERM
	if [ -n "$work" ]; then
		local f pid
		# The server nodes and workers the scenarios started, should the test binary
		# have died before stopping them: each still running its program.
		for f in "$work"/*.pid; do
			[ -f "$f" ] || continue
			pid=$(cat "$f")
			if grep -qa -e "$SERVER" -e "$work/bin/worker" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" || true; fi
		done
		if [ -f "$work/pgdata/postmaster.pid" ]; then
			say "stopping PostgreSQL"
			as_pg "$pg_bin/pg_ctl" -D "$work/pgdata" -m immediate -w stop >/dev/null || true
		fi
		rm -rf "$work"
	fi
	[ -z "$build_dir" ] || rm -rf "$build_dir"
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# built_version prints the go.temporal.io/server version a binary was built from.
built_version() { "$GO" version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "go.temporal.io/server" { print $3 }'; }

build_server() {
	if [ "$(built_version "$SERVER")" = "$VERSION" ] && [ "$(built_version "$SQL_TOOL")" = "$VERSION" ]; then
		say "Temporal server $VERSION already built in ./bin"
		return
	fi
	say "building the Temporal server and its SQL tool $VERSION into ./bin (once: 4-20 minutes, depending on load)"
	mkdir -p "$BIN"
	build_dir=$(mktemp -d "$BIN/.temporal-server.XXXXXX")
	GOBIN=$build_dir "$GO" install "go.temporal.io/server/cmd/server@$VERSION" "go.temporal.io/server/cmd/tools/sql@$VERSION"
	mv "$build_dir/server" "$SERVER"
	mv "$build_dir/sql" "$SQL_TOOL"
	rm -rf "$build_dir"
	build_dir=""
}

# latest_pg_bin prints the bin directory of the newest PostgreSQL installed
# with both its server and initdb (a client-only package has neither).
latest_pg_bin() {
	local dir
	find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -rV | while read -r dir; do
		if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
			echo "$dir"
			break
		fi
	done
}

install_postgresql() {
	pg_bin=$(latest_pg_bin)
	if [ -z "$pg_bin" ]; then
		say "installing PostgreSQL (Debian's postgresql package)"
		as_root apt-get update -q
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
		pg_bin=$(latest_pg_bin)
	fi
	[ -n "$pg_bin" ] || { say "no PostgreSQL with initdb and postgres under /usr/lib/postgresql after installing it"; exit 1; }
	say "PostgreSQL: $("$pg_bin/postgres" --version)"
}

free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
	done
	return 1
}

# start_postgresql runs a PostgreSQL cluster in $work/pgdata on $pg_port, with the
# user temporal (password temporal) that docker-compose.yaml's postgresql has.
start_postgresql() {
	mkdir "$work/pgdata"
	echo temporal >"$work/pgdata.pw"
	[ "$(id -u)" -ne 0 ] || chown postgres: "$work/pgdata" "$work/pgdata.pw"
	as_pg "$pg_bin/initdb" -D "$work/pgdata" -U temporal --pwfile="$work/pgdata.pw" -E UTF8 \
		--auth-local=trust --auth-host=scram-sha-256 >"$work/initdb.log"
	pg_port=$(free_port)
	# Two nodes of four services each keep up to 30 connections per service.
	as_pg "$pg_bin/pg_ctl" -D "$work/pgdata" -l "$work/pgdata/postgresql.log" -w -t 60 \
		-o "-p $pg_port -k $work/pgdata -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
	say "PostgreSQL runs on 127.0.0.1:$pg_port, data in $work/pgdata"
}

# set_up_schemas creates and migrates both databases as docker-compose.yaml's
# temporal-admin-tools does, from the schema directories of the server module.
set_up_schemas() {
	local moddir db schema
	moddir=$("$GO" mod download -json "go.temporal.io/server@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$moddir/schema" ] || { say "no schema directory in go.temporal.io/server@$VERSION ($moddir)"; exit 1; }
	for db in temporal temporal_visibility; do
		schema=temporal
		[ "$db" = temporal_visibility ] && schema=visibility
		SQL_PASSWORD=temporal "$SQL_TOOL" --plugin postgres12 --ep 127.0.0.1 -u temporal -p "$pg_port" --db "$db" create
		SQL_PASSWORD=temporal "$SQL_TOOL" --plugin postgres12 --ep 127.0.0.1 -u temporal -p "$pg_port" --db "$db" setup-schema -v 0.0
		SQL_PASSWORD=temporal "$SQL_TOOL" --plugin postgres12 --ep 127.0.0.1 -u temporal -p "$pg_port" --db "$db" \
			update-schema -d "$moddir/schema/postgresql/v12/$schema/versioned"
	done >"$work/schema.log" 2>&1 || { cat "$work/schema.log"; exit 1; }
	say "databases temporal and temporal_visibility created and migrated"
}

# validate_dynamic_config checks the dynamic config file the nodes load. The
# server's validate-dynamic-config exits 0 whatever it finds, and says what is
# wrong on its output: a "warning:" or an "error:" there fails.
validate_dynamic_config() {
	local out
	out=$("$SERVER" validate-dynamic-config "$DYNAMIC_CONFIG" 2>&1) || { echo "$out"; exit 1; }
	if grep -qiE 'warning:|error:' <<<"$out"; then
		echo "$out"
		say "$DYNAMIC_CONFIG is not valid for Temporal server $VERSION"
		exit 1
	fi
}

build_server
install_postgresql
validate_dynamic_config
work=$(mktemp -d /tmp/clbdrain-cluster.XXXXXX)
chmod 755 "$work"
# The test's own temporary files (go build's, t.TempDir's) go in $work too,
# so that an interrupted run leaves nothing behind in /tmp.
mkdir "$work/tmp"
start_postgresql
set_up_schemas
say "running the scenarios on two server nodes ($VERSION)"
rm -f "$REPORT"
CLBDRAIN_CLUSTER=1 CLBDRAIN_CLUSTER_SERVER=$SERVER CLBDRAIN_CLUSTER_DB=127.0.0.1:$pg_port \
	CLBDRAIN_CLUSTER_DIR=$work CLBDRAIN_REPORT=$REPORT TMPDIR=$work/tmp \
	"$GO" test -count=1 -v -timeout 20m ./e2e/cluster
say "passed in ${SECONDS}s"
