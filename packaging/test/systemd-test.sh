#!/usr/bin/env bash
# Proves the .deb packages under a real systemd: boots a Debian 12 container (systemd-nspawn, host network),
# installs nodefleet-coordinator, nodefleet-agent and nodefleet, and checks that
#   - both units pass `systemd-analyze verify` and come up active after READY (Type=notify), the coordinator as
#     the nodefleet user with its sandbox, initialised on its first start;
#   - the agent waits until joined, then connects (journalctl -u nodefleet-agent shows it);
#   - a plan applied from the CLI through the coordinator writes a kubelet drop-in that systemd really loads
#     (DropInPaths of a placeholder kubelet.service) and restarts the kubelet;
#   - an upgrade (the same binaries as package revision 2) restarts both services and keeps the node's identity,
#     the agent's journal, the coordinator's data and a modified conffile;
#   - purge removes the units, the node's identity and all data.
#
# usage: packaging/test/systemd-test.sh [DIST]     (as root; DIST defaults to dist/ and must hold the amd64
#        .deb files of packaging/build.sh; the revision-2 packages for the upgrade are made from them here)
# The Debian rootfs is built once with debootstrap and cached in $NODEFLEET_ROOTFS_CACHE
# (default /var/cache/nodefleet-test); every boot runs on a throw-away overlay (--volatile=overlay).
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
dist=$(cd "${1:-$here/dist}" && pwd)
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$here/Directory.Build.props" | head -n1)
arch=$(dpkg --print-architecture)
started=$(date +%s)

passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
die()  { echo "error: $*" >&2; echo "systemd-test: $passed passed, $((failed + 1)) failed"; exit 1; }
# check NAME COMMAND...: one assertion; its output is shown when it fails.
check() {
  local name=$1; shift
  local output
  if output=$("$@" 2>&1); then ok "$name"; else fail "$name"; printf '%s\n' "$output" | sed 's/^/    # /' | tail -n 30; fi
}

[ "$(id -u)" = 0 ] || die "run as root (systemd-nspawn, unshare, nsenter)"
for tool in systemd-nspawn debootstrap unshare nsenter dpkg-deb; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install systemd-container debootstrap)"
done
for name in nodefleet-agent nodefleet-coordinator nodefleet; do
  [ -f "$dist/${name}_${version}-1_${arch}.deb" ] || die "$dist/${name}_${version}-1_${arch}.deb is missing: run packaging/build.sh --arch $arch first"
done

# ---------------------------------------------------------------- the upgrade packages -------------------------
if ! ls "$dist/nodefleet-agent_${version}-2_${arch}.deb" >/dev/null 2>&1 || \
   [ "$dist/nodefleet-agent_${version}-2_${arch}.deb" -ot "$dist/nodefleet-agent_${version}-1_${arch}.deb" ]; then
  echo "==> packaging revision 2 (the upgrade) from the same binaries"
  "$here/packaging/build.sh" --arch "$arch" --revision 2 --repackage --fast --out "$dist" >/dev/null || die "building the revision-2 packages failed"
fi

# ---------------------------------------------------------------- the cached Debian 12 rootfs -----------------
include=systemd,systemd-sysv,dbus,adduser,libssl3,man-db
cache=${NODEFLEET_ROOTFS_CACHE:-/var/cache/nodefleet-test}
rootfs="$cache/rootfs-bookworm-$(printf '%s' "$include" | md5sum | cut -c1-8)"
if [ ! -x "$rootfs/usr/lib/systemd/systemd" ]; then
  mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "==> debootstrap bookworm ($include) from $mirror into $rootfs"
  mkdir -p "$cache"
  # Built beside the cache under this run's own name and moved in at once: a run beside this one may do the same.
  tmp="$rootfs.tmp.$$"
  rm -rf "$tmp"
  debootstrap --variant=minbase --include="$include" bookworm "$tmp" "$mirror" > "$cache/debootstrap.$$.log" 2>&1 \
    || { tail -n 20 "$cache/debootstrap.$$.log" >&2; rm -rf "$tmp"; die "debootstrap failed (log: $cache/debootstrap.$$.log)"; }
  rm -f "$cache/debootstrap.$$.log"
  # A machine id, so journald keeps the journal where journalctl looks for it.
  systemd-machine-id-setup --root="$tmp" >/dev/null 2>&1 || true
  mv -T "$tmp" "$rootfs" 2>/dev/null || rm -rf "$tmp"
fi
echo "==> rootfs $rootfs ($(( $(date +%s) - started ))s)"

# ---------------------------------------------------------------- boot ----------------------------------------
work=$(mktemp -d /tmp/nf-systemd-test.XXXXXX)
xchg="$work/xchg"
mkdir -p "$xchg/v1" "$xchg/v2"
for name in nodefleet-agent nodefleet-coordinator nodefleet; do
  cp "$dist/${name}_${version}-1_${arch}.deb" "$xchg/v1/"
  cp "$dist/${name}_${version}-2_${arch}.deb" "$xchg/v2/"
done
machine="nf-test-$$"
cat > "$work/boot.sh" <<EOF
#!/bin/sh
# In a private mount namespace: nspawn wants a tmpfs at /run/systemd/nspawn, which this machine's /run is not.
set -e
mkdir -p /run/systemd/nspawn
mount -t tmpfs tmpfs /run/systemd/nspawn
exec systemd-nspawn -D "$rootfs" --boot --register=no --keep-unit --console=pipe --volatile=overlay \
  -M "$machine" --bind="$xchg:/run/xchg"
EOF
unshare --mount --propagation private sh "$work/boot.sh" > "$work/console.log" 2>&1 < /dev/null &
boot_pid=$!
pid1=""

cleanup() {
  if [ -n "$pid1" ] && kill -0 "$pid1" 2>/dev/null; then
    nsenter -t "$pid1" -a -- systemctl poweroff >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 50); do kill -0 "$boot_pid" 2>/dev/null || break; sleep 0.2; done
  kill "$boot_pid" 2>/dev/null || true
  sleep 0.5
  kill -9 "$boot_pid" 2>/dev/null || true
  wait "$boot_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The container's PID 1: the descendant of the nspawn process named systemd.
for _ in $(seq 1 100); do
  for p in $(ps -e -o pid= -o ppid= -o comm= | awk -v root="$boot_pid" '
      { parent[$1] = $2; comm[$1] = $3 }
      END { for (p in comm) if (comm[p] == "systemd") { q = p; while (q in parent && q != root) q = parent[q]; if (q == root) print p } }'); do
    pid1=$p
  done
  [ -n "$pid1" ] && break
  kill -0 "$boot_pid" 2>/dev/null || { cat "$work/console.log" >&2; die "systemd-nspawn exited"; }
  sleep 0.1
done
[ -n "$pid1" ] || { cat "$work/console.log" >&2; die "no systemd in the container"; }

# ct COMMAND...: runs in the container (all its namespaces), with a clean environment.
ct() { nsenter -t "$pid1" -a -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
         HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
ct_sh() { ct sh -c "$1"; }

# systemctl answers once PID 1 has its private socket; --wait then blocks until the boot is over.
state=""
for _ in $(seq 1 300); do
  state=$(ct timeout 60 systemctl is-system-running --wait 2>&1)
  case "$state" in running|degraded|maintenance|stopping) break ;; esac
  sleep 0.2
done
case "$state" in running|degraded) ok "container booted ($state) in $(( $(date +%s) - started ))s" ;; *) fail "container boot: $state"; die "boot failed" ;; esac

# Free loopback ports for the coordinator: the container shares this machine's network.
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
port=$(free_port); mport=$(free_port)
while [ "$mport" = "$port" ]; do mport=$(free_port); done
addr="127.0.0.1:$port"

# ---------------------------------------------------------------- install -------------------------------------
# The coordinator listens on a free port instead of 7443: a drop-in, as an operator would add one.
ct_sh "mkdir -p /etc/systemd/system/nodefleet-coordinator.service.d && printf '[Service]\nEnvironment=NODEFLEET_LISTEN=$addr NODEFLEET_METRICSLISTEN=127.0.0.1:$mport\n' > /etc/systemd/system/nodefleet-coordinator.service.d/10-test-ports.conf"
check "dpkg -i of the three packages (revision 1)" ct_sh 'dpkg -i /run/xchg/v1/*.deb'
check "dpkg -s: all three installed at $version-1" ct_sh "for p in nodefleet-agent nodefleet-coordinator nodefleet; do dpkg-query -W -f='\${Status} \${Version}\n' \$p | grep -qx 'install ok installed $version-1' || exit 1; done"
for unit in nodefleet-agent nodefleet-coordinator; do
  check "systemd-analyze verify $unit.service prints nothing" ct_sh "out=\$(systemd-analyze verify /lib/systemd/system/$unit.service 2>&1); [ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }"
done
check "nodefleet --version prints $version" ct_sh "[ \"\$(nodefleet --version)\" = '$version' ]"
check "nodefleet-agent --version prints $version" ct_sh "[ \"\$(nodefleet-agent --version)\" = '$version' ]"
check "nodefleet-coordinator --version prints $version" ct_sh "[ \"\$(nodefleet-coordinator --version)\" = '$version' ]"

# ---------------------------------------------------------------- the coordinator -----------------------------
wait_active() { # UNIT: active within 30 s (a Type=notify unit is active only after READY=1)
  ct_sh "for i in \$(seq 1 150); do [ \"\$(systemctl is-active $1)\" = active ] && exit 0; sleep 0.2; done; systemctl status --no-pager $1; exit 1"
}
check "nodefleet-coordinator is active after READY" wait_active nodefleet-coordinator
check "nodefleet-coordinator: Type=notify, active/running" ct_sh "systemctl show -p Type,ActiveState,SubState nodefleet-coordinator | sort | tr '\n' ' ' | grep -qx 'ActiveState=active SubState=running Type=notify '"
check "first start initialised /var/lib/nodefleet (0700, owned by nodefleet)" ct_sh \
  "[ \"\$(stat -c '%a %U' /var/lib/nodefleet)\" = '700 nodefleet' ] && [ \"\$(stat -c %U /var/lib/nodefleet/pki/ca.crt)\" = nodefleet ] && [ -f /var/lib/nodefleet/admin.conf ]"
check "journalctl -u nodefleet-coordinator: initialised, then serving on $addr" ct_sh \
  "journalctl -u nodefleet-coordinator --no-pager | grep -q 'Initialised /var/lib/nodefleet' && journalctl -u nodefleet-coordinator --no-pager | grep -q 'serving on $addr'"
# LimitNOFILE=65536 is clamped to the container's own ceiling (systemd cannot raise its hard limit), which on
# this kind of machine is lower: the process must have min(65536, that ceiling).
check "coordinator process: user nodefleet, no capabilities, no new privileges, LimitNOFILE=65536" ct_sh \
  "pid=\$(systemctl show -p MainPID --value nodefleet-coordinator); uid=\$(id -u nodefleet);
   ceiling=\$(awk '/^Max open files/ { print \$5 }' /proc/1/limits); want=65536; [ \"\$ceiling\" -lt \$want ] && want=\$ceiling;
   echo \"pid \$pid uid \$uid, open files wanted \$want\"; grep -E '^(Uid|CapBnd|NoNewPrivs):' /proc/\$pid/status; grep 'open files' /proc/\$pid/limits;
   [ \"\$(systemctl show -p LimitNOFILE --value nodefleet-coordinator)\" = 65536 ] &&
   grep -Eq \"^Uid:\s+\$uid\s\" /proc/\$pid/status && grep -Eq '^CapBnd:\s+0+$' /proc/\$pid/status &&
   grep -Eq '^NoNewPrivs:\s+1$' /proc/\$pid/status && grep -Eq \"^Max open files +\$want +\$want \" /proc/\$pid/limits"
check "coordinator sandbox: /home hidden, /usr read-only, private /tmp" ct_sh \
  "systemctl show -p ProtectHome,ProtectSystem,PrivateTmp,NoNewPrivileges,CapabilityBoundingSet nodefleet-coordinator | sort | tr '\n' ' ' | grep -qx 'CapabilityBoundingSet= NoNewPrivileges=yes PrivateTmp=yes ProtectHome=yes ProtectSystem=strict '"

# ---------------------------------------------------------------- join ----------------------------------------
check "nodefleet-agent is active before joining, waiting quietly" ct_sh \
  "for i in \$(seq 1 50); do journalctl -u nodefleet-agent --no-pager | grep -q 'Not joined yet' && [ \"\$(systemctl is-active nodefleet-agent)\" = active ] && exit 0; sleep 0.2; done; systemctl status --no-pager nodefleet-agent; exit 1"
join=$(ct nodefleet --coordinator "$addr" token create --print-join-command 2>&1)
token=$(printf '%s' "$join" | grep -o -- '--token [^ ]*' | cut -d' ' -f2)
pin=$(printf '%s' "$join" | grep -o -- '--ca-cert-hash [^ ]*' | cut -d' ' -f2)
[ -n "$token" ] && [ -n "$pin" ] && ok "nodefleet token create --print-join-command (admin.conf found in /var/lib/nodefleet)" \
  || fail "token create: $join"
node=nf-pkg-test
check "nodefleet-agent join" ct nodefleet-agent join --token "$token" --ca-cert-hash "$pin" --node-name "$node" "$addr"
check "journalctl -u nodefleet-agent: connected as $node (the running service picked up the join)" ct_sh \
  "for i in \$(seq 1 100); do journalctl -u nodefleet-agent --no-pager | grep -q 'Connected to the coordinator at $addr as $node' && exit 0; sleep 0.2; done; journalctl -u nodefleet-agent --no-pager | tail -20; exit 1"
check "nodefleet-agent: Type=notify, active/running" ct_sh "systemctl show -p Type,ActiveState,SubState nodefleet-agent | sort | tr '\n' ' ' | grep -qx 'ActiveState=active SubState=running Type=notify '"
check "nodefleet nodes: $node Online" ct_sh "nodefleet --coordinator $addr nodes | grep -E '^$node +Online'"
agent_rss=$(ct_sh "grep VmRSS /proc/\$(systemctl show -p MainPID --value nodefleet-agent)/status" | tr -s ' \t' ' ')
echo "    # agent under systemd, just connected: $agent_rss"

# ---------------------------------------------------------------- a plan through the coordinator --------------
ct_sh "printf '[Unit]\nDescription=placeholder kubelet (NodeFleet package test)\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' > /etc/systemd/system/kubelet.service && systemctl daemon-reload && systemctl start kubelet"
kubelet_pid=$(ct systemctl show -p MainPID --value kubelet)
cat > "$xchg/plan.yaml" <<'EOF'
apiVersion: nodefleet.io/v1
kind: NodePlan
metadata:
  name: package-test
spec:
  kubernetesVersion: v1.31.2
  runtime:
    kind: containerd
    cgroupDriver: systemd
  kubelet:
    dropInName: 20-nodefleet.conf
    extraArgs: {node-labels: "nodefleet.io/package-test=true"}
  # No container runtime in this container: only the kubelet's configuration and restart are exercised.
  skipPhases: [containerd-config, prepull-images, verify]
EOF
apply_out=$(ct nodefleet --coordinator "$addr" plan apply /run/xchg/plan.yaml --node "$node" --ignore-preflight-errors=all --wait --timeout 2m 2>&1)
apply_rc=$?
[ $apply_rc = 0 ] && ok "nodefleet plan apply --wait: applied on $node" || { fail "nodefleet plan apply --wait (exit $apply_rc)"; printf '%s\n' "$apply_out" | sed 's/^/    # /'; }
run_id=$(printf '%s' "$apply_out" | grep -o 'run package-test-[0-9a-z-]*' | head -n1 | cut -d' ' -f2)
check "systemctl show kubelet -p DropInPaths: systemd loaded the drop-in" ct_sh \
  "systemctl show -p DropInPaths --value kubelet | grep -qw /etc/systemd/system/kubelet.service.d/20-nodefleet.conf"
check "kubelet's environment has the plan's KUBELET_EXTRA_ARGS" ct_sh \
  "systemctl show -p Environment --value kubelet | grep -q 'KUBELET_EXTRA_ARGS=.*--node-labels=nodefleet.io/package-test=true'"
check "the kubelet was restarted by the plan and is active, no daemon-reload pending" ct_sh \
  "[ \"\$(systemctl show -p MainPID --value kubelet)\" != '$kubelet_pid' ] && [ \"\$(systemctl is-active kubelet)\" = active ] && [ \"\$(systemctl show -p NeedDaemonReload --value kubelet)\" = no ]"
check "journalctl -u nodefleet-agent: the plan's run succeeded" ct_sh \
  "journalctl -u nodefleet-agent --no-pager | grep -q 'Run $run_id of plan package-test: Succeeded'"

# ---------------------------------------------------------------- upgrade -------------------------------------
identity="/etc/nodefleet/agent.yaml /etc/nodefleet/pki/node.crt /etc/nodefleet/pki/node.key /etc/nodefleet/pki/ca.crt /var/lib/nodefleet/pki/ca.crt /var/lib/nodefleet/admin.conf"
before=$(ct_sh "sha256sum $identity")
agent_pid=$(ct systemctl show -p MainPID --value nodefleet-agent)
coord_pid=$(ct systemctl show -p MainPID --value nodefleet-coordinator)
ct_sh "echo '# kept across upgrades (package test)' >> /etc/nodefleet/coordinator.yaml"
check "dpkg -i of the three packages (revision 2: upgrade)" ct_sh 'dpkg -i /run/xchg/v2/*.deb'
check "dpkg -s: all three at $version-2" ct_sh "for p in nodefleet-agent nodefleet-coordinator nodefleet; do dpkg-query -W -f='\${Version}\n' \$p | grep -qx '$version-2' || exit 1; done"
check "upgrade kept the node's identity, the CA and admin.conf (same bytes)" ct_sh "[ \"\$(sha256sum $identity)\" = '$before' ]"
check "upgrade kept the modified conffile /etc/nodefleet/coordinator.yaml" ct_sh "grep -q 'kept across upgrades' /etc/nodefleet/coordinator.yaml && [ ! -e /etc/nodefleet/coordinator.yaml.dpkg-new ]"
check "upgrade restarted both services, both active" ct_sh \
  "wait_for() { for i in \$(seq 1 150); do [ \"\$(systemctl is-active \$1)\" = active ] && return 0; sleep 0.2; done; return 1; };
   wait_for nodefleet-agent && wait_for nodefleet-coordinator &&
   [ \"\$(systemctl show -p MainPID --value nodefleet-agent)\" != '$agent_pid' ] &&
   [ \"\$(systemctl show -p MainPID --value nodefleet-coordinator)\" != '$coord_pid' ]"
check "after the upgrade the agent reconnects as $node and the node is Online" ct_sh \
  "for i in \$(seq 1 100); do [ \"\$(journalctl -u nodefleet-agent --no-pager | grep -c 'Connected to the coordinator at $addr as $node')\" -ge 2 ] && nodefleet --coordinator $addr nodes | grep -qE '^$node +Online' && exit 0; sleep 0.2; done; journalctl -u nodefleet-agent --no-pager | tail; nodefleet --coordinator $addr nodes; exit 1"
# The journal survived: the same plan again is recognised as applied by the first run.
check "upgrade kept the agent's journal: the same plan is already applied by $run_id" ct_sh \
  "nodefleet --coordinator $addr plan apply /run/xchg/plan.yaml --node $node --ignore-preflight-errors=all --wait --timeout 2m >/dev/null 2>&1;
   journalctl -u nodefleet-agent --no-pager | grep -q 'already applied by run $run_id'"
check "the coordinator kept its data: $node still listed with its run" ct_sh \
  "nodefleet --coordinator $addr node describe $node | grep -q '$run_id'"

# ---------------------------------------------------------------- purge ---------------------------------------
check "dpkg --purge of the three packages" ct_sh 'dpkg --purge nodefleet-agent nodefleet-coordinator nodefleet'
check "purge removed the node's identity, the agent's journal and the coordinator's data" ct_sh \
  "for p in /etc/nodefleet /var/lib/nodefleet /var/lib/nodefleet-agent /usr/bin/nodefleet /usr/bin/nodefleet-agent /usr/bin/nodefleet-coordinator; do [ ! -e \$p ] || { echo \"\$p remains\"; exit 1; }; done"
check "purge removed the units and stopped the services" ct_sh \
  "for u in nodefleet-agent nodefleet-coordinator; do [ \"\$(systemctl show -p LoadState --value \$u)\" = not-found ] || { systemctl status --no-pager \$u; exit 1; }; done;
   [ -z \"\$(ls /etc/systemd/system/multi-user.target.wants/ | grep nodefleet)\" ] && ! grep -qs nodefleet /proc/[0-9]*/comm"

echo "systemd-test: $passed passed, $failed failed ($(( $(date +%s) - started ))s)"
[ "$failed" = 0 ]
