#!/bin/sh
# Proves citizen on a Raspberry Pi's CPUs, without a Pi: builds a Debian bookworm
# arm64 root (debootstrap + qemu-user-static, both Debian packages), installs the
# project there from this checkout the way a Pi user would (`make` with the
# runtime-only stamp of `make run`, as the user pi), then under emulated Cortex-A72
# (Pi 4) and Cortex-A76 (Pi 5) CPUs runs: init -> run -> status -> pair two
# daemons -> put -> evict -> get back from the friend's shares -> doctor.
# Prints one PASS/FAIL line per CPU and a last line for all. Takes a long while
# (tens of minutes under emulation); not part of the test suite.
#
#   sudo scripts/arm64-check.sh            # ROOT=/var/tmp/citizen-arm64 is kept for reruns
#   sudo ROOT=/srv/a64 CPUS=cortex-a72 scripts/arm64-check.sh
set -eu

ROOT=${ROOT:-/var/tmp/citizen-arm64}
CPUS=${CPUS:-"cortex-a72 cortex-a76"}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SRC=$(cd "$(dirname "$0")/.." && pwd)
STEP_TIMEOUT=${STEP_TIMEOUT:-900}  # seconds a daemon may take to answer under emulation

say() { printf 'arm64-check: %s\n' "$*"; }
die() { say "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and binfmt need it)"

# -- the host: qemu for arm64 binaries, registered with the kernel -------------------
missing=""
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
[ -x /usr/bin/qemu-aarch64-static ] || missing="$missing qemu-user-static"
command -v update-binfmts >/dev/null 2>&1 || missing="$missing binfmt-support"
if [ -n "$missing" ]; then
    say "installing$missing"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
[ -e /proc/sys/fs/binfmt_misc/register ] ||
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
    die "cannot mount binfmt_misc (a container without the privilege?)"
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 ||
    die "cannot register qemu-aarch64 with binfmt_misc"

# -- the Pi's root: Debian bookworm arm64, with what `make run` asks for -------------
if [ ! -x "$ROOT/usr/bin/python3" ]; then
    say "debootstrap bookworm arm64 into $ROOT"
    rm -rf "$ROOT"
    debootstrap --arch=arm64 \
        --include=python3,python3-venv,python3-dev,build-essential,libgmp-dev,make,ca-certificates,procps,diffutils \
        bookworm "$ROOT" "$MIRROR" >/tmp/citizen-arm64-debootstrap.log 2>&1 ||
        { tail -20 /tmp/citizen-arm64-debootstrap.log; die "debootstrap"; }
fi
cp /usr/bin/qemu-aarch64-static "$ROOT/usr/bin/"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
chroot "$ROOT" sh -c 'id pi >/dev/null 2>&1 || useradd --create-home --shell /bin/bash pi'

cleanup() {
    for m in dev/pts dev sys proc; do
        mountpoint -q "$ROOT/$m" && umount -l "$ROOT/$m" || true
    done
}
trap cleanup EXIT
for m in proc sys dev dev/pts; do
    mountpoint -q "$ROOT/$m" || mount --bind "/$m" "$ROOT/$m"
done

# -- the project, as the Pi user's checkout, installed the way `make run` does ---------
say "copying the checkout ($(git -C "$SRC" rev-parse --short HEAD)) to /home/pi/citizen"
rm -rf "$ROOT/home/pi/citizen"
mkdir -p "$ROOT/home/pi/citizen"
git -C "$SRC" archive HEAD | tar -x -C "$ROOT/home/pi/citizen"
chroot "$ROOT" chown -R pi:pi /home/pi/citizen
say "installing (make .venv/.installed-runtime, runtime deps only) under emulation"
# the host's CA bundle too, for a network that inspects TLS (a Pi at home needs none)
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca.crt"
if ! chroot "$ROOT" runuser -u pi -- env -i HOME=/home/pi PATH=/usr/bin:/bin \
    PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DEFAULT_TIMEOUT=180 \
    make -C /home/pi/citizen .venv/.installed-runtime >/tmp/citizen-arm64-install.log 2>&1; then
    tail -30 /tmp/citizen-arm64-install.log
    die "install"
fi
du -sh "$ROOT/home/pi/citizen/.venv" | sed 's/^/arm64-check: runtime venv /'

# -- the scenario, run as pi under each CPU ---------------------------------------------
cat >"$ROOT/tmp/citizen-scenario.sh" <<'EOF'
#!/bin/sh
# Two households on one emulated Pi: pair, put, evict, get back from the friend, doctor.
set -eu
export PATH=/home/pi/citizen/.venv/bin:/usr/bin:/bin
T=${STEP_TIMEOUT:-900}
W=$(mktemp -d /tmp/citizen-run.XXXXXX)
A=$W/alpha B=$W/beta
step() { printf '  %s\n' "$*"; }
fail() { printf '  FAILED: %s\n' "$*"; for f in "$W"/*.log; do echo "--- $f"; tail -15 "$f"; done; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
wait_for() {  # wait_for WHAT COMMAND...: poll until the command succeeds
    what=$1; shift; n=0
    until "$@" >/dev/null 2>&1; do
        n=$((n + 2)); [ "$n" -lt "$T" ] || fail "timed out waiting for $what"; sleep 2
    done
}
stop() { kill -TERM "$PA" "$PB" 2>/dev/null || true; wait "$PA" "$PB" 2>/dev/null || true; }
trap stop EXIT

# the CPU qemu emulates, from the features the kernel (here qemu) hands the process:
# a Cortex-A72 (ARMv8.0) has no LSE atomics, a Cortex-A76 (ARMv8.2) has them and dot product
hwcap=$(python3 -c '
import struct
aux = dict(struct.iter_unpack("<QQ", open("/proc/self/auxv", "rb").read()))
hw = aux.get(16, 0)  # AT_HWCAP
print("atomics=%s dotprod=%s" % ("yes" if hw >> 8 & 1 else "no", "yes" if hw >> 20 & 1 else "no"))')
step "arch $(python3 -c 'import platform; print(platform.machine())'), QEMU_CPU=${QEMU_CPU:-default}, $hwcap"
for h in A B; do
    dir=$(eval echo \$$h)
    citizen --data-dir "$dir" init --name "home-$h" >/dev/null || fail "init $h"
    sed -i -e 's/^mdns = true/mdns = false/' -e 's/^port_mapping = true/port_mapping = false/' \
        -e 's/^listen = "0.0.0.0:8385"/listen = "127.0.0.1:0"/' "$dir/config.toml"
done
step "init ok"
citizen --data-dir "$A" run --listen /ip4/127.0.0.1/tcp/0 >"$W/alpha.log" 2>&1 & PA=$!
citizen --data-dir "$B" run --listen /ip4/127.0.0.1/tcp/0 >"$W/beta.log" 2>&1 & PB=$!
wait_for "alpha to answer" citizen --data-dir "$A" status
wait_for "beta to answer" citizen --data-dir "$B" status
step "run + status ok: $(citizen --data-dir "$A" --json status | json 'd["device_name"], d["uptime_s"]')"
code=$(citizen --data-dir "$A" --json invite | json 'd["code"]') || fail "invite"
citizen --data-dir "$B" accept "$code" >/dev/null || fail "accept"
online() { citizen --data-dir "$1" --json friends | json 'd[0]["online"] or sys.exit(1)'; }
wait_for "the friends online" online "$A"
wait_for "the friends online" online "$B"
step "pair ok"
head -c 3000000 /dev/urandom >"$W/file.bin"
obj=$(citizen --data-dir "$A" --json put "$W/file.bin" | json 'd["object_id"]') || fail "put"
protected() {
    citizen --data-dir "$A" --json ls | json "[o for o in d if o['object_id'] == '$obj' and o.get('protection', 'protected') == 'protected' and o['state'] == 'complete'] or sys.exit(1)"
}
wait_for "the object to be protected at the friend" protected
citizen --data-dir "$A" evict "$obj" >/dev/null || fail "evict"
citizen --data-dir "$A" get "$obj" -o "$W/back.bin" >/dev/null || fail "get"
cmp "$W/file.bin" "$W/back.bin" || fail "the object came back different"
step "put + evict + get from the friend's shares ok (3 MB, identical)"
set +e
citizen --data-dir "$A" doctor >"$W/doctor.txt" 2>&1
rc=$?
set -e
sed 's/^/    /' "$W/doctor.txt"
[ "$rc" -le 1 ] || fail "doctor crashed (exit $rc)"
step "doctor ran (exit $rc)"
EOF
chmod 755 "$ROOT/tmp/citizen-scenario.sh"

result=0
passed=""
for cpu in $CPUS; do
    say "scenario under $cpu"
    if QEMU_CPU=$cpu chroot "$ROOT" runuser -u pi -- env -i HOME=/home/pi PATH=/usr/bin:/bin \
        QEMU_CPU="$cpu" STEP_TIMEOUT="$STEP_TIMEOUT" /tmp/citizen-scenario.sh; then
        say "PASS $cpu"
        passed="$passed $cpu"
    else
        say "FAIL $cpu"
        result=1
    fi
done
if [ "$result" = 0 ]; then
    say "PASS: init, run, status, pair, put/evict/get, doctor on arm64 under$passed"
else
    say "FAIL (passed:${passed:- none})"
fi
exit "$result"
