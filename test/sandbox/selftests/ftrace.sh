#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Livepatch and ftrace: the ftrace_enabled sysctl, and the function tracer on a
# patched function and on its replacement (selftests-behaviour.md §3.6).

. "$(dirname "$0")/lib.sh"

LP=test_klp_livepatch
PATCHED_TEXT="$LP: this has been live patched"

cmdline_is_patched() { [[ "$(cat /proc/cmdline)" == "$PATCHED_TEXT" ]]; }

want_load_and_unload() {
	want_insmod $LP
	want_patching $LP
	want "livepatch: ok"
	want_off $LP
	want_unpatching $LP
	want_rmmod $LP
}

klp_setup

begin_case "livepatch interaction with ftrace_enabled sysctl"
ftrace_enabled 0
load_refused $LP
ftrace_enabled 1
load_patch $LP
cmdline_is_patched || fail_check "/proc/cmdline is not patched"
# ftrace cannot be turned off under a registered livepatch
ftrace_enabled 0 --may-fail
cmdline_is_patched || fail_check "/proc/cmdline is not patched after the refused sysctl"
disable_patch $LP
remove_module $LP
want "livepatch: kernel.ftrace_enabled = 0"
want_insmod $LP
want "livepatch: enabling patch '$LP'" "livepatch: '$LP': initializing patching transition"
want "livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-16)"
want "livepatch: failed to patch object 'vmlinux'"
want_enable_cancelled $LP
want_insmod_error $LP "Device or resource busy"
want "livepatch: kernel.ftrace_enabled = 1"
want_insmod $LP
want_patching $LP
want 'livepatch: sysctl: setting key "kernel.ftrace_enabled": Device or resource busy'
want_off $LP
want_unpatching $LP
want_rmmod $LP
verify_log

begin_case "trace livepatched function and check that the live patch remains in effect"
load_patch $LP
tracing_start livepatch_cmdline_proc_show
cmdline_is_patched && klog "livepatch: ok"
tracing_expect livepatch_cmdline_proc_show
disable_patch $LP
remove_module $LP
want_load_and_unload
verify_log

begin_case "livepatch a traced function and check that the live patch remains in effect"
# the tracer does not claim the instruction pointer: patching a traced function works
tracing_start cmdline_proc_show
load_patch $LP
cmdline_is_patched && klog "livepatch: ok"
tracing_expect cmdline_proc_show
disable_patch $LP
remove_module $LP
want_load_and_unload
verify_log

exit 0
