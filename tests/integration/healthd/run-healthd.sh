#!/bin/sh
# ExaBGP's `run` for the test: record healthd's pid and keep its log apart, then become
# healthd (exec: ExaBGP's pipes and signals reach healthd itself).
#   run-healthd.sh BINARY CONFIG
dir=$(dirname "$2")
echo $$ >"$dir/healthd.pid"
exec "$1" -c "$2" 2>>"$dir/healthd.log"
