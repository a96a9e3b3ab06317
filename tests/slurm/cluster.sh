#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, for the integration tests (and for trying the
# slurm profile by hand).  Needs root and Debian's slurm-wlm + munge (`install` installs them).
#
#   tests/slurm/cluster.sh install   apt-get install slurm-wlm munge (if missing)
#   tests/slurm/cluster.sh start     write /etc/slurm/slurm.conf (state under $NCSN_SLURM_DIR), start
#                                    munged, slurmctld and slurmd
#   tests/slurm/cluster.sh stop      stop the daemons
#
# The node declares $NCSN_SLURM_GPUS (default 2) GPUs as a generic resource (gres/gpu, backed by
# empty stand-in files), so that the profile's `gpu: 1` requests are scheduled exactly as on a real GPU cluster.
set -euo pipefail

DIR=${NCSN_SLURM_DIR:-/tmp/ncsn-slurm}
# The default location, so that every client (sbatch, squeue, and srun inside jobs) finds it.
CONF=/etc/slurm/slurm.conf
MARKER="ClusterName=ncsn-test"
PARTITION=${NCSN_SLURM_PARTITION:-gpu}
GPUS=${NCSN_SLURM_GPUS:-2}

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
    if ! apt-cache policy slurm-wlm 2>/dev/null | grep -q 'Candidate: [0-9]'; then apt-get update -qq; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    if [ -f "$CONF" ] && ! grep -q "^$MARKER" "$CONF"; then
        echo "error: $CONF exists and is not this test cluster's; refusing to overwrite it" >&2
        exit 1
    fi
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$(dirname "$CONF")"
    cat > "$CONF" <<CONF
$MARKER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# Finished jobs stay visible to squeue for this long: the executor polls squeue, not sacct, and the
# integration test asks squeue about every job of a run that can take well over 5 minutes on 2 busy cores.
MinJobAge=3600
SchedulerParameters=sched_interval=1
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:$GPUS State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    # Stand-in device files, one per declared GPU.
    mkdir -p "$DIR/dev"
    for i in $(seq 0 $((GPUS - 1))); do touch "$DIR/dev/gpu$i"; done
    cat > "$(dirname "$CONF")/gres.conf" <<CONF
NodeName=$host Name=gpu File=$DIR/dev/gpu[0-$((GPUS - 1))]
CONF
}

start_munge() {
    if pgrep -x munged >/dev/null; then return; fi
    [ -s /etc/munge/munge.key ] || mungekey -c -f -k /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged
}

start() {
    install
    stop >/dev/null 2>&1 || true
    write_config
    start_munge
    slurmctld
    slurmd
    for _ in $(seq 60); do
        if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
            echo "SLURM is up: partition $PARTITION on $(hostname -s) ($CONF)"
            return
        fi
        sleep 1
    done
    echo "error: the SLURM node did not become idle within 60 s; see $DIR/log/" >&2
    sinfo -N -l >&2 || true
    exit 1
}

stop() {
    pkill -x slurmd || true
    pkill -x slurmctld || true
    # one name per pgrep: pgrep refuses patterns over 15 characters (process names are truncated)
    for _ in $(seq 20); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || return 0; sleep 0.5; done
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
