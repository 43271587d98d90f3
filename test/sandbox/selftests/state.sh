#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# System states of cumulative livepatches: a state set up and released, taken
# over by a newer patch, and an incompatible (older) state refused
# (selftests-behaviour.md §3.4).

. "$(dirname "$0")/lib.sh"

STATE1=test_klp_state
STATE2=test_klp_state2
STATE3=test_klp_state3

# a state patch applied with nothing to take over: it sets the state up
want_state_setup() {
	local p=$1
	want "livepatch: enabling patch '$p'" "livepatch: '$p': initializing patching transition"
	want_callback "$p" pre_patch vmlinux
	want "$p: allocate_loglevel_state: allocating space to store console_loglevel"
	want "livepatch: '$p': starting patching transition" "livepatch: '$p': completing patching transition"
	want_callback "$p" post_patch vmlinux
	want "$p: fix_console_loglevel: fixing console_loglevel"
	want "livepatch: '$p': patching complete"
}

# a state patch applied over an installed one holding the state: it takes over
want_state_takeover() {
	local p=$1
	want "livepatch: enabling patch '$p'" "livepatch: '$p': initializing patching transition"
	want_callback "$p" pre_patch vmlinux
	want "$p: allocate_loglevel_state: space to store console_loglevel already allocated"
	want "livepatch: '$p': starting patching transition" "livepatch: '$p': completing patching transition"
	want_callback "$p" post_patch vmlinux
	want "$p: fix_console_loglevel: taking over the console_loglevel change"
	want "livepatch: '$p': patching complete"
}

# the last state patch disabled: the state is restored and freed
want_state_release() {
	local p=$1
	want_off "$p"
	want "livepatch: '$p': initializing unpatching transition"
	want_callback "$p" pre_unpatch vmlinux
	want "$p: restore_console_loglevel: restoring console_loglevel"
	want "livepatch: '$p': starting unpatching transition" "livepatch: '$p': completing unpatching transition"
	want_callback "$p" post_unpatch vmlinux
	want "$p: free_loglevel_state: freeing space for the stored console_loglevel"
	want "livepatch: '$p': unpatching complete"
}

klp_setup

begin_case "system state modification"
load_patch $STATE1
disable_patch $STATE1
remove_module $STATE1
want_insmod $STATE1
want_state_setup $STATE1
want_state_release $STATE1
want_rmmod $STATE1
verify_log

begin_case "taking over system state modification"
load_patch $STATE1
load_patch $STATE2
remove_module $STATE1
disable_patch $STATE2
remove_module $STATE2
want_insmod $STATE1
want_state_setup $STATE1
want_insmod $STATE2
want_state_takeover $STATE2
want_rmmod $STATE1
want_state_release $STATE2
want_rmmod $STATE2
verify_log

begin_case "compatible cumulative livepatches"
load_patch $STATE2
load_patch $STATE3
remove_module $STATE2
load_patch $STATE2
disable_patch $STATE2
remove_module $STATE2
remove_module $STATE3
want_insmod $STATE2
want_state_setup $STATE2
want_insmod $STATE3
want_state_takeover $STATE3
want_rmmod $STATE2
want_insmod $STATE2
want_state_takeover $STATE2
want_state_release $STATE2
want_rmmod $STATE2
want_rmmod $STATE3
verify_log

begin_case "incompatible cumulative livepatches"
load_patch $STATE2
# version 1 of the state cannot replace version 2: refused before enabling
load_refused $STATE1
[[ ! -e $KLP_SYSFS/$STATE1 ]] || fatal "$STATE1 got a sysfs directory although refused"
disable_patch $STATE2
remove_module $STATE2
want_insmod $STATE2
want_state_setup $STATE2
want_insmod $STATE1
want "livepatch: Livepatch patch ($STATE1) is not compatible with the already installed livepatches."
want_insmod_error $STATE1 "Invalid parameters"
want_state_release $STATE2
want_rmmod $STATE2
verify_log

exit 0
