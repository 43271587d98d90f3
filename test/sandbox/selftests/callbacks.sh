#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Pre/post (un)patch callbacks: their order for loaded objects, modules coming
# and going, failing pre-patch callbacks, a transition held by a busy kernel
# worker and reversed, and several patches (selftests-behaviour.md §3.2).

. "$(dirname "$0")/lib.sh"

DEMO=test_klp_callbacks_demo
DEMO2=test_klp_callbacks_demo2
TARGET=test_klp_callbacks_mod
BUSY=test_klp_callbacks_busy

# the callback specs for vmlinux and a loaded module in the given state
both() { echo "pre:vmlinux pre:$1:$2 post:vmlinux post:$1:$2"; }

want_target_init() { want "$TARGET: ${TARGET}_init"; }
want_target_exit() { want "$TARGET: ${TARGET}_exit"; }

# the target module comes while DEMO is fully applied
want_target_coming() {
	want_insmod $TARGET
	want_apply $DEMO $TARGET
	want_callback $DEMO pre_patch $TARGET COMING
	want_callback $DEMO post_patch $TARGET COMING
	want_target_init
}

# the target module goes while DEMO is fully applied
want_target_going() {
	want_rmmod $TARGET
	want_target_exit
	want_callback $DEMO pre_unpatch $TARGET GOING
	want_revert $DEMO $TARGET
	want_callback $DEMO post_unpatch $TARGET GOING
}

klp_setup

begin_case "target module before livepatch"
load_target $TARGET
load_patch $DEMO
disable_patch $DEMO
remove_module $DEMO
remove_module $TARGET
want_insmod $TARGET
want_target_init
want_insmod $DEMO
want_patching $DEMO $(both $TARGET LIVE)
want_off $DEMO
want_unpatching $DEMO $(both $TARGET LIVE)
want_rmmod $DEMO
want_rmmod $TARGET
want_target_exit
verify_log

begin_case "module_coming notifier"
load_patch $DEMO
load_target $TARGET
disable_patch $DEMO
remove_module $DEMO
remove_module $TARGET
want_insmod $DEMO
want_patching $DEMO pre:vmlinux post:vmlinux
want_target_coming
want_off $DEMO
want_unpatching $DEMO $(both $TARGET LIVE)
want_rmmod $DEMO
want_rmmod $TARGET
want_target_exit
verify_log

begin_case "module_going notifier"
load_target $TARGET
load_patch $DEMO
remove_module $TARGET
disable_patch $DEMO
remove_module $DEMO
want_insmod $TARGET
want_target_init
want_insmod $DEMO
want_patching $DEMO $(both $TARGET LIVE)
want_target_going
want_off $DEMO
want_unpatching $DEMO pre:vmlinux post:vmlinux
want_rmmod $DEMO
verify_log

begin_case "module_coming and module_going notifiers"
load_patch $DEMO
load_target $TARGET
remove_module $TARGET
disable_patch $DEMO
remove_module $DEMO
want_insmod $DEMO
want_patching $DEMO pre:vmlinux post:vmlinux
want_target_coming
want_target_going
want_off $DEMO
want_unpatching $DEMO pre:vmlinux post:vmlinux
want_rmmod $DEMO
verify_log

begin_case "target module not present"
load_patch $DEMO
disable_patch $DEMO
remove_module $DEMO
want_insmod $DEMO
want_patching $DEMO pre:vmlinux post:vmlinux
want_off $DEMO
want_unpatching $DEMO pre:vmlinux post:vmlinux
want_rmmod $DEMO
verify_log

begin_case "pre-patch callback -ENODEV"
load_target $TARGET
load_refused $DEMO pre_patch_ret=-19
remove_module $TARGET
want_insmod $TARGET
want_target_init
want_insmod $DEMO pre_patch_ret=-19
want "livepatch: enabling patch '$DEMO'" "livepatch: '$DEMO': initializing patching transition"
# vmlinux fails first: the module's pre_patch never runs, and no post_unpatch
# runs for an object whose pre_patch failed
want_callback $DEMO pre_patch vmlinux
want "livepatch: pre-patch callback failed for object 'vmlinux'"
want_enable_cancelled $DEMO
want_insmod_error $DEMO "No such device"
want_rmmod $TARGET
want_target_exit
verify_log

begin_case "module_coming + pre-patch callback -ENODEV"
load_patch $DEMO
set_param $DEMO pre_patch_ret -19
load_refused $TARGET
[[ ! -e /sys/module/$TARGET ]] || fatal "/sys/module/$TARGET stayed after its load was refused"
disable_patch $DEMO
remove_module $DEMO
want_insmod $DEMO
want_patching $DEMO pre:vmlinux post:vmlinux
want "% echo -19 > /sys/module/$DEMO/parameters/pre_patch_ret"
want_insmod $TARGET
want_apply $DEMO $TARGET
want_callback $DEMO pre_patch $TARGET COMING
want "livepatch: pre-patch callback failed for object '$TARGET'" \
	"livepatch: patch '$DEMO' failed for module '$TARGET', refusing to load module '$TARGET'"
want_insmod_error $TARGET "No such device"
want_off $DEMO
want_unpatching $DEMO pre:vmlinux post:vmlinux
want_rmmod $DEMO
verify_log

begin_case "multiple target modules"
load_target $BUSY block_transition=N
load_patch $DEMO
load_target $TARGET
remove_module $TARGET
disable_patch $DEMO
remove_module $DEMO
remove_module $BUSY
want_insmod $BUSY block_transition=N
# the worker runs and finishes before insmod returns
want "$BUSY: ${BUSY}_init" "$BUSY: busymod_work_func enter" "$BUSY: busymod_work_func exit"
want_insmod $DEMO
want_patching $DEMO $(both $BUSY LIVE)
want_target_coming
want_target_going
want_off $DEMO
want_unpatching $DEMO $(both $BUSY LIVE)
want_rmmod $DEMO
want_rmmod $BUSY
want "$BUSY: ${BUSY}_exit"
verify_log

begin_case "busy target module"
load_target $BUSY block_transition=Y
load_patch_nowait $DEMO
# the worker sleeps inside busymod_work_func: the transition cannot finish
poll_until file_reads "$KLP_SYSFS/$DEMO/transition" 1 || fatal "the transition of $DEMO did not stall"
load_target $TARGET
remove_module $TARGET
disable_patch $DEMO
remove_module $DEMO
remove_module $BUSY
want_insmod $BUSY block_transition=Y
want "$BUSY: ${BUSY}_init" "$BUSY: busymod_work_func enter"
want_insmod $DEMO
want "livepatch: enabling patch '$DEMO'" "livepatch: '$DEMO': initializing patching transition"
want_callback $DEMO pre_patch vmlinux
want_callback $DEMO pre_patch $BUSY LIVE
want "livepatch: '$DEMO': starting patching transition"
# while DEMO is the transition patch: no post_patch for a coming module, no
# pre_unpatch for a going one
want_insmod $TARGET
want_apply $DEMO $TARGET
want_callback $DEMO pre_patch $TARGET COMING
want_target_init
want_rmmod $TARGET
want_target_exit
want_revert $DEMO $TARGET
want_callback $DEMO post_unpatch $TARGET GOING
# disabling mid-transition reverses it; the busy worker is already unpatched
want_off $DEMO
want "livepatch: '$DEMO': reversing transition from patching to unpatching" \
	"livepatch: '$DEMO': starting unpatching transition" \
	"livepatch: '$DEMO': completing unpatching transition"
want_callback $DEMO post_unpatch vmlinux
want_callback $DEMO post_unpatch $BUSY LIVE
want "livepatch: '$DEMO': unpatching complete"
want_rmmod $DEMO
want_rmmod $BUSY
want "$BUSY: busymod_work_func exit" "$BUSY: ${BUSY}_exit"
verify_log

begin_case "multiple livepatches"
load_patch $DEMO
load_patch $DEMO2
disable_patch $DEMO2
disable_patch $DEMO
remove_module $DEMO2
remove_module $DEMO
want_insmod $DEMO
want_patching $DEMO pre:vmlinux post:vmlinux
want_insmod $DEMO2
want_patching $DEMO2 pre:vmlinux post:vmlinux
want_off $DEMO2
want_unpatching $DEMO2 pre:vmlinux post:vmlinux
want_off $DEMO
want_unpatching $DEMO pre:vmlinux post:vmlinux
want_rmmod $DEMO2
want_rmmod $DEMO
verify_log

begin_case "atomic replace"
load_patch $DEMO
load_patch $DEMO2 replace=1
disable_patch $DEMO2
remove_module $DEMO2
# replaced silently: no unpatch callbacks, and its module is free without a disable
remove_module $DEMO
want_insmod $DEMO
want_patching $DEMO pre:vmlinux post:vmlinux
want_insmod $DEMO2 replace=1
want_patching $DEMO2 pre:vmlinux post:vmlinux
want_off $DEMO2
want_unpatching $DEMO2 pre:vmlinux post:vmlinux
want_rmmod $DEMO2
want_rmmod $DEMO
verify_log

exit 0
