#!/usr/bin/env bash
# Checks the built packages without installing them: lintian on every .deb and rpmlint on every .rpm (no errors;
# the overrides in packaging/deb/lintian and packaging/rpm/rpmlintrc each say why), then what the .rpm files
# hold (rpm -qpl, -qpi, --scripts, --configfiles) and what the .deb files declare (dpkg-deb --info, --contents).
# The .deb files are installed for real by systemd-test.sh; no RPM-based system can be had here.
#
# usage: packaging/test/lint-test.sh [DIST [ARCH]]   (DIST defaults to dist/, ARCH (amd64|arm64) to this
#        machine's; revision-1 packages, as packaging/build.sh makes them)
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
dist=$(cd "${1:-$here/dist}" && pwd)
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$here/Directory.Build.props" | head -n1)
arch=${2:-$(dpkg --print-architecture)}
rpmarch=$(case "$arch" in amd64) echo x86_64 ;; arm64) echo aarch64 ;; esac)

passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
check() {
  local name=$1; shift
  local output
  if output=$("$@" 2>&1); then ok "$name"; else fail "$name"; printf '%s\n' "$output" | sed 's/^/    # /' | tail -n 40; fi
}
for tool in lintian rpmlint rpm dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install lintian rpmlint rpm)" >&2; exit 1; }
done

deb() { echo "$dist/${1}_${version}-1_${arch}.deb"; }
rpmf() { echo "$dist/${1}-${version}-1.${rpmarch}.rpm"; }

# ---------------------------------------------------------------- .deb ----------------------------------------
for name in nodefleet-agent nodefleet-coordinator nodefleet; do
  f=$(deb "$name")
  [ -f "$f" ] || { fail "$f exists"; continue; }
  out=$(lintian --display-info --fail-on error,warning "$f" 2>&1); rc=$?
  printf '%s\n' "$out" | sed "s/^/    # lintian: /"
  [ $rc = 0 ] && ok "lintian $name: no errors, no warnings" || fail "lintian $name (exit $rc)"
done
check "nodefleet-agent.deb: binary, unit, man page; no config shipped (agent.yaml is written by join)" sh -c "
  c=\$(dpkg-deb --contents '$(deb nodefleet-agent)');
  echo \"\$c\" | grep -q ' ./usr/bin/nodefleet-agent\$' && echo \"\$c\" | grep -q ' ./lib/systemd/system/nodefleet-agent.service\$' &&
  echo \"\$c\" | grep -q ' ./usr/share/man/man8/nodefleet-agent.8.gz\$' && ! echo \"\$c\" | grep -q ' ./etc/' &&
  ! dpkg-deb --info '$(deb nodefleet-agent)' conffiles >/dev/null 2>&1"
check "nodefleet-coordinator.deb: /etc/nodefleet/coordinator.yaml is a conffile" sh -c "
  dpkg-deb --info '$(deb nodefleet-coordinator)' conffiles | grep -qx /etc/nodefleet/coordinator.yaml"
check "nodefleet-agent.deb depends on glibc 2.34 (Native AOT) and libssl" sh -c "
  dpkg-deb -f '$(deb nodefleet-agent)' Depends | grep -q 'libc6 (>= 2.34), libssl3 | libssl1.1'"
check "nodefleet-coordinator.deb depends on adduser and glibc 2.27 (single file)" sh -c "
  dpkg-deb -f '$(deb nodefleet-coordinator)' Depends | grep -q '^adduser, libc6 (>= 2.27)'"
check "nodefleet-coordinator.deb: the coordinator runs without tiered recompilation (its runtime configuration)" sh -c "
  tmp=\$(mktemp -d); trap 'rm -rf \$tmp' EXIT; dpkg-deb -x '$(deb nodefleet-coordinator)' \$tmp;
  grep -aq '\"System.Runtime.TieredCompilation\": false' \$tmp/usr/bin/nodefleet-coordinator"
check "maintainer scripts guard systemctl with /run/systemd/system and use deb-systemd-helper/-invoke" sh -c "
  tmp=\$(mktemp -d); trap 'rm -rf \$tmp' EXIT; dpkg-deb -e '$(deb nodefleet-agent)' \$tmp/a; dpkg-deb -e '$(deb nodefleet-coordinator)' \$tmp/c;
  for d in \$tmp/a \$tmp/c; do
    grep -q 'deb-systemd-helper enable' \$d/postinst && grep -q 'deb-systemd-invoke \$_dh_action' \$d/postinst &&
    grep -q 'deb-systemd-invoke stop' \$d/prerm && grep -q 'deb-systemd-helper purge' \$d/postrm &&
    grep -q '\[ -d /run/systemd/system \]' \$d/postinst || exit 1
  done
  grep -q 'rm -rf /var/lib/nodefleet-agent /etc/nodefleet/pki' \$tmp/a/postrm && grep -q 'rm -rf /var/lib/nodefleet\$' \$tmp/c/postrm &&
  grep -q 'adduser --system' \$tmp/c/postinst"

# ---------------------------------------------------------------- .rpm ----------------------------------------
rpms=()
for name in nodefleet-agent nodefleet-coordinator nodefleet; do
  f=$(rpmf "$name")
  [ -f "$f" ] && rpms+=("$f") || fail "$f exists"
done
# One run over the three: a filter in rpmlintrc is used by one package or another, never unused.
out=$(rpmlint -c "$here/packaging/rpm/rpmlint.toml" -r "$here/packaging/rpm/rpmlintrc" "${rpms[@]}" 2>&1); rc=$?
printf '%s\n' "$out" | sed "s/^/    # rpmlint: /"
[ $rc = 0 ] && printf '%s' "$out" | grep -q ' 0 errors, 0 warnings' && ok "rpmlint: no errors, no warnings" || fail "rpmlint (exit $rc)"
for f in "${rpms[@]}"; do
  echo "    # rpm -qpi $(basename "$f"):"; rpm -qpi "$f" 2>/dev/null | sed 's/^/    #   /'
  echo "    # rpm -qpl $(basename "$f"):"; rpm -qpl "$f" 2>/dev/null | sed 's/^/    #   /'
done
check "nodefleet-agent.rpm: files" sh -c "rpm -qpl '$(rpmf nodefleet-agent)' | sort | tr '\n' ' ' | grep -qx '/etc/nodefleet /usr/bin/nodefleet-agent /usr/lib/systemd/system/nodefleet-agent.service /usr/share/licenses/nodefleet-agent/copyright /usr/share/man/man8/nodefleet-agent.8.gz /var/lib/nodefleet-agent '"
check "nodefleet-coordinator.rpm: coordinator.yaml is %config(noreplace), /var/lib/nodefleet is nodefleet's, 0700" sh -c "
  rpm -qp --configfiles '$(rpmf nodefleet-coordinator)' | grep -qx /etc/nodefleet/coordinator.yaml &&
  rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' '$(rpmf nodefleet-coordinator)' | grep -qx '/etc/nodefleet/coordinator.yaml cn' &&
  rpm -qp --qf '[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME}\n]' '$(rpmf nodefleet-coordinator)' | grep -qx '/var/lib/nodefleet drwx------ nodefleet'"
check "nodefleet-agent.rpm requires glibc 2.34 (Native AOT)" sh -c "rpm -qp --requires '$(rpmf nodefleet-agent)' | grep -q 'GLIBC_2.34'"
check "rpm --scripts: enable on install, try-restart on upgrade, stop on erase; coordinator user in %pre" sh -c "
  for p in nodefleet-agent nodefleet-coordinator; do
    s=\$(rpm -qp --scripts \"$dist/\$p-$version-1.$rpmarch.rpm\");
    echo \"\$s\" | grep -q \"systemctl enable \$p.service\" && echo \"\$s\" | grep -q \"systemctl try-restart \$p.service\" &&
    echo \"\$s\" | grep -q \"disable --now \$p.service\" || { echo \"\$s\"; exit 1; }
  done
  rpm -qp --scripts '$(rpmf nodefleet-coordinator)' | grep -q 'useradd -r -g nodefleet'"
for name in nodefleet-agent nodefleet-coordinator; do
  echo "    # rpm -qp --scripts $name:"; rpm -qp --scripts "$(rpmf "$name")" 2>/dev/null | sed 's/^/    #   /'
done

echo "lint-test: $passed passed, $failed failed"
[ "$failed" = 0 ]
