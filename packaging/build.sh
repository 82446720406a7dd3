#!/usr/bin/env bash
# Builds NodeFleet's packages into dist/ with one command:
#   nodefleet-agent        Native AOT binary (glibc >= 2.34)          .deb amd64/arm64, .rpm x86_64/aarch64
#   nodefleet-coordinator  self-contained single file (glibc >= 2.27) .deb, .rpm
#   nodefleet (CLI)        self-contained single file (glibc >= 2.27) .deb, .rpm
#   nodefleet-agent-VERSION-linux-ARCH-singlefile.tar.gz: the agent as a self-contained single file, for
#   distributions older than glibc 2.34 (RHEL 8, Ubuntu 20.04), with its unit file.
#
# usage: packaging/build.sh [--arch amd64|arm64|all] [--revision N] [--out DIR] [--repackage] [--fast]
#   --arch       which architectures (default all; arm64 needs the cross toolchain named below)
#   --revision   package revision (default 1): 0.1.0-N for the same upstream version and binaries
#   --out        output directory (default dist/ in the checkout)
#   --repackage  reuse the binaries already published under OUT/.publish (packaging only)
#   --fast       light compression (gzip -1) instead of xz: for throw-away test packages
#
# Needs: the .NET 10 SDK, clang (AOT), dpkg-deb, rpmbuild; for arm64 also gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and binutils-aarch64-linux-gnu (Debian 12 packages).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pkg="$here/packaging"

arches=(amd64 arm64)
revision=1
out="$here/dist"
repackage=false
deb_compress=(-Zxz)
rpm_payload=w9T.zstdio
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) case "$2" in all) arches=(amd64 arm64) ;; amd64|arm64) arches=("$2") ;; *) echo "error: --arch amd64|arm64|all" >&2; exit 2 ;; esac; shift 2 ;;
    --revision) revision=$2; shift 2 ;;
    --out) out=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    --repackage) repackage=true; shift ;;
    --fast) deb_compress=(-Zgzip -z1); rpm_payload=w1.gzdio; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$revision" =~ ^[0-9]+$ ]] || { echo "error: --revision must be a number" >&2; exit 2; }

# The one version of every binary and package.
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$here/Directory.Build.props" | head -n1)
[ -n "$version" ] || { echo "error: no <Version> in Directory.Build.props" >&2; exit 1; }
maintainer=${NODEFLEET_MAINTAINER:-"NodeFleet maintainers <maintainers@nodefleet.example.org>"}
# Reproducible dates (changelogs, archive members): the last commit's time, else now.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}

for tool in dotnet dpkg-deb rpmbuild; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required (apt-get install dpkg-dev rpm; the .NET 10 SDK)" >&2; exit 1; }
done

rid_of() { case "$1" in amd64) echo linux-x64 ;; arm64) echo linux-arm64 ;; esac; }
rpmarch_of() { case "$1" in amd64) echo x86_64 ;; arm64) echo aarch64 ;; esac; }

mkdir -p "$out"
log="$out/.build/publish.log"

# ---------------------------------------------------------------- publishing ----------------------------------
publish() { # ARCH
  local arch=$1 rid; rid=$(rid_of "$arch")
  local dest="$out/.publish/$rid"
  if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
    # Native AOT cross-compiles with clang --target=aarch64-linux-gnu, which uses the Debian cross toolchain.
    if ! command -v aarch64-linux-gnu-ld >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/libc.so ] || ! ls /usr/lib/gcc-cross/aarch64-linux-gnu/*/crtbegin.o >/dev/null 2>&1; then
      echo "error: the arm64 agent needs the cross toolchain: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu (or --arch amd64)" >&2
      exit 1
    fi
  fi
  command -v clang >/dev/null || { echo "error: Native AOT needs clang (apt-get install clang)" >&2; exit 1; }
  rm -rf "$dest"
  mkdir -p "$dest" "$out/.build"
  # --artifacts-path keeps every intermediate file under OUT/.build: the checkout's bin/ and obj/ (and a build
  # running there at the same time) are not touched.
  local common=(-c Release -r "$rid" --artifacts-path "$out/.build" -nologo -clp:NoSummary)
  echo "==> [$arch] nodefleet-agent (Native AOT)"
  dotnet publish "$here/src/Agent/Agent.csproj" "${common[@]}" -o "$dest/agent" 2>&1 | tee -a "$log" | grep -E "error|warning" || true
  echo "==> [$arch] nodefleet-agent (self-contained single file)"
  dotnet publish "$here/src/Agent/Agent.csproj" "${common[@]}" -p:PublishAot=false -o "$dest/agent-singlefile" 2>&1 | tee -a "$log" | grep -E "error|warning" || true
  echo "==> [$arch] nodefleet-coordinator (self-contained single file)"
  dotnet publish "$here/src/Coordinator/Coordinator.csproj" "${common[@]}" -o "$dest/coordinator" 2>&1 | tee -a "$log" | grep -E "error|warning" || true
  echo "==> [$arch] nodefleet (self-contained single file)"
  dotnet publish "$here/src/Cli/Cli.csproj" "${common[@]}" -o "$dest/cli" 2>&1 | tee -a "$log" | grep -E "error|warning" || true
  for b in agent/nodefleet-agent agent-singlefile/nodefleet-agent coordinator/nodefleet-coordinator cli/nodefleet; do
    [ -x "$dest/$b" ] || { echo "error: publishing $b for $rid failed (see $log)" >&2; exit 1; }
  done
  # The only trim/AOT warnings allowed are LiteDB's (see src/Agent/Agent.csproj); any other fails the build.
  if grep -E "warning IL[0-9]+" "$log" | grep -v "Assembly 'LiteDB' produced" | grep -q .; then
    echo "error: trim/AOT warnings other than LiteDB's:" >&2
    grep -E "warning IL[0-9]+" "$log" | grep -v "Assembly 'LiteDB' produced" | sort -u >&2
    exit 1
  fi
}

# ---------------------------------------------------------------- checks on the binaries ----------------------
max_glibc() { readelf -V "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1; }
check_binary() { # FILE EXPECTED_MACHINE MAX_GLIBC ALLOWED_NEEDED...
  local file=$1 machine=$2 glibc=$3; shift 3
  readelf -h "$file" | grep -q "Machine:.*$machine" || { echo "error: $file is not a $machine binary" >&2; exit 1; }
  local needed lib
  needed=$(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  for lib in $needed; do
    [[ " $* " == *" $lib "* ]] || { echo "error: $file needs $lib, which its package does not depend on" >&2; exit 1; }
  done
  local have; have=$(max_glibc "$file")
  if [ "$(printf '%s\n%s\n' "$have" "$glibc" | sort -V | tail -n1)" != "$glibc" ]; then
    echo "error: $file needs glibc $have, its package declares $glibc" >&2; exit 1
  fi
}
aot_libs="libc.so.6 libm.so.6 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1"
sf_libs="$aot_libs libdl.so.2 librt.so.1 libpthread.so.0 libgcc_s.so.1 libstdc++.so.6"

# ---------------------------------------------------------------- .deb ----------------------------------------
# Package metadata: PACKAGE|binary in the publish dir|section|short description|Depends (besides libc6)
deb_depends_aot="libc6 (>= 2.34), libssl3 | libssl1.1"
deb_depends_sf="libc6 (>= 2.27), libgcc-s1, libstdc++6 (>= 6), libssl3 | libssl1.1"

doc_files() { # PKG DOCDIR
  install -D -m 0644 "$pkg/copyright" "$2/copyright"
  printf '%s (%s) unstable; urgency=medium\n\n  * NodeFleet %s, packaged by packaging/build.sh.\n\n -- %s  %s\n' \
    "$1" "$version-$revision" "$version" "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n > "$2/changelog.Debian.gz"
  chmod 0644 "$2/changelog.Debian.gz"
}
man_page() { # SRC DEST_DIR
  install -d -m 0755 "$2"
  gzip -9n < "$1" > "$2/$(basename "$1").gz"
  chmod 0644 "$2/$(basename "$1").gz"
}

build_deb() { # PACKAGE ARCH
  local name=$1 arch=$2 rid; rid=$(rid_of "$arch")
  local pub="$out/.publish/$rid" tree="$out/.build/deb/$name-$arch"
  rm -rf "$tree"; install -d -m 0755 "$tree/DEBIAN" "$tree/usr/bin"
  local depends description section=admin
  case "$name" in
    nodefleet-agent)
      install -m 0755 "$pub/agent/nodefleet-agent" "$tree/usr/bin/nodefleet-agent"
      install -D -m 0644 "$pkg/systemd/nodefleet-agent.service" "$tree/lib/systemd/system/nodefleet-agent.service"
      man_page "$pkg/man/nodefleet-agent.8" "$tree/usr/share/man/man8"
      depends=$deb_depends_aot
      description="node agent of NodeFleet, Kubernetes node management
 Joins this machine to a NodeFleet coordinator (bootstrap token and a pinned
 CA), keeps one mutual-TLS stream to it and applies the node plans it sends:
 container runtime configuration, image pre-pull, binaries, kubelet drop-ins,
 service restarts. Every step is journaled, so a crash or reboot resumes.
 .
 The service is enabled at installation and waits until the node has joined."
      ;;
    nodefleet-coordinator)
      install -m 0755 "$pub/coordinator/nodefleet-coordinator" "$tree/usr/bin/nodefleet-coordinator"
      install -D -m 0644 "$pkg/systemd/nodefleet-coordinator.service" "$tree/lib/systemd/system/nodefleet-coordinator.service"
      install -D -m 0644 "$pkg/config/coordinator.yaml" "$tree/etc/nodefleet/coordinator.yaml"
      echo /etc/nodefleet/coordinator.yaml > "$tree/DEBIAN/conffiles"
      man_page "$pkg/man/nodefleet-coordinator.8" "$tree/usr/share/man/man8"
      depends="adduser, $deb_depends_sf, tzdata"  # maintenance windows read IANA zones from /usr/share/zoneinfo
      description="fleet state, CA and API server of NodeFleet
 Holds a NodeFleet fleet's state (a LiteDB database) and its certificate
 authority, and serves the agents' and the operators' gRPC APIs (port 7443)
 and Prometheus metrics (port 7444).
 .
 The service runs as the nodefleet system user; its first start initialises
 /var/lib/nodefleet."
      ;;
    nodefleet)
      install -m 0755 "$pub/cli/nodefleet" "$tree/usr/bin/nodefleet"
      man_page "$pkg/man/nodefleet.1" "$tree/usr/share/man/man1"
      depends=$deb_depends_sf
      description="operator command line of NodeFleet
 Talks to a NodeFleet coordinator with an administrator's certificate: join
 tokens, nodes and labels, node plans (validate, diff, apply), fleet rollouts
 and events."
      ;;
  esac
  for s in postinst prerm postrm; do
    [ -e "$pkg/deb/$name/$s" ] && install -m 0755 "$pkg/deb/$name/$s" "$tree/DEBIAN/$s"
  done
  doc_files "$name" "$tree/usr/share/doc/$name"
  install -D -m 0644 "$pkg/deb/lintian/$name" "$tree/usr/share/lintian/overrides/$name"
  local size; size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
  cat > "$tree/DEBIAN/control" <<EOF
Package: $name
Version: $version-$revision
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Section: $section
Priority: optional
Description: $description
EOF
  (cd "$tree" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
  chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/md5sums"
  [ -e "$tree/DEBIAN/conffiles" ] && chmod 0644 "$tree/DEBIAN/conffiles"
  find "$tree" -type d -exec chmod 0755 {} +
  dpkg-deb --root-owner-group "${deb_compress[@]}" --build "$tree" "$out/${name}_${version}-${revision}_${arch}.deb" >/dev/null
  echo "    $out/${name}_${version}-${revision}_${arch}.deb"
}

# ---------------------------------------------------------------- .rpm ----------------------------------------
build_rpms() { # ARCH: one rpmbuild makes nodefleet, nodefleet-agent and nodefleet-coordinator
  local arch=$1 rid rpmarch; rid=$(rid_of "$arch"); rpmarch=$(rpmarch_of "$arch")
  local top="$out/.build/rpm-$arch"
  rm -rf "$top"; mkdir -p "$top"/{SPECS,SOURCES,BUILD,RPMS,SRPMS,BUILDROOT}
  sed -e "s/@VERSION@/$version/g" -e "s/@RELEASE@/$revision/g" \
      -e "s/@MAINTAINER@/$maintainer/g" -e "s/@DATE@/$(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH" '+%a %b %d %Y')/g" \
      "$pkg/rpm/nodefleet.spec.in" > "$top/SPECS/nodefleet.spec"
  rpmbuild -bb --target "$rpmarch-linux" --quiet \
    --define "_topdir $top" \
    --define "nf_publish $out/.publish/$rid" \
    --define "nf_packaging $pkg" \
    --define "_binary_payload $rpm_payload" \
    "$top/SPECS/nodefleet.spec" >"$top/rpmbuild.log" 2>&1 || { cat "$top/rpmbuild.log" >&2; exit 1; }
  find "$top/RPMS" -name '*.rpm' -exec mv {} "$out/" \;
  ls "$out"/*-"$version-$revision.$rpmarch.rpm" | sed 's/^/    /'
}

# ---------------------------------------------------------------- the single-file agent tarball ---------------
build_tarball() { # ARCH
  local arch=$1 rid; rid=$(rid_of "$arch")
  local name="nodefleet-agent-$version-linux-$arch-singlefile" stage="$out/.build/tar"
  rm -rf "$stage"; mkdir -p "$stage/$name"
  install -m 0755 "$out/.publish/$rid/agent-singlefile/nodefleet-agent" "$stage/$name/nodefleet-agent"
  install -m 0644 "$pkg/systemd/nodefleet-agent.service" "$pkg/man/nodefleet-agent.8" "$pkg/copyright" "$stage/$name/"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -C "$stage" -czf "$out/$name.tar.gz" "$name"
  echo "    $out/$name.tar.gz"
}

echo "NodeFleet $version-$revision: ${arches[*]} -> $out"
for arch in "${arches[@]}"; do
  rid=$(rid_of "$arch")
  if [ "$repackage" = true ] && [ -x "$out/.publish/$rid/agent/nodefleet-agent" ]; then
    echo "==> [$arch] reusing the binaries in $out/.publish/$rid"
  else
    publish "$arch"
  fi
  machine=$([ "$arch" = amd64 ] && echo X86-64 || echo AArch64)
  check_binary "$out/.publish/$rid/agent/nodefleet-agent" "$machine" 2.34 $aot_libs
  check_binary "$out/.publish/$rid/agent-singlefile/nodefleet-agent" "$machine" 2.27 $sf_libs
  check_binary "$out/.publish/$rid/coordinator/nodefleet-coordinator" "$machine" 2.27 $sf_libs
  check_binary "$out/.publish/$rid/cli/nodefleet" "$machine" 2.27 $sf_libs
  echo "==> [$arch] packages"
  rm -f "$out"/*_"$version-${revision}_$arch".deb "$out"/*-"$version-$revision.$(rpmarch_of "$arch")".rpm
  for name in nodefleet-agent nodefleet-coordinator nodefleet; do build_deb "$name" "$arch"; done
  build_rpms "$arch"
  build_tarball "$arch"
done
