#!/usr/bin/env bash
# `make test`: the test suite in two lanes side by side, each its own pytest.
#
#   lane 1  tests/integration on the test stack (.lake-test/), printed as it runs
#   lane 2  tests/unit, then the integration modules that start servers of their own and never touch the
#           test stack: test_stack_recovery.py (an S3 server on ports from 21400) and test_cluster.py (the
#           cluster environment); then test_fault_drills.py, in a pytest of its own, on a second test stack
#           (the `test` environment on the ports below, state in .lake-test-2/drills/): the drills kill and
#           restart its servers, which lane 1's tests must never see. State in .lake-test-2/, output in
#           .lake-test-2/pytest.log, printed at the end
#
# The two lanes share no server and no state folder, so they cannot disturb each other's data. Much of the suite
# waits (on JVMs starting, on Airflow's scheduler, on timeouts in the fault drills); side by side the two
# lanes use the second core in those waits (bench/results/make-test-*.txt). Exits non-zero when either fails.
set -uo pipefail
cd "$(dirname "$0")/.."

lane2_home="$PWD/.lake-test-2"
mkdir -p "$lane2_home"
lane2_log="$lane2_home/pytest.log"
own_servers=(tests/integration/test_stack_recovery.py tests/integration/test_cluster.py)
drills=tests/integration/test_fault_drills.py
# the second test stack: each of the test environment's ports plus 10, but plus 2 for sharing, events and portal
# (10 apart there); SeaweedFS's gRPC ports (each port plus 10000) move with them. None is a port of the local,
# test or cluster environments or in the ephemeral range
drill_stack=(LAKE_ENV=test LAKE_HOME="$lane2_home/drills"
             LAKE_S3_PORT=8443 LAKE_S3_MASTER_PORT=9443 LAKE_S3_VOLUME_PORT=8490 LAKE_S3_FILER_PORT=8998
             LAKE_SPARK_PORT=15112 LAKE_TRINO_PORT=8190 LAKE_AIRFLOW_PORT=8400 LAKE_POSTGRES_PORT=5552
             LAKE_METASTORE_PORT=9193 LAKE_SHARING_PORT=8202 LAKE_EVENTS_PORT=8212 LAKE_PORTAL_PORT=8222)
started=$(date +%s)

echo "[test] lane 2 (tests/unit, then ${own_servers[*]}, then $drills) runs beside this one:" \
     "follow it with tail -f $lane2_log"
# lane 1 is the longer: lane 2 and the servers it starts yield the CPU to it when both want it (nice 5)
(
    LAKE_HOME="$lane2_home" nice -n 5 .venv/bin/python -m pytest --durations=30 tests/unit "${own_servers[@]}"
    first=$?
    echo
    echo "[test] lane 2, second part: $drills on the second test stack (${drill_stack[*]:1})"
    env "${drill_stack[@]}" nice -n 5 .venv/bin/python -m pytest --durations=10 "$drills"
    second=$?
    [ $first -eq 0 ] && [ $second -eq 0 ]
) > "$lane2_log" 2>&1 &
lane2=$!
# interrupted: lane 2 is stopped without its teardown (a background job ignores SIGINT), so the cluster and the
# second test stack it may have started are stopped here; their servers run in sessions of their own
stop_lane2() {
    pkill -TERM -P "$lane2" 2>/dev/null; kill "$lane2" 2>/dev/null; wait "$lane2" 2>/dev/null
    LAKE_ENV=cluster LAKE_HOME="$lane2_home/cluster" .venv/bin/lake down > /dev/null 2>&1
    env "${drill_stack[@]}" .venv/bin/lake down > /dev/null 2>&1
    exit 130
}
trap stop_lane2 INT TERM

echo "[test] lane 1: tests/integration on the test stack"
.venv/bin/python -m pytest --durations=30 tests/integration "${own_servers[@]/#/--ignore=}" --ignore="$drills"
lane1_status=$?
lane1_seconds=$(( $(date +%s) - started ))

wait "$lane2"
lane2_status=$?
trap - INT TERM
echo
echo "[test] ==== lane 2: tests/unit, then ${own_servers[*]}, then $drills ($lane2_log) ===="
cat "$lane2_log"
echo
echo "[test] lane 1 $([ $lane1_status -eq 0 ] && echo passed || echo FAILED) in ${lane1_seconds}s;" \
     "lane 2 $([ $lane2_status -eq 0 ] && echo passed || echo FAILED); both done in $(( $(date +%s) - started ))s"
[ $lane1_status -eq 0 ] && [ $lane2_status -eq 0 ]
