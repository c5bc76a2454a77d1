#!/usr/bin/env bash
# ensure_services: start PostgreSQL, Redis and Mosquitto on 127.0.0.1 when they
# are not already answering (installing Debian's package first where the server
# is missing and we may: root, apt), and fail loudly if one cannot be started.

_port_open() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}

_wait_port() {  # name port: wait up to 30 s for the port to answer
    local i
    for i in $(seq 1 60); do
        _port_open "$2" && return 0
        python3 -c 'import time; time.sleep(0.5)'
    done
    echo "FATAL: $1 did not start listening on 127.0.0.1:$2" >&2
    return 1
}

_ensure_command() {  # command package: Debian's package, when the command is missing
    command -v "$1" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "==> installing $2"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
}

ensure_services() {
    if ! _port_open 5432; then
        _ensure_command pg_ctlcluster postgresql
        echo "==> starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
        _wait_port PostgreSQL 5432
    fi
    if ! _port_open 6379; then
        _ensure_command redis-server redis-server
        echo "==> starting Redis"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
        _wait_port Redis 6379
    fi
    if ! _port_open 1883; then
        _ensure_command mosquitto mosquitto
        echo "==> starting Mosquitto"
        mosquitto -d -c /etc/mosquitto/mosquitto.conf
        _wait_port Mosquitto 1883
    fi
    echo "==> services up: PostgreSQL :5432, Redis :6379, Mosquitto :1883"
}
