#!/usr/bin/env bash
# The services the cluster tests run against: PostgreSQL on 127.0.0.1:5432 (trust auth, user
# postgres), started with the machine's own commands when it is not running; tests create their
# own databases on it (never share state through it). And the nats-server binary: each test
# starts a private one with JetStream on a free port, so only the program must be installed.
# Set MICROLEARN_TEST_POSTGRES to use another PostgreSQL instead (nothing is started then).
set -euo pipefail

sudo=""
[[ "$(id -u)" -ne 0 ]] && sudo="sudo"

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v nats-server >/dev/null && [[ ! -x /usr/sbin/nats-server ]]; then
    echo "infra: installing nats-server (Debian package)"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y nats-server
fi
echo "infra: $(/usr/sbin/nats-server --version 2>/dev/null || nats-server --version)"

if [[ -n "${MICROLEARN_TEST_POSTGRES:-}" ]]; then
    echo "infra: using MICROLEARN_TEST_POSTGRES (not starting a server)"
    exit 0
fi

if ! command -v pg_isready >/dev/null; then
    echo "infra: installing PostgreSQL (Debian packages)"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y postgresql
fi

if ! pg_up; then
    echo "infra: starting PostgreSQL"
    if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        version="$(ls /etc/postgresql | sort -V | tail -1)"
        $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
fi
for _ in $(seq 1 60); do
    pg_up && break
    sleep 0.5
done
if ! pg_up; then
    echo "error: PostgreSQL is not answering on 127.0.0.1:5432; the cluster tests need it" >&2
    exit 1
fi
# Trust auth for the postgres user over TCP is what the tests expect; say so if it is not.
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
    echo "error: cannot log in to PostgreSQL on 127.0.0.1:5432 as postgres without a password" >&2
    echo "       (set MICROLEARN_TEST_POSTGRES=postgres://USER:PASS@HOST:PORT/postgres)" >&2
    exit 1
fi
echo "infra: PostgreSQL ready on 127.0.0.1:5432"
