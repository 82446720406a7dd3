#!/usr/bin/env bash
# Builds NodeFleet and runs a local demo: a coordinator and one agent on loopback, everything under a scratch
# directory (nothing else on the machine is touched), then shows the node online.
#   scripts/demo.sh           run the demo, then stop both processes
#   scripts/demo.sh --keep    leave the coordinator and agent running (prints how to stop them)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
keep=0
[ "${1:-}" = "--keep" ] && keep=1
scratch=${NODEFLEET_DEMO_DIR:-$here/.demo}
port=${NODEFLEET_DEMO_PORT:-17443}
address=127.0.0.1:$port

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET 10 SDK is required (https://learn.microsoft.com/dotnet/core/install/linux-debian)" >&2
  exit 1
fi

echo "==> Building (Release)"
# One build of the three programs (demo.slnf lists them and what they use), not of the tests.
dotnet build "$here/scripts/demo.slnf" -c Release -nologo -v quiet "-clp:ErrorsOnly;NoSummary"
bin() { echo "$here/src/$1/bin/Release/net10.0/$2"; }
coordinator=$(bin Coordinator nodefleet-coordinator)
agent=$(bin Agent nodefleet-agent)
cli=$(bin Cli nodefleet)

# A previous demo's processes and files are cleared first.
if [ -f "$scratch/pids" ]; then
  while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$scratch/pids"
  sleep 0.5
fi
rm -rf "$scratch"
mkdir -p "$scratch"

echo "==> Initialising a coordinator in $scratch/coordinator"
"$coordinator" init --data-dir "$scratch/coordinator" --advertise-address "$address" | sed 's/^/    /'

echo "==> Starting the coordinator on $address (log: $scratch/coordinator.log)"
"$coordinator" run --data-dir "$scratch/coordinator" --listen "$address" --metrics-listen 127.0.0.1:$((port + 1)) --heartbeat-interval 2s \
  >"$scratch/coordinator.log" 2>&1 &
coordinator_pid=$!
echo $coordinator_pid >>"$scratch/pids"
export NODEFLEET_CONFIG=$scratch/coordinator/admin.conf
for _ in $(seq 1 100); do
  grep -q "serving on" "$scratch/coordinator.log" && break
  # It stopped (the port is taken, say): its log says why.
  kill -0 "$coordinator_pid" 2>/dev/null || { sed 's/^/    /' "$scratch/coordinator.log" >&2; echo "error: the coordinator did not start (log above)" >&2; exit 1; }
  sleep 0.1
done

echo "==> Creating a join token"
join=$("$cli" token create --ttl 1h --usages 1 --description "demo" --print-join-command)
echo "    $join"

echo "==> Joining node demo-node-1 (agent root: $scratch/node-1)"
# The printed command is: nodefleet-agent join --token T --ca-cert-hash H ADDRESS
read -r _ _ _ token _ hash addr <<<"$join"
"$agent" --root "$scratch/node-1" join --token "$token" --ca-cert-hash "$hash" \
  --node-name demo-node-1 --labels role=worker,zone=a "$addr" | sed 's/^/    /'

# Plans restart services and reload systemd through systemctl. Where systemd is not PID 1 (a container, a CI job)
# systemctl cannot work, and every plan that sets kubelet flags would fail at `systemctl daemon-reload` and be
# undone: there the agent drives a stand-in that records each call instead (systemd's own test: /run/systemd/system).
agent_flags=()
if [ ! -d /run/systemd/system ]; then
  cat >"$scratch/systemctl" <<SH
#!/bin/sh
# Stand-in for systemctl written by demo.sh: systemd is not PID 1 on this machine. Records each call, succeeds.
echo "systemctl \$*" >>"$scratch/systemctl.log"
[ "\$1" = is-active ] && echo active
exit 0
SH
  chmod 0755 "$scratch/systemctl"
  agent_flags=(--systemctl "$scratch/systemctl")
  echo "==> systemd is not PID 1 here: the agent drives a recording systemctl ($scratch/systemctl, calls in $scratch/systemctl.log)"
fi

echo "==> Starting the agent (log: $scratch/agent.log)"
"$agent" --root "$scratch/node-1" "${agent_flags[@]}" run >"$scratch/agent.log" 2>&1 &
echo $! >>"$scratch/pids"
for _ in $(seq 1 100); do
  "$cli" nodes -o json 2>/dev/null | grep -q NODE_STATUS_ONLINE && break
  sleep 0.2
done

echo "==> nodefleet nodes"
"$cli" nodes
echo
echo "==> nodefleet node describe demo-node-1"
"$cli" node describe demo-node-1
echo
echo "==> nodefleet token list"
"$cli" token list

if [ "$keep" = 1 ]; then
  cat <<MSG

The coordinator and agent keep running. Try:
  export NODEFLEET_CONFIG=$NODEFLEET_CONFIG
  $cli nodes -o wide
Stop them with:  kill \$(cat $scratch/pids)
MSG
else
  while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$scratch/pids"
  rm -f "$scratch/pids"
  echo
  echo "Demo done; processes stopped. Files are in $scratch (run with --keep to leave the processes running)."
fi
