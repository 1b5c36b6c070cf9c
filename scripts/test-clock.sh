#!/usr/bin/env bash
# Runs the unit suite with this machine's clock a year (400 days) ahead and a year back, through
# libfaketime, to prove that no test reads the calendar: each takes "now" from a clock it controls,
# or from the machine's clock that it shares with the processes it runs. Every process the suite
# starts inherits the shifted clock (the test harness passes libfaketime's variables on).
set -euo pipefail
cd "$(dirname "$0")/.."

lib=$(compgen -G '/usr/lib/*/faketime/libfaketime.so.1' | head -n1 || true)
if [[ -z "$lib" ]]; then
    echo "test:clock needs libfaketime: apt-get install faketime" >&2
    exit 2
fi
for offset in ${TEST_CLOCK_OFFSETS:-+400d -400d}; do
    echo "== unit suite with the clock at $offset: $(LD_PRELOAD=$lib FAKETIME=$offset date -u +%FT%TZ)"
    # Timers run on the monotonic clock, which stays real: only the calendar moves. PostgreSQL keeps
    # the real clock: under libfaketime its own timers (statement_timeout, deadlock_timeout) never
    # fire, and pg_ctl must read the time the server writes. libfaketime's
    # first process makes a semaphore and shared memory (named by its pid) that every process under
    # it opens; they are opened to all, since the containers of the tests run as uid 999.
    LD_PRELOAD=$lib FAKETIME=$offset FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_SKIP_CMDS=postgres,pg_ctl \
        sh -c 'chmod 0666 "/dev/shm/sem.faketime_sem_$$" "/dev/shm/faketime_shm_$$" && exec npx mocha' </dev/null
done
