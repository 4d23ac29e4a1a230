#!/usr/bin/env bash
# The Debian packages: builds them with CPack from the build tree, unpacks them into a scratch
# root (dpkg-deb -x), checks that each file lands where its package says, checks the control
# data and the unit, then runs the packaged daemon's ExecStart command line against the packaged
# configuration (its socket and state moved into the scratch directory) and asks ipc-ctl ping.
# usage: test_deb.sh BUILD_DIR WORK_DIR      exit 77 (skipped) without dpkg-deb
set -euo pipefail
build=$1 work=$2
command -v dpkg-deb >/dev/null || { echo "dpkg-deb not found: skipped"; exit 77; }
rm -rf "$work"
mkdir -p "$work"
root=$work/root
fail() { echo "FAILED: $*" >&2; exit 1; }

cpack -G DEB -B "$work/debs" --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack"; }
deb() { ls "$work"/debs/"$1"_*.deb; }
for p in libipckit-dev ipckit-tools ipc-managerd; do
  [ -f "$(deb $p)" ] || fail "no $p package"
  dpkg-deb -x "$(deb $p)" "$root"
done

# in PACKAGE PATH: PATH is listed by PACKAGE (a glob may match) and is on disk in the root.
in_pkg() {
  local pkg=$1 path=$2 listed
  listed=$(dpkg-deb -c "$(deb "$pkg")" | awk '{print substr($6, 2)}')
  local hit=""
  for f in $listed; do
    # shellcheck disable=SC2053
    [[ $f == $path ]] && hit=$f && break
  done
  [ -n "$hit" ] || fail "$pkg does not ship $path"
  [ -e "$root$hit" ] || fail "$hit of $pkg is not in the unpacked root"
}
in_pkg libipckit-dev /usr/include/ipc/ipc.hpp
in_pkg libipckit-dev /usr/include/ipc/queues.hpp
in_pkg libipckit-dev '/usr/lib*/libipckit.a'
in_pkg libipckit-dev '/usr/lib*/cmake/ipckit/ipckitConfig.cmake'
in_pkg libipckit-dev '/usr/lib*/cmake/ipckit/ipckitConfigVersion.cmake'
in_pkg libipckit-dev '/usr/lib*/cmake/ipckit/ipckitTargets.cmake'
in_pkg libipckit-dev '/usr/lib*/pkgconfig/ipckit.pc'
for t in ipc-ctl ipc-shm ipc-lifecycle; do
  in_pkg ipckit-tools /usr/bin/$t
  in_pkg ipckit-tools /usr/share/man/man1/$t.1
done
in_pkg ipc-managerd /usr/bin/ipc-managerd
in_pkg ipc-managerd /usr/share/man/man8/ipc-managerd.8
in_pkg ipc-managerd /etc/ipckit/managerd.conf
in_pkg ipc-managerd /lib/systemd/system/ipc-managerd.service

# Control data: dependencies, the conffile, the maintainer scripts.
dpkg-deb -f "$(deb libipckit-dev)" Depends | grep -q 'libcereal-dev' || fail "libipckit-dev must depend on libcereal-dev"
dpkg-deb -f "$(deb ipckit-tools)" Depends | grep -q 'libedit2' || fail "ipckit-tools must depend on libedit2"
dpkg-deb -f "$(deb ipc-managerd)" Depends | grep -q 'adduser' || fail "ipc-managerd must depend on adduser"
mkdir -p "$work/control"
dpkg-deb -e "$(deb ipc-managerd)" "$work/control"
grep -qx /etc/ipckit/managerd.conf "$work/control/conffiles" || fail "managerd.conf is not a conffile"
for s in postinst prerm postrm; do
  [ -x "$work/control/$s" ] || fail "no executable $s"
  sh -n "$work/control/$s" || fail "$s is not valid sh"
done
grep -q 'adduser --system --group' "$work/control/postinst" || fail "postinst does not create the ipckit user"

# The unit: hardened, paths from the prefix (/usr), running the packaged configuration.
unit=$root/lib/systemd/system/ipc-managerd.service
for line in Type=notify User=ipckit RuntimeDirectory=ipckit NoNewPrivileges=yes ProtectSystem=strict \
    ProtectHome=yes PrivateTmp=yes ReadWritePaths=/var/lib/ipckit \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' MemoryDenyWriteExecute=yes \
    SystemCallFilter=@system-service 'ExecStart=/usr/bin/ipc-managerd /etc/ipckit/managerd.conf'; do
  grep -qx "$line" "$unit" || fail "the unit lacks '$line'"
done
grep -qE '@[A-Z_]+@' "$unit" && fail "the unit has an unsubstituted @VAR@"
if command -v systemd-analyze >/dev/null; then  # systemd's own check of the unit, where installed
  sed "s|^ExecStart=/usr/bin/|ExecStart=$root/usr/bin/|" "$unit" >"$work/ipc-managerd.service"
  systemd-analyze verify --man=no "$work/ipc-managerd.service" || fail "systemd-analyze verify refuses the unit"
fi
grep -qx 'socket /run/ipckit/managerd.sock' "$root/etc/ipckit/managerd.conf" || fail "managerd.conf socket"
grep -qx 'snapshot /var/lib/ipckit/dump.snap' "$root/etc/ipckit/managerd.conf" || fail "managerd.conf snapshot"

# Run ExecStart's command line from the root, against the packaged configuration with its
# runtime and state directories moved into the scratch directory.
read -r bin conf <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
mkdir -m 700 "$work/run" "$work/state"
sed -e "s|/run/ipckit|$work/run|g" -e "s|/var/lib/ipckit|$work/state|g" "$root$conf" >"$work/managerd.conf"
"$root$bin" "$work/managerd.conf" >"$work/managerd.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT
ctl() { timeout 10 "$root/usr/bin/ipc-ctl" --socket "$work/run/managerd.sock" --timeout 5 "$@"; }
for _ in $(seq 100); do
  [ -S "$work/run/managerd.sock" ] && break
  kill -0 $daemon 2>/dev/null || { cat "$work/managerd.log"; fail "the packaged daemon exited"; }
  sleep 0.1
done
reply=$(ctl ping) || { cat "$work/managerd.log"; fail "ipc-ctl ping"; }
[ "$reply" = PONG ] || fail "ipc-ctl ping answered '$reply'"
if command -v redis-cli >/dev/null; then
  reply=$(timeout 10 redis-cli -s "$work/run/managerd.sock" ping)
  [ "$reply" = PONG ] || fail "redis-cli ping answered '$reply'"
fi
ctl set k v >/dev/null
ctl save >/dev/null
[ -f "$work/state/dump.snap" ] || fail "SAVE did not write the snapshot the configuration names"
kill $daemon
wait $daemon || true
trap - EXIT
echo "packages: $(cd "$work/debs" && ls *.deb | tr '\n' ' ')"
echo "the packaged daemon answered PONG"
