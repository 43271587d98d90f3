#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Livepatch and kprobes on the same function: a kprobe with a post handler owns
# the instruction pointer and the patch is refused; without one they coexist
# (selftests-behaviour.md §3.7).

. "$(dirname "$0")/lib.sh"

# kprobes on ftrace are what makes the two meet; checked before anything else
grep -q kprobe_ftrace_ops /proc/kallsyms || skip_all "the kprobe case needs CONFIG_KPROBES_ON_FTRACE"

LP=test_klp_livepatch
KPROBE=test_klp_kprobe

klp_setup

begin_case "livepatch interaction with kprobed function with post_handler"
echo 1 > "$KPROBES_ENABLED"
load_target $KPROBE has_post_handler=true
load_refused $LP
remove_module $KPROBE
want_insmod $KPROBE has_post_handler=true
want_insmod $LP
want "livepatch: enabling patch '$LP'" "livepatch: '$LP': initializing patching transition"
want "livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-16)"
want "livepatch: failed to patch object 'vmlinux'"
want_enable_cancelled $LP
want_insmod_error $LP "Device or resource busy"
want_rmmod $KPROBE
verify_log

begin_case "livepatch interaction with kprobed function without post_handler"
load_target $KPROBE has_post_handler=false
load_patch $LP
# the kprobe module holds no reference although its probe sits on a patched function
remove_module $KPROBE
disable_patch $LP
remove_module $LP
want_insmod $KPROBE has_post_handler=false
want_insmod $LP
want_patching $LP
want_rmmod $KPROBE
want_off $LP
want_unpatching $LP
want_rmmod $LP
verify_log

exit 0
