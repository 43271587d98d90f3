#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The /sys/kernel/livepatch ABI: file modes and values, an object's patched
# flag following its module, the replace flag and stack_order renumbering
# (selftests-behaviour.md §3.5).

. "$(dirname "$0")/lib.sh"

LP=test_klp_livepatch
DEMO=test_klp_callbacks_demo
TARGET=test_klp_callbacks_mod
REPLACE_LP=test_klp_atomic_replace
SYSCALL_LP=test_klp_syscall

klp_setup

begin_case "sysfs test"
load_patch $LP
expect_mode $LP "" drwxr-xr-x
expect_mode $LP enabled -rw-r--r--
expect_value $LP enabled 1
expect_mode $LP force --w-------
expect_mode $LP replace -r--r--r--
expect_mode $LP stack_order -r--r--r--
expect_value $LP stack_order 1
expect_mode $LP transition -r--r--r--
expect_value $LP transition 0
expect_mode $LP vmlinux/patched -r--r--r--
expect_value $LP vmlinux/patched 1
disable_patch $LP
remove_module $LP
want_insmod $LP
want_patching $LP
want_off $LP
want_unpatching $LP
want_rmmod $LP
verify_log

begin_case "sysfs test object/patched"
load_patch $DEMO
# the object's directory is there before its module is
expect_value $DEMO $TARGET/patched 0
load_target $TARGET
expect_value $DEMO $TARGET/patched 1
remove_module $TARGET
expect_value $DEMO $TARGET/patched 0
disable_patch $DEMO
remove_module $DEMO
want_insmod $DEMO
want_patching $DEMO pre:vmlinux post:vmlinux
want_insmod $TARGET
want_apply $DEMO $TARGET
want_callback $DEMO pre_patch $TARGET COMING
want_callback $DEMO post_patch $TARGET COMING
want "$TARGET: ${TARGET}_init"
want_rmmod $TARGET
want "$TARGET: ${TARGET}_exit"
want_callback $DEMO pre_unpatch $TARGET GOING
want_revert $DEMO $TARGET
want_callback $DEMO post_unpatch $TARGET GOING
want_off $DEMO
want_unpatching $DEMO pre:vmlinux post:vmlinux
want_rmmod $DEMO
verify_log

for replace in 1 0; do
	[[ $replace == 1 ]] && name=enabled || name=disabled
	begin_case "sysfs test replace $name"
	load_patch $REPLACE_LP replace=$replace
	expect_mode $REPLACE_LP replace -r--r--r--
	expect_value $REPLACE_LP replace $replace
	disable_patch $REPLACE_LP
	remove_module $REPLACE_LP
	want_insmod $REPLACE_LP replace=$replace
	want_patching $REPLACE_LP
	want_off $REPLACE_LP
	want_unpatching $REPLACE_LP
	want_rmmod $REPLACE_LP
	verify_log
done

begin_case "sysfs test stack_order value"
load_patch $REPLACE_LP
expect_value $REPLACE_LP stack_order 1
load_patch $DEMO
expect_value $DEMO stack_order 2
load_patch $SYSCALL_LP
expect_value $SYSCALL_LP stack_order 3
disable_patch $DEMO
remove_module $DEMO
# the stack closes up behind a removed patch
expect_value $REPLACE_LP stack_order 1
expect_value $SYSCALL_LP stack_order 2
disable_patch $SYSCALL_LP
remove_module $SYSCALL_LP
disable_patch $REPLACE_LP
remove_module $REPLACE_LP
want_insmod $REPLACE_LP
want_patching $REPLACE_LP
want_insmod $DEMO
want_patching $DEMO pre:vmlinux post:vmlinux
want_insmod $SYSCALL_LP
want_patching $SYSCALL_LP
want_off $DEMO
want_unpatching $DEMO pre:vmlinux post:vmlinux
want_rmmod $DEMO
want_off $SYSCALL_LP
want_unpatching $SYSCALL_LP
want_rmmod $SYSCALL_LP
want_off $REPLACE_LP
want_unpatching $REPLACE_LP
want_rmmod $REPLACE_LP
verify_log

exit 0
