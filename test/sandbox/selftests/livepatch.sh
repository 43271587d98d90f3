#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Function patching, several patches at once, atomic replace and patching a
# function of a module (selftests-behaviour.md §3.1).

. "$(dirname "$0")/lib.sh"

CMDLINE_LP=test_klp_livepatch
SYSCALL_LP=test_klp_syscall
CALLBACKS_LP=test_klp_callbacks_demo
REPLACE_LP=test_klp_atomic_replace
TARGET=test_klp_mod_target
TARGET_LP=test_klp_mod_patch

# the log gets whatever of /proc/cmdline and /proc/meminfo says "live patched"
log_patched_proc_files() {
	grep 'live patched' /proc/cmdline > /dev/kmsg
	grep 'live patched' /proc/meminfo > /dev/kmsg
}

expect_file() {
	local got
	got=$(cat "$1")
	[[ "$got" == "$2" ]] || fail_check "$1 reads '$got', expected '$2'"
}

klp_setup

begin_case "basic function patching"
load_patch $CMDLINE_LP
expect_file /proc/cmdline "$CMDLINE_LP: this has been live patched"
disable_patch $CMDLINE_LP
remove_module $CMDLINE_LP
[[ "$(cat /proc/cmdline)" != "$CMDLINE_LP: this has been live patched" ]] || fail_check "/proc/cmdline is still patched"
want_insmod $CMDLINE_LP
want_patching $CMDLINE_LP
want_off $CMDLINE_LP
want_unpatching $CMDLINE_LP
want_rmmod $CMDLINE_LP
verify_log

begin_case "multiple livepatches"
load_patch $CMDLINE_LP
log_patched_proc_files
load_patch $REPLACE_LP replace=0
log_patched_proc_files
disable_patch $REPLACE_LP
remove_module $REPLACE_LP
log_patched_proc_files
disable_patch $CMDLINE_LP
remove_module $CMDLINE_LP
log_patched_proc_files
want_insmod $CMDLINE_LP
want_patching $CMDLINE_LP
want "$CMDLINE_LP: this has been live patched"
want_insmod $REPLACE_LP replace=0
want_patching $REPLACE_LP
want "$CMDLINE_LP: this has been live patched" "$REPLACE_LP: this has been live patched"
want_off $REPLACE_LP
want_unpatching $REPLACE_LP
want_rmmod $REPLACE_LP
want "$CMDLINE_LP: this has been live patched"
want_off $CMDLINE_LP
want_unpatching $CMDLINE_LP
want_rmmod $CMDLINE_LP
verify_log

begin_case "atomic replace livepatch"
load_patch $CMDLINE_LP
log_patched_proc_files
load_patch $SYSCALL_LP
load_patch $CALLBACKS_LP
patches=("$KLP_SYSFS"/*)
[[ ${#patches[@]} -eq 3 ]] || fatal "expected three patches in $KLP_SYSFS, found ${#patches[@]}"
load_patch $REPLACE_LP replace=1
log_patched_proc_files
one_patch_left() { local p=("$KLP_SYSFS"/*); [[ ${#p[@]} -eq 1 ]]; }
poll_until one_patch_left || fatal "the replaced patches are still in $KLP_SYSFS"
# replaced: no disable needed, their modules are free
for mod in $CALLBACKS_LP $SYSCALL_LP $CMDLINE_LP; do
	remove_module $mod
done
log_patched_proc_files
disable_patch $REPLACE_LP
remove_module $REPLACE_LP
log_patched_proc_files
want_insmod $CMDLINE_LP
want_patching $CMDLINE_LP
want "$CMDLINE_LP: this has been live patched"
want_insmod $SYSCALL_LP
want_patching $SYSCALL_LP
want_insmod $CALLBACKS_LP
want_patching $CALLBACKS_LP pre:vmlinux post:vmlinux
want_insmod $REPLACE_LP replace=1
want_patching $REPLACE_LP
# the replacing patch carries a nop for cmdline_proc_show: only meminfo is patched
want "$REPLACE_LP: this has been live patched"
want_rmmod $CALLBACKS_LP
want_rmmod $SYSCALL_LP
want_rmmod $CMDLINE_LP
want "$REPLACE_LP: this has been live patched"
want_off $REPLACE_LP
want_unpatching $REPLACE_LP
want_rmmod $REPLACE_LP
verify_log

begin_case "module function patching"
load_target $TARGET
expect_file /proc/$TARGET "$TARGET: original output"
load_patch $TARGET_LP
expect_file /proc/$TARGET "$TARGET_LP: this has been live patched"
disable_patch $TARGET_LP
remove_module $TARGET_LP
expect_file /proc/$TARGET "$TARGET: original output"
remove_module $TARGET
want_insmod $TARGET
want "$TARGET: ${TARGET}_init"
want_insmod $TARGET_LP
want_patching $TARGET_LP
want_off $TARGET_LP
want_unpatching $TARGET_LP
want_rmmod $TARGET_LP
want_rmmod $TARGET
want "$TARGET: ${TARGET}_exit"
verify_log

begin_case "module function patching (livepatch first)"
load_patch $TARGET_LP
load_target $TARGET
expect_file /proc/$TARGET "$TARGET_LP: this has been live patched"
disable_patch $TARGET_LP
remove_module $TARGET_LP
expect_file /proc/$TARGET "$TARGET: original output"
remove_module $TARGET
want_insmod $TARGET_LP
want_patching $TARGET_LP
want_insmod $TARGET
want_apply $TARGET_LP $TARGET
want "$TARGET: ${TARGET}_init"
want_off $TARGET_LP
want_unpatching $TARGET_LP
want_rmmod $TARGET_LP
want_rmmod $TARGET
want "$TARGET: ${TARGET}_exit"
verify_log

exit 0
