#!/usr/bin/env bash
# Relay benchmark: envoi vs a private Postfix instance vs smtp-source -> smtp-sink.
#
#   bench/relay/run.sh            # full run: 4 loads x 3 systems x 3 rounds, interleaved (~25 min)
#   bench/relay/run.sh --quick    # N/10, one round: checks the setup in about a minute
#   bench/relay/run.sh --rounds 5 --loads 1,2 ...   (any bench.py option; see bench.py --help)
#
# Installs Postfix from Debian (it ships smtp-source and smtp-sink) with debconf preseeded to
# "No configuration", builds envoi in release mode into $CARGO_TARGET_DIR (default
# /work/target-bench), then runs bench.py. Must run as root (Postfix's master and smtp-sink -u).
# Everything listens on 127.0.0.1; every process started is stopped on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"

if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: must run as root (a private Postfix instance needs it)" >&2
    exit 2
fi

if [ ! -x /usr/sbin/smtp-source ] || [ ! -x /usr/sbin/smtp-sink ] || [ ! -x /usr/sbin/postfix ]; then
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    timeout 300 apt-get update -qq
    timeout 600 apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi
# The Debian package may have started a system-wide Postfix; it is not ours to stop, but it
# must not hold our ports (ours are ephemeral ports on 127.0.0.1, never 25).

echo "building envoi (release) into $CARGO_TARGET_DIR ..." >&2
(cd "$repo" && timeout 1800 cargo build --release -q -p envoi)

py_pid=""
cleanup() {
    # bench.py stops its own children on SIGTERM; this is the net under it.
    if [ -n "$py_pid" ] && kill -0 "$py_pid" 2>/dev/null; then
        kill -TERM "$py_pid" 2>/dev/null || true
        wait "$py_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The whole measurement is bounded too: 60 minutes at most.
timeout --signal=TERM 3600 python3 "$here/bench.py" --envoi "$CARGO_TARGET_DIR/release/envoi" "$@" &
py_pid=$!
wait "$py_pid"
