#!/usr/bin/env bash
# One-node SLURM test cluster on localhost (Debian 12 / slurm-wlm 22.05).
#
#   tests/slurm/cluster.sh up     # install (apt) + configure + start + smoke test
#   tests/slurm/cluster.sh down   # stop everything started by `up`, remove state
#   tests/slurm/cluster.sh env    # print `export SLURM_CONF=...` (eval-able)
#   tests/slurm/cluster.sh status # sinfo + recent sacct
#
# Must run as root. All generated config, state, logs, the munge key and
# the MariaDB data directory live under $SLURM_TEST_DIR (default /tmp/ln-slurm);
# only munged's socket is at its default /run/munge/munge.socket.2.
# Clients find the cluster via SLURM_CONF=$SLURM_TEST_DIR/etc/slurm.conf
# (source $SLURM_TEST_DIR/env.sh); in addition, unless SLURM_TEST_LINK_ETC=0,
# /etc/slurm/slurm.conf is made a symlink to it (only if no real file exists
# there), so that any shell or subprocess sees the cluster even without
# SLURM_CONF.
#
# Environment knobs:
#   SLURM_TEST_DIR        state directory                     (/tmp/ln-slurm)
#   SLURM_TEST_PARTITION  partition name  ($LN_SLURM_PARTITION, else debug)
#   SLURM_TEST_ACCOUNTING slurmdbd (MariaDB + slurmdbd, sacct keeps finished jobs)
#                         or none (no sacct; plugin must use squeue) (slurmdbd)
#   SLURM_TEST_LINK_ETC   1: symlink /etc/slurm/slurm.conf     (1)
#   SLURM_TEST_NO_INSTALL 1: skip apt-get (packages present)   (0)
#   SLURM_TEST_TIMEOUT    seconds to wait for each step        (120)
#   SLURM_TEST_PROCTRACK  pgid or linuxproc (process tracking)  (pgid)
set -euo pipefail

DIR=${SLURM_TEST_DIR:-/tmp/ln-slurm}
PARTITION=${SLURM_TEST_PARTITION:-${LN_SLURM_PARTITION:-debug}}
ACCOUNTING=${SLURM_TEST_ACCOUNTING:-slurmdbd}
LINK_ETC=${SLURM_TEST_LINK_ETC:-1}
NO_INSTALL=${SLURM_TEST_NO_INSTALL:-0}
TIMEOUT=${SLURM_TEST_TIMEOUT:-120}
PROCTRACK=${SLURM_TEST_PROCTRACK:-pgid}
CLUSTER=lntest
DB_PORT=${SLURM_TEST_DB_PORT:-3307}
NODE=$(hostname -s)
case "$ACCOUNTING" in slurmdbd|none) ;; *) echo "SLURM_TEST_ACCOUNTING must be slurmdbd or none" >&2; exit 2 ;; esac
case "$PROCTRACK" in pgid|linuxproc) ;; *) echo "SLURM_TEST_PROCTRACK must be pgid or linuxproc" >&2; exit 2 ;; esac

export SLURM_CONF=$DIR/etc/slurm.conf
SBIN=/usr/sbin
# slurm 22.05's accounting clients (sacctmgr/sacct -> slurmdbd) ignore AuthInfo
# socket=..., so munged must listen on the compiled-in default socket.
MUNGE_SOCKET=/run/munge/munge.socket.2

log() { printf '[cluster.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; dump_logs; exit 1; }

dump_logs() {
    local f
    for f in "$DIR"/log/*.log; do
        [ -f "$f" ] || continue
        printf '\n===== %s (tail) =====\n' "$f" >&2
        tail -n 30 "$f" >&2 || true
    done
}

# wait_for <description> <command...>: retry every 0.5 s until TIMEOUT
wait_for() {
    local what=$1; shift
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${TIMEOUT}s waiting for $what"
        sleep 0.5
    done
}

install_packages() {
    [ "$NO_INSTALL" = 1 ] && return 0
    local pkgs=(slurm-wlm munge)
    [ "$ACCOUNTING" = slurmdbd ] && pkgs+=(slurmdbd mariadb-server)
    local missing=()
    local p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing ${missing[*]}"
    # Keep maintainer scripts from starting daemons (no init system here);
    # only add a policy-rc.d if the machine has none (Docker images ship one).
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    local inst=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}")
    {
        # fresh images have no (or stale) package lists: update only if needed
        if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]; then
            apt-get update -q
        fi
        "${inst[@]}" || { apt-get update -q && "${inst[@]}"; }
    } > "$DIR/log/apt.log" 2>&1 || rc=$?
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || { tail -n 40 "$DIR/log/apt.log" >&2; die "apt-get failed"; }
}

write_config() {
    mkdir -p "$DIR"/{etc,run,log,spool/ctld,spool/d,munge}
    chmod 0755 "$DIR" "$DIR"/munge

    # --- node geometry: take what slurmd detects, keep some memory for the OS
    local detected cpus boards sockets cores threads mem reserve realmem
    detected=$("$SBIN"/slurmd -C | head -n 1)
    field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$detected"; }
    cpus=$(field CPUs); boards=$(field Boards); sockets=$(field SocketsPerBoard)
    cores=$(field CoresPerSocket); threads=$(field ThreadsPerCore)
    mem=$(field RealMemory)
    [ -n "$cpus" ] && [ -n "$mem" ] || die "cannot parse 'slurmd -C': $detected"
    reserve=$(( mem / 10 )); [ "$reserve" -lt 1024 ] && reserve=1024
    realmem=$(( mem - reserve ))

    local acct_lines
    if [ "$ACCOUNTING" = slurmdbd ]; then
        acct_lines="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
# store sbatch --comment (the plugin puts rule_<rule>_wildcards_<wc> there)
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none"
    else
        # plain sacct fails ("Slurm accounting storage is disabled"); finished
        # jobs are still readable with `sacct -c` (jobcomp file) and, for
        # MinJobAge seconds, with `squeue -t all`
        acct_lines="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt"
    fi

    cat > "$DIR/etc/slurm.conf" <<EOF
# generated by tests/slurm/cluster.sh
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# containers: no cgroup/systemd delegation. proctrack/pgid, not linuxproc:
# like proctrack/cgroup on a real cluster, it kills the processes a step
# leaves behind when the step ends (linuxproc loses track of orphans, so a
# training process whose shell died would survive here and nowhere else)
ProctrackType=proctrack/$PROCTRACK
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
LaunchParameters=use_interactive_step
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
# SLURM's default: SIGTERM, then SIGKILL 30 s later, at a time limit or scancel
KillWait=30
WaitTime=0
# keep finished jobs visible to squeue/scontrol for 10 min
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
$acct_lines
MailProg=/bin/true
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus Boards=$boards SocketsPerBoard=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads RealMemory=$realmem State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

    if [ "$ACCOUNTING" = slurmdbd ]; then
        cat > "$DIR/etc/slurmdbd.conf" <<EOF
# generated by tests/slurm/cluster.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
        chmod 0600 "$DIR/etc/slurmdbd.conf"
    fi

    cat > "$DIR/env.sh" <<EOF
export SLURM_CONF=$DIR/etc/slurm.conf
export LN_SLURM_PARTITION=$PARTITION
EOF

    if [ "$LINK_ETC" = 1 ]; then
        mkdir -p /etc/slurm
        if [ -L /etc/slurm/slurm.conf ] || [ ! -e /etc/slurm/slurm.conf ]; then
            ln -sfn "$DIR/etc/slurm.conf" /etc/slurm/slurm.conf
        else
            log "note: /etc/slurm/slurm.conf is a real file, not linking (use SLURM_CONF)"
        fi
    fi
}

start_munge() {
    if [ ! -s "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    fi
    chmod 0400 "$DIR/munge/munge.key"
    mkdir -p "$DIR/munge/seed" /run/munge
    chmod 0755 /run/munge
    # munged runs as root here: key, socket and logs are root-owned under $DIR
    "$SBIN"/munged --force \
        --key-file="$DIR/munge/munge.key" \
        --socket="$MUNGE_SOCKET" \
        --pid-file="$DIR/run/munged.pid" \
        --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/munge/seed/munged.seed"
    wait_for munged bash -c "munge -S '$MUNGE_SOCKET' -n | unmunge -S '$MUNGE_SOCKET'"
}

start_mariadb() {
    local data=$DIR/mysql
    if [ ! -d "$data/mysql" ]; then
        mkdir -p "$data"
        mariadb-install-db --no-defaults --datadir="$data" --user=root \
            --auth-root-authentication-method=socket --skip-test-db \
            > "$DIR/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed"
    fi
    nohup mariadbd --no-defaults --user=root --datadir="$data" \
        --socket="$DIR/run/mysqld.sock" --pid-file="$DIR/run/mysqld.pid" \
        --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --log-error="$DIR/log/mariadb.log" \
        --innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=2 \
        --innodb-lock-wait-timeout=900 \
        > /dev/null 2>&1 < /dev/null &
    wait_for mariadb mariadb --no-defaults -S "$DIR/run/mysqld.sock" -u root -e 'SELECT 1'
    mariadb --no-defaults -S "$DIR/run/mysqld.sock" -u root -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
        FLUSH PRIVILEGES;"
}

start_slurmdbd() {
    "$SBIN"/slurmdbd
    wait_for slurmdbd sacctmgr -n list cluster
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
}

node_idle() {
    sinfo -h -N -n "$NODE" -o '%T' | grep -Eq '^idle'
}

smoke_test() {
    local out jobid
    out=$(sbatch --parsable -p "$PARTITION" -J cluster-smoke -t 1 --mem=100 \
        -o "$DIR/log/smoke-%j.out" --wait --wrap hostname) || die "sbatch smoke test failed"
    jobid=${out%%;*}
    grep -qx "$NODE" "$DIR/log/smoke-$jobid.out" || die "smoke job $jobid produced no hostname"
    if [ "$ACCOUNTING" = slurmdbd ]; then
        wait_for "job $jobid in sacct" bash -c \
            "sacct -n -X -P -j $jobid -o State | grep -qx COMPLETED"
    else
        wait_for "job $jobid in sacct -c" bash -c \
            "sacct -c -n -P -j $jobid -o State | grep -qx COMPLETED"
    fi
    log "smoke job $jobid COMPLETED on $NODE"
}

up() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    if [ -f "$DIR/run/slurmctld.pid" ] && kill -0 "$(cat "$DIR/run/slurmctld.pid")" 2>/dev/null; then
        log "cluster already running (down first to restart)"; exit 0
    fi
    mkdir -p "$DIR/log"
    install_packages
    write_config
    start_munge
    [ "$ACCOUNTING" = slurmdbd ] && { start_mariadb; start_slurmdbd; }
    "$SBIN"/slurmctld
    wait_for slurmctld scontrol ping
    "$SBIN"/slurmd -N "$NODE"
    wait_for "node $NODE idle" node_idle
    smoke_test
    sinfo >&2
    log "cluster up: source $DIR/env.sh  (SLURM_CONF=$SLURM_CONF, partition $PARTITION)"
}

# stop <name>: TERM the pid in $DIR/run/<name>.pid, wait, then KILL
stop() {
    local pidf=$DIR/run/$1.pid pid i
    [ -f "$pidf" ] || return 0
    pid=$(cat "$pidf" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidf"
}

down() {
    set +e
    if [ -f "$SLURM_CONF" ] && command -v scancel >/dev/null; then
        timeout 10 scancel --full --quiet --user=root >/dev/null 2>&1
    fi
    # give cancelled jobs a moment to end so their slurmstepd processes exit
    if [ -f "$SLURM_CONF" ] && command -v squeue >/dev/null; then
        local i
        for i in $(seq 1 20); do
            [ -z "$(timeout 5 squeue -h -t R,CG -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    stop slurmd
    stop slurmctld
    stop slurmdbd
    stop mysqld
    stop munged
    if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$DIR/etc/slurm.conf" ]; then
        rm -f /etc/slurm/slurm.conf
    fi
    case "$DIR" in
        /|"") ;;
        *) rm -rf "$DIR" ;;
    esac
    log "cluster down ($DIR removed)"
    return 0
}

status() {
    sinfo || true
    sacct -a -X -S now-1day -o JobID,JobName%36,Partition,State,ExitCode,NodeList,Comment%40 || true
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    env) echo "export SLURM_CONF=$SLURM_CONF" ;;
    status) status ;;
    *) echo "usage: $0 {up|down|env|status}" >&2; exit 2 ;;
esac
