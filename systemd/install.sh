#!/bin/sh
# Install roadside's agent or central on a Debian box, as root:
#
#   systemd/install.sh agent      (make install-agent)
#   systemd/install.sh central    (make install-central)
#
# Options:
#   --dry-run        print every step, change nothing
#   --destdir DIR    lay the files out under DIR (also: DESTDIR=DIR); system changes
#                    (apt, users, systemctl) are printed, not made. The staged tree works
#                    once copied to / on a box with the same Python ($PYTHON's, at the
#                    same path: use PYTHON=/usr/bin/python3 to stage for Debian)
#   --no-venv        skip the Python environment (e.g. with --destdir in tests)
#   --prefix DIR     the virtual environment (default /opt/roadside)
#   --profile NAME   agent: the hardware profile that becomes /etc/roadside/agent.yaml
#                    (firmware_config/profiles/NAME.yaml; default rpi4)
# Environment: PIP_OPTS (extra pip options, e.g. --no-index --find-links DIR), PYTHON,
#   PACKAGE (what pip installs; default: this checkout, e.g. a built wheel instead).
set -eu

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
role=$1
shift
case "$role" in agent | central) ;; *) usage ;; esac

SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=/opt/roadside
PYTHON=${PYTHON:-python3}
PIP_OPTS=${PIP_OPTS:-}
PACKAGE=${PACKAGE:-}
DRY_RUN=0
VENV=1
PROFILE=rpi4
while [ $# -gt 0 ]; do
    case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --destdir) DESTDIR=$2; shift ;;
    --destdir=*) DESTDIR=${1#*=} ;;
    --prefix) PREFIX=$2; shift ;;
    --prefix=*) PREFIX=${1#*=} ;;
    --no-venv) VENV=0 ;;
    --profile) PROFILE=$2; shift ;;
    --profile=*) PROFILE=${1#*=} ;;
    -h | --help) usage ;;
    *) echo "install.sh: unknown option $1" >&2; usage ;;
    esac
    shift
done

CONFDIR=/etc/roadside
UNITDIR=/etc/systemd/system
if [ "$role" = agent ]; then
    APT="bluez iw libpcap0.8 python3-venv"
    UNITS="roadside-agent.service"
    STATEDIR=/var/lib/roadside
    EXAMPLE=$SRC/firmware_config/profiles/$PROFILE.yaml
else
    APT="etcd-server python3-venv"
    UNITS="roadside-central.service roadside-worker@.service"
    STATEDIR=""  # DynamicUser: systemd makes /var/lib/roadside-central
    EXAMPLE=$SRC/systemd/central.example.yaml
fi

# run CMD...: do it, or only print it in --dry-run mode.
run() {
    echo "+ $*"
    [ "$DRY_RUN" = 1 ] || "$@"
}

# system CMD...: a change to the running system; printed only with --destdir or --dry-run.
system() {
    if [ -n "$DESTDIR" ] || [ "$DRY_RUN" = 1 ]; then
        echo "skipped (not on the live system): $*"
    else
        run "$@"
    fi
}

# unit SRC NAME: install a unit file, pointing it at PREFIX.
unit() {
    echo "+ install $1 -> $DESTDIR$UNITDIR/$2"
    [ "$DRY_RUN" = 1 ] && return 0
    sed "s#/opt/roadside#$PREFIX#g" "$1" >"$DESTDIR$UNITDIR/$2"
    chmod 0644 "$DESTDIR$UNITDIR/$2"
}

if [ ! -f "$EXAMPLE" ]; then
    echo "install.sh: no such profile: $EXAMPLE" >&2
    exit 2
fi
if [ -z "$DESTDIR" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (or try --dry-run / --destdir DIR)" >&2
    exit 1
fi

echo "== roadside $role: $SRC -> ${DESTDIR:-/}"

echo "-- Debian packages"
system apt-get update -qq
system env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $APT

if [ "$role" = agent ]; then
    echo "-- user roadside (groups dialout, bluetooth)"
    if ! getent passwd roadside >/dev/null 2>&1; then
        system useradd --system --user-group --home-dir "$STATEDIR" --no-create-home \
            --shell /usr/sbin/nologin roadside
    fi
    system usermod -a -G dialout,bluetooth roadside
fi

echo "-- Python environment in $PREFIX"
if [ "$VENV" = 1 ]; then
    run "$PYTHON" -m venv "$DESTDIR$PREFIX"
    run "$DESTDIR$PREFIX/bin/pip" install --quiet $PIP_OPTS "${PACKAGE:-$SRC}[$role]"
    if [ -n "$DESTDIR" ] && [ "$DRY_RUN" = 0 ]; then
        # the venv's scripts and pyvenv.cfg name where they were made: name $PREFIX instead
        grep -rlI -- "$DESTDIR$PREFIX" "$DESTDIR$PREFIX/bin" "$DESTDIR$PREFIX/pyvenv.cfg" |
            while read -r file; do
                sed -i "s#$DESTDIR$PREFIX#$PREFIX#g" "$file"
            done
        home=$(sed -n 's/^home = //p' "$DESTDIR$PREFIX/pyvenv.cfg")
        version=$("$DESTDIR$PREFIX/bin/python" -c 'import sys; print(sys.version.split()[0])')
        echo "staged for $PREFIX: copy it to / on a box with Python $version in $home"
    fi
else
    echo "skipped (--no-venv): $PYTHON -m venv $PREFIX; pip install '$SRC[$role]'"
fi

echo "-- files"
run mkdir -p "$DESTDIR$UNITDIR" "$DESTDIR$CONFDIR" "$DESTDIR$PREFIX/share/roadside" \
    "$DESTDIR$PREFIX/libexec"
for name in $UNITS; do
    unit "$SRC/systemd/$name" "$name"
done
run cp -R "$SRC/firmware_config" "$DESTDIR$PREFIX/share/roadside/"
run install -m 0644 "$SRC/README.md" "$DESTDIR$PREFIX/share/roadside/"
if [ "$role" = central ]; then
    run mkdir -p "$DESTDIR$UNITDIR/etcd.service.d"
    run install -m 0644 "$SRC/systemd/etcd-roadside.conf" "$DESTDIR$UNITDIR/etcd.service.d/roadside.conf"
fi
if [ "$role" = agent ]; then
    unit "$SRC/firmware_config/monitor/roadside-monitor@.service" roadside-monitor@.service
    run install -m 0755 "$SRC/firmware_config/monitor/roadside-monitor" "$DESTDIR$PREFIX/libexec/"
    run install -d -m 0700 "$DESTDIR$STATEDIR"
    system chown roadside:roadside "$STATEDIR"
fi
run chmod 0755 "$DESTDIR$CONFDIR"
config="$CONFDIR/$role.yaml"
if [ -e "$DESTDIR$config" ]; then
    echo "kept $config (exists)"
else
    run install -m 0644 "$EXAMPLE" "$DESTDIR$config"
fi
if [ "$role" = central ]; then
    echo "-- the site PKI (central makes its own certificate from it on first start)"
    PKIDIR=/var/lib/roadside-central/pki
    ETCDDIR=$CONFDIR/etcd
    if [ -n "$DESTDIR" ] || [ "$DRY_RUN" = 1 ] || [ ! -e "$PKIDIR/ca.key" ]; then
        system "$PREFIX/bin/roadside" pki init --pki-dir "$PKIDIR"
    fi
    echo "-- etcd: TLS with client certificates, then auth (the user roadside: /tdc/ only)"
    system "$PREFIX/bin/roadside" pki etcd --pki-dir "$PKIDIR" --server-dir "$ETCDDIR"
    system chgrp -R etcd "$ETCDDIR"
    system chmod 0750 "$ETCDDIR"
    system chmod 0640 "$ETCDDIR/etcd-server.key"
    system systemctl daemon-reload
    system systemctl restart etcd
    system "$PREFIX/bin/roadside" pki etcd --pki-dir "$PKIDIR" --enable-auth \
        --etcd-endpoints 127.0.0.1:2379
fi
system systemctl daemon-reload

echo
echo "Next steps:"
if [ "$role" = agent ]; then
    cat <<EOF
  1. $PREFIX/bin/roadside agent init --detector-id ID --name NAME --lat LAT --lon LON \\
       --central HOST:9000 (--secret-file SITE_SECRET | --generate-secret)
     (the first detector of a site generates the secret; copy that file to the others)
  2. WiFi from a USB adapter: systemctl enable --now roadside-monitor@wlan1
  3. $PREFIX/bin/roadside agent doctor
  4. systemctl enable --now roadside-agent
EOF
else
    cat <<EOF
  1. edit $config (etcd endpoints: Debian's etcd on 127.0.0.1:2379 by default, with TLS
     and auth set up above)
  2. systemctl enable --now roadside-central
  3. systemctl enable --now roadside-worker@1   (more: roadside-worker@2, ...)
  4. operators: $PREFIX/bin/roadside pki issue operator NAME --role viewer|analyst|admin \
       --pki-dir /var/lib/roadside-central/pki
     boxes: $PREFIX/bin/roadside pki token --detector ID --pki-dir /var/lib/roadside-central/pki
EOF
fi
