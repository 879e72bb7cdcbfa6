#!/usr/bin/env bash
# make demo: a Temporal dev server, the clbsim emulator with the sample fleet in demo/,
# the clbdrain worker, then two drains with a progress bar: 110 servers from a TCP
# listener (with a 5 s drain phase) and 60 from an HTTP rule named by domain and URL,
# and, the release deployed, the restores that put both back at their weights, each
# server once its health check passes (new bindings turn healthy 2 s after their task);
# then a server drain: the plan for three servers (demo/servers.txt), and the drain
# that takes them out of every listener and rule they serve.
# Everything started here is stopped on exit or Ctrl-C.
#
# Ports (override when taken): DEMO_TEMPORAL_PORT (7233), DEMO_UI_PORT (8233),
# DEMO_CLBSIM_PORT (9000). DEMO_KEEP=1 keeps everything running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL=${TEMPORAL:-bin/temporal}
TEMPORAL_PORT=${DEMO_TEMPORAL_PORT:-7233}
UI_PORT=${DEMO_UI_PORT:-8233}
CLBSIM_PORT=${DEMO_CLBSIM_PORT:-9000}
STATE=.demo
LB=lb-t0um60k3
L4_LISTENER=lbl-ilsm0bjr
L7_LISTENER=lbl-x5yyrc96
L7_DOMAIN=app1.example.com
L7_URL=/r1/

pids=()
cleanup() {
	local code=$?
	trap - EXIT INT TERM
	if ((${#pids[@]})); then
		echo "demo: stopping the worker, clbsim and the Temporal dev server"
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
	local deadline=$((SECONDS + $1)) what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			echo "demo: $what did not come up; see $STATE/*.log" >&2
			return 1
		fi
		sleep 0.2
	done
}

for p in "$TEMPORAL_PORT" "$UI_PORT" "$CLBSIM_PORT"; do
	if ! port_free "$p"; then
		echo "demo: port $p is taken; set DEMO_TEMPORAL_PORT, DEMO_UI_PORT or DEMO_CLBSIM_PORT" >&2
		exit 2
	fi
done

rm -rf "$STATE" && mkdir -p "$STATE"
echo "demo: building clbdrain"
go build -o bin/ ./cmd/worker ./cmd/starter ./cmd/clbsim

echo "demo: starting the Temporal dev server on 127.0.0.1:$TEMPORAL_PORT (UI http://127.0.0.1:$UI_PORT)"
# The audit search attributes, which `starter list` and the UI search on (README, "Audit").
"$TEMPORAL" server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$UI_PORT" \
	--search-attribute ClbKind=Keyword --search-attribute ClbLoadBalancers=KeywordList \
	--search-attribute ClbListeners=KeywordList --search-attribute ClbServers=KeywordList \
	--search-attribute ClbReason=Text --search-attribute ClbRequester=Keyword --search-attribute ClbPhase=Keyword \
	--log-level error >"$STATE/temporal.log" 2>&1 &
pids+=($!)

echo "demo: starting clbsim on 127.0.0.1:$CLBSIM_PORT with the fleet in demo/fleet.json (tasks take 1 s, new bindings healthy 2 s after)"
bin/clbsim --listen "127.0.0.1:$CLBSIM_PORT" --state demo/fleet.json --task-latency 1s --health-delay 2s >"$STATE/clbsim.log" 2>&1 &
pids+=($!)

export TEMPORAL_ADDRESS=127.0.0.1:$TEMPORAL_PORT TEMPORAL_NAMESPACE=default
export TEMPORAL_UI_ADDRESS=http://127.0.0.1:$UI_PORT
wait_for 60 "the Temporal dev server" "$TEMPORAL" operator cluster health --address "$TEMPORAL_ADDRESS"
wait_for 20 "clbsim" grep -q "listening on" "$STATE/clbsim.log"

echo "demo: starting the worker (logs in $STATE/worker.log)"
TENCENTCLOUD_REGION=ap-guangzhou TENCENTCLOUD_SECRET_ID=clbsim-demo-id TENCENTCLOUD_SECRET_KEY=clbsim-demo-key \
	CLB_ENDPOINT=http://127.0.0.1:$CLBSIM_PORT bin/worker --stop-timeout 5s >"$STATE/worker.log" 2>&1 &
pids+=($!)
wait_for 30 "the worker" grep -q "worker started" "$STATE/worker.log"

echo
echo "demo: drain 1: 110 servers from the TCP listener $L4_LISTENER, weight 0 first, then 5 s of draining"
bin/starter drain --lb "$LB" --listener "$L4_LISTENER" --targets demo/l4-targets.txt \
	--drain-delay 5s --reason "make demo" --wait
echo
echo "demo: drain 2: 60 servers from the HTTP rule $L7_DOMAIN$L7_URL of listener $L7_LISTENER"
bin/starter drain --lb "$LB" --listener "$L7_LISTENER" --domain "$L7_DOMAIN" --url "$L7_URL" \
	--targets demo/l7-targets.json --reason "make demo" --wait

echo
echo "demo: who drained $LB, when and why (starter list --lb $LB --since 1h)"
sleep 1 # visibility follows the workflows within a second
bin/starter list --lb "$LB" --since 1h

echo
echo "demo: the release is deployed: restore 1 puts the 110 TCP servers back, each at weight 0 until healthy, then in 2 steps"
bin/starter restore "clb-drain/$LB/$L4_LISTENER" --wait-healthy 1m --health-poll 1s \
	--ramp-steps 2 --ramp-interval 2s --reason "make demo: deployed" --wait
echo
echo "demo: restore 2 puts the 60 HTTP servers back at their weights, each once healthy"
bin/starter restore "clb-drain/$LB/$L7_LISTENER/$L7_DOMAIN${L7_URL%/}" --wait-healthy 1m --health-poll 1s \
	--reason "make demo: deployed" --wait

# After the restores: its children run under the listeners' conventional IDs, from which
# the restores above read the drains they put back.
echo
echo "demo: server drain: where do the servers in demo/servers.txt serve? (starter plan; changes nothing)"
bin/starter plan --servers demo/servers.txt --reason "make demo"
echo
echo "demo: server drain: take them out of every listener and rule, weight 0 first, then 3 s of draining"
bin/starter drain-servers --servers demo/servers.txt --drain-delay 3s --reason "make demo" --wait | tee "$STATE/servers.out"
SERVERS_ID=$(awk '/workflow ID:/ {print $3; exit}' "$STATE/servers.out")

echo
echo "demo: the servers are back: restore 3 puts back what the server drain removed ($SERVERS_ID), at the weights it read, each once healthy"
bin/starter restore "$SERVERS_ID" --wait-healthy 1m --health-poll 1s --reason "make demo: servers back" --wait

echo
echo "demo: done. What the emulator saw: http://127.0.0.1:$CLBSIM_PORT/_sim/stats and /_sim/audit"
echo "demo: Temporal UI: http://127.0.0.1:$UI_PORT/namespaces/default/workflows"
if [[ ${DEMO_KEEP:-} == 1 ]]; then
	echo "demo: DEMO_KEEP=1: everything keeps running; Ctrl-C stops it"
	wait
fi
