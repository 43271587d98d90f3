#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Patching getpid while real processes keep calling it: their pids are passed
# to test_klp_syscall, which counts each of them once it has called the patched
# getpid (selftests-behaviour.md §3.8). GETPID_LOOP names the looping program
# (default ./getpid-loop, built from getpid-loop.c).

. "$(dirname "$0")/lib.sh"

MOD=test_klp_syscall
LOOPER=${GETPID_LOOP:-./getpid-loop}
NPIDS=/sys/kernel/$MOD/npids

klp_setup
[[ -x "$LOOPER" ]] || skip_all "no getpid looper at $LOOPER (gcc -o getpid-loop getpid-loop.c)"

begin_case "patch getpid syscall while being heavily hammered"
count=$(getconf _NPROCESSORS_ONLN)
((count > 128)) && count=128
pids=()
for ((i = 0; i < count; i++)); do
	# niced: the loopers take whole CPUs, the rest of the case still has to run
	nice -n 19 "$LOOPER" &
	pids+=($!)
done
pid_list=$(IFS=,; echo "${pids[*]}")
load_patch $MOD klp_pids=$pid_list
# every listed process switches once it calls getpid again; no die here: a
# count left above 0 shows in the log comparison
poll_until file_reads $NPIDS 0
klog "$MOD: Remaining not livepatched processes: $(cat $NPIDS)"
kill "${pids[@]}" 2> /dev/null
wait "${pids[@]}" 2> /dev/null
disable_patch $MOD
remove_module $MOD
want_insmod $MOD klp_pids=$pid_list
want_patching $MOD
want "$MOD: Remaining not livepatched processes: 0"
want_off $MOD
want_unpatching $MOD
want_rmmod $MOD
verify_log

exit 0
