#!/usr/bin/env bash
# Start a single-node Slurm on localhost (Debian's slurm-wlm and munge) for
# tests/workflow/test_slurm.py: munged, then slurmctld and slurmd from a slurm.conf written
# from tests/slurm/slurm.conf.in, then wait until `sinfo` shows the node idle.
#
#   apt-get install -y --no-install-recommends slurm-wlm munge   # once, as root
#   bash tests/slurm/start_slurm.sh          # idempotent: does nothing if the node is up
#   bash tests/slurm/start_slurm.sh stop     # stop the daemons that it started, no others
#
# Needs root (the daemons run as root; no cgroups, no slurmdbd). It writes
# /etc/slurm/slurm.conf, but refuses to replace one it did not write. Logs:
# /var/log/slurm/slurmctld.log, /var/log/slurm/slurmd.log.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CONF=/etc/slurm/slurm.conf
MARKER="# Written by tests/slurm/start_slurm.sh"
HOST="$(hostname -s)"
STARTED=/run/evsynth-slurm.started # names of the daemons this script started, one a line

die() {
    echo "start_slurm.sh: $*" >&2
    exit 1
}

node_state() { # prints e.g. "idle", nothing when slurmctld does not answer
    timeout 10 sinfo --noheader --nodes="$HOST" --format=%T 2>/dev/null | head -n 1 || true
}

pid_file() {
    case "$1" in
    munged) echo /run/munge/munged.pid ;;
    *) echo "/run/$1.pid" ;;
    esac
}

daemon_running() { # $1 = munged, slurmctld or slurmd; a stale pid file of another process does not count
    local file pid
    file="$(pid_file "$1")"
    [[ -s "$file" ]] || return 1
    pid="$(cat "$file")"
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1" ]]
}

start_daemon() { # $1 = daemon, then the command; stdio detached so no caller waits on its pipes
    local name="$1"
    shift
    "$@" </dev/null >/dev/null 2>&1
    echo "$name" >>"$STARTED"
}

stop_daemon() { # $1 = daemon
    if daemon_running "$1"; then
        kill "$(cat "$(pid_file "$1")")"
        for _ in $(seq 50); do
            daemon_running "$1" || return 0
            sleep 0.2
        done
        die "could not stop $1"
    fi
}

if [[ "${1:-}" == "stop" ]]; then
    for name in slurmd slurmctld munged; do
        if grep -qx "$name" "$STARTED" 2>/dev/null; then
            stop_daemon "$name"
            echo "start_slurm.sh: stopped $name"
        fi
    done
    rm -f "$STARTED"
    exit 0
fi

[[ $EUID -eq 0 ]] || die "must run as root (it starts munged, slurmctld and slurmd)"
export PATH="$PATH:/usr/sbin"
for tool in munged mungekey munge unmunge slurmctld slurmd sinfo scontrol; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "'$tool' not found: apt-get install -y --no-install-recommends slurm-wlm munge"
done

# Up already? Ask only a slurmctld that can be there: sinfo takes ~10 s to give up on none.
if [[ -e "$CONF" ]] && { ! grep -qF "$MARKER" "$CONF" || daemon_running slurmctld; }; then
    case "$(node_state)" in
    idle | mixed | allocated | completing)
        echo "start_slurm.sh: Slurm already up ($HOST $(node_state))"
        exit 0
        ;;
    esac
fi

# --- munge: one key, one daemon, running as the munge user --------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    start_daemon munged runuser -u munge -- munged
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.2
    done
    munge -n | unmunge >/dev/null || die "munged did not start (see /var/log/munge/munged.log)"
fi

# --- slurm.conf for this one node ---------------------------------------------------------
if [[ -e "$CONF" ]] && ! grep -qF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script: not replacing a real cluster's configuration"
fi
CPUS="$(nproc)"
TOTAL_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
MEMORY=$((TOTAL_MB - TOTAL_MB / 10)) # 10% below the total: slurmd drains a node that has less than it claims
NEW_CONF="$(sed -e "s/@HOST@/$HOST/g" -e "s/@CPUS@/$CPUS/g" -e "s/@MEMORY@/$MEMORY/g" "$HERE/slurm.conf.in")"
mkdir -p /etc/slurm
if [[ ! -e "$CONF" ]] || [[ "$(cat "$CONF")" != "$NEW_CONF" ]]; then
    printf '%s\n' "$NEW_CONF" >"$CONF"
    # A changed configuration needs fresh daemons.
    stop_daemon slurmd
    stop_daemon slurmctld
fi
install -d -m 0755 /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

# --- daemons ------------------------------------------------------------------------------
daemon_running slurmctld || start_daemon slurmctld slurmctld
for _ in $(seq 100); do
    timeout 5 scontrol ping 2>/dev/null | grep -q "is UP" && break
    sleep 0.2
done
timeout 5 scontrol ping | grep -q "is UP" || die "slurmctld did not come up (see /var/log/slurm/slurmctld.log)"
daemon_running slurmd || start_daemon slurmd slurmd

for _ in $(seq 150); do
    state="$(node_state)"
    case "$state" in
    idle | mixed | allocated)
        echo "start_slurm.sh: Slurm up: node $HOST ($CPUS CPUs, ${MEMORY} MB) $state, partition debug"
        exit 0
        ;;
    down* | drain*) # e.g. left down by an earlier run: bring it back
        scontrol update nodename="$HOST" state=resume 2>/dev/null || true
        ;;
    esac
    sleep 0.2
done
die "node $HOST is '$(node_state)', not idle, after 30 s (see /var/log/slurm/slurmd.log and slurmctld.log)"
