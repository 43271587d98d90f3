#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# kpatch-style management of livepatches against the simulated kernel
# (kpatch-compat.md §3.5), one scenario per call:
#
#   scenarios.sh NAME      (from a directory holding test_modules/*.ko)
#
# Each scenario prints what patchctl and the kernel files show, with "$ cmd"
# before a patchctl call and "rc=N" after it; stderr is merged into stdout so
# the order is kept.

HERE=$(dirname "$(readlink -f "$0")")
exec 2>&1

KLP=/sys/kernel/livepatch
ko() { echo "test_modules/$1.ko"; }

# pc ARGS... - a patchctl call, shown with its status
pc() {
	echo "\$ patchctl $*"
	"$HERE/patchctl.sh" "$@"
	echo "rc=$?"
}

show_patches() { echo "patches: $(ls "$KLP" | tr '\n' ' ')"; }

# refcnt of every loaded test module, as lsmod lists them
show_modules() { echo "modules: $(lsmod | awk '$1 ~ /^test_klp/ { printf "%s=%s ", $1, $3 }')"; }

# a patch waits for a task sleeping in the function it replaces; the task is
# woken a moment later and the transition completes
load_and_wait() {
	klpsim task add cat --stack cmdline_proc_show,seq_read_iter,vfs_read > /dev/null
	(sleep 1.5; klpsim task wake cat) &
	pc load "$(ko test_klp_livepatch)"
	wait
	pc list
	pc unload test_klp_livepatch
	show_patches
	show_modules
}

# the tasks holding a transition, found through /proc/<tid>/patch_state and
# listed with their comm and stack
stalled_list() {
	klpsim task add cat --stack cmdline_proc_show,seq_read_iter,vfs_read > /dev/null
	insmod "$(ko test_klp_livepatch)"
	pc list
	klpsim task wake cat
}

# a transition that never completes: the busy module's worker sleeps inside
# the function to patch; the load gives up, disables the patch (the reversal
# completes at once) and unloads it
stall_on_load() {
	insmod "$(ko test_klp_callbacks_busy)" block_transition=Y
	pc load "$(ko test_klp_callbacks_demo)"
	show_patches
	show_modules
}

# a freed patch drops its module reference late (dynup/kpatch PR #1147):
# unload waits for the refcount before rmmod
refcount_wait() {
	pc load "$(ko test_klp_livepatch)"
	klpsim fault add refcount-delay 1500 > /dev/null
	pc unload test_klp_livepatch
	show_patches
	show_modules
}

# atomic replace: the replaced patch's directory goes, its module stays with
# refcnt 0; loading it again removes the leftover first; unloading a replaced
# patch goes through the /sys/module fallback
atomic_replace() {
	pc load "$(ko test_klp_state2)"
	pc load "$(ko test_klp_state3)"
	show_patches
	show_modules
	pc load "$(ko test_klp_state2)"
	show_patches
	show_modules
	pc unload test_klp_state3
	show_modules
	pc unload test_klp_state2
	show_patches
	show_modules
}

# a forced transition pins the modules of the patches it removes for good:
# unload waits for the refcount and gives up, rmmod is refused
forced() {
	pc load "$(ko test_klp_livepatch)"
	klpsim task add cat --stack livepatch_cmdline_proc_show,seq_read_iter,vfs_read > /dev/null
	echo 0 > $KLP/test_klp_livepatch/enabled
	echo "transition: $(cat $KLP/test_klp_livepatch/transition)"
	echo 1 > $KLP/test_klp_livepatch/force
	while [[ -e $KLP/test_klp_livepatch ]]; do sleep 0.1; done
	show_patches
	pc unload test_klp_livepatch
	show_modules
	rmmod test_klp_livepatch
	echo "rmmod rc=$?"
}

# insmod refused with EBUSY while another patch is in transition: retried,
# then given up
busy_retry() {
	insmod "$(ko test_klp_callbacks_busy)" block_transition=Y
	insmod "$(ko test_klp_callbacks_demo)"
	echo "transition: $(cat $KLP/test_klp_callbacks_demo/transition)"
	pc load "$(ko test_klp_livepatch)"
	show_patches
}

case "$1" in
load-and-wait) load_and_wait ;;
stalled-list) stalled_list ;;
stall-on-load) stall_on_load ;;
refcount-wait) refcount_wait ;;
atomic-replace) atomic_replace ;;
forced) forced ;;
busy-retry) busy_retry ;;
*) echo "usage: scenarios.sh load-and-wait|stalled-list|stall-on-load|refcount-wait|atomic-replace|forced|busy-retry"; exit 2 ;;
esac
