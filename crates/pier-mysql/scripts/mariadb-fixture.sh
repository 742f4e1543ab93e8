#!/usr/bin/env bash
# A private MariaDB for pier-mysql's tests and benchmark.
#
#   mariadb-fixture.sh start DIR PORT   start a MariaDB with its data dir, socket and logs in DIR,
#                                       listening on 127.0.0.1:PORT, binlog on (ROW, FULL image),
#                                       and wait until it answers. Creates the user pier/pier with
#                                       all privileges (root@localhost is reachable on DIR/mysqld.sock).
#   mariadb-fixture.sh stop DIR         shut it down (waits until the process has exited).
#   mariadb-fixture.sh restart DIR PORT stop + start on the same data dir.
#
# With MARIADB_FIXTURE_OWNER_PID=PID in the environment, `start` also leaves a watchdog that stops
# the server and deletes DIR once process PID has exited (test binaries use this, so a crashed or
# killed test run leaves nothing behind).
#
# MARIADB_FIXTURE_BUFFER_POOL sets innodb_buffer_pool_size (default 128M).
#
# Never touches the system MariaDB (/var/lib/mysql, port 3306). Installs Debian's mariadb-server if
# mariadbd is missing (with sudo when not root). Exit status 0 on success.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
port=${3:-}

die() { echo "mariadb-fixture: $*" >&2; exit 1; }
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop|restart DIR [PORT]"

find_bin() {
    for b in "$@"; do
        if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
        for p in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
            if [ -x "$p/$b" ]; then echo "$p/$b"; return 0; fi
        done
    done
    return 1
}

ensure_installed() {
    if find_bin mariadbd >/dev/null && find_bin mariadb-install-db >/dev/null; then return 0; fi
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "mariadb-fixture: installing mariadb-server" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2 || true
    # Only the binaries are needed; do not let the package start the system service.
    $sudo apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >&2
}

client() {
    local cli
    cli=$(find_bin mariadb mysql) || die "no mariadb client found"
    "$cli" --no-defaults -S "$dir/mysqld.sock" -uroot "$@"
}

alive() {
    [ -f "$dir/mysqld.pid" ] && kill -0 "$(cat "$dir/mysqld.pid")" 2>/dev/null
}

start() {
    [ -n "$port" ] || die "start needs a PORT"
    [ "$port" != 3306 ] || die "refusing to use the system port 3306"
    ensure_installed
    # A private tmpdir: a starting server deletes the `#sql*` temporary files it finds in its
    # tmpdir, which broke another fixture's mariadb-install-db running at the same time in /tmp.
    mkdir -p "$dir/tmp"
    dir=$(cd "$dir" && pwd)
    if alive; then echo "mariadb-fixture: already running in $dir" >&2; return 0; fi
    local user_opt=""
    [ "$(id -u)" = 0 ] && user_opt="user=root"
    cat >"$dir/my.cnf" <<EOF
[mysqld]
$user_opt
datadir=$dir/data
socket=$dir/mysqld.sock
pid-file=$dir/mysqld.pid
tmpdir=$dir/tmp
port=$port
bind-address=127.0.0.1
log-error=$dir/error.log
skip-name-resolve
log_bin=$dir/data/binlog
server_id=1
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
gtid_strict_mode=1
innodb_buffer_pool_size=${MARIADB_FIXTURE_BUFFER_POOL:-128M}
innodb_log_file_size=128M
innodb_flush_log_at_trx_commit=2
sync_binlog=0
max_connections=200
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
EOF
    if [ ! -d "$dir/data/mysql" ]; then
        local install
        install=$(find_bin mariadb-install-db mysql_install_db) || die "mariadb-install-db missing"
        "$install" --defaults-file="$dir/my.cnf" --auth-root-authentication-method=socket \
            --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; die "install-db failed"; }
    fi
    local server
    server=$(find_bin mariadbd mysqld) || die "mariadbd missing"
    # setsid: the server must not die with the shell (or test process group) that started it.
    setsid "$server" --defaults-file="$dir/my.cnf" </dev/null >>"$dir/stdout.log" 2>&1 &
    local i
    for i in $(seq 1 300); do
        if client -e "SELECT 1" >/dev/null 2>&1; then break; fi
        if [ "$i" = 300 ]; then tail -30 "$dir/error.log" >&2 || true; die "server did not answer in 60 s"; fi
        sleep 0.2
    done
    client -e "CREATE USER IF NOT EXISTS 'pier'@'%' IDENTIFIED BY 'pier';
               GRANT ALL PRIVILEGES ON *.* TO 'pier'@'%' WITH GRANT OPTION;
               CREATE DATABASE IF NOT EXISTS pier_test;" >/dev/null
    if [ -n "${MARIADB_FIXTURE_OWNER_PID:-}" ]; then
        local wd_alive=0
        if [ -f "$dir/watchdog.pid" ] && kill -0 "$(cat "$dir/watchdog.pid")" 2>/dev/null; then wd_alive=1; fi
        if [ "$wd_alive" = 0 ]; then
            local self
            self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
            setsid bash -c 'owner=$1; script=$2; d=$3
                while kill -0 "$owner" 2>/dev/null; do sleep 1; done
                "$script" stop "$d" >/dev/null 2>&1 || true
                rm -rf "$d"' watchdog "$MARIADB_FIXTURE_OWNER_PID" "$self" "$dir" </dev/null >/dev/null 2>&1 &
            echo $! >"$dir/watchdog.pid"
        fi
    fi
    echo "mariadb-fixture: running in $dir on 127.0.0.1:$port (pid $(cat "$dir/mysqld.pid"))" >&2
}

stop() {
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    alive || return 0
    local pid
    pid=$(cat "$dir/mysqld.pid")
    client -e "SHUTDOWN" >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    *) die "unknown command '$cmd' (start|stop|restart)" ;;
esac
