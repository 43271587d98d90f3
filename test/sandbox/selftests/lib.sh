#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Shell helpers for klpsim's livepatch acceptance scripts. They reproduce the
# checks of the kernel's livepatch selftests (Linux 7.1), as
# selftests-behaviour.md describes them: the same insmod/echo/rmmod sequences,
# logged into /dev/kmsg the same way, and the kernel log since a per-case marker
# filtered and compared line for line with the expected sequence.
#
# A script sources this file, calls klp_setup, then for each case:
#   begin_case NAME; <actions>; want_* ...; verify_log
# It runs from a directory holding test_modules/*.ko (klpsim modules export)
# and exits 0 when every case passed, 1 at the first failure, 4 to skip.

readonly KLP_SYSFS=/sys/kernel/livepatch
readonly DEBUGFS=/sys/kernel/debug
readonly DYNDBG_CONTROL=$DEBUGFS/dynamic_debug/control
readonly KPROBES_ENABLED=$DEBUGFS/kprobes/enabled
if [[ -e /sys/kernel/tracing/trace ]]; then
	readonly TRACEFS=/sys/kernel/tracing
else
	readonly TRACEFS=$DEBUGFS/tracing
fi

readonly EXIT_SKIP=4
# how long a wait may take, and how often it looks (a real kernel's
# transitions retry once a second; the scripts allow a minute)
WAIT_LIMIT_S=${WAIT_LIMIT_S:-60}
WAIT_STEP_S=${WAIT_STEP_S:-0.05}

klog() {
	echo "$1" > /dev/kmsg
}

fatal() {
	klog "ERROR: $1"
	echo "ERROR: $1" >&2
	exit 1
}

skip_all() {
	klog "SKIP: $1"
	echo "SKIP: $1" >&2
	exit $EXIT_SKIP
}

# poll_until CMD... - true once CMD succeeds, false if it never does in time
poll_until() {
	local deadline=$((SECONDS + WAIT_LIMIT_S))
	until "$@"; do
		((SECONDS >= deadline)) && return 1
		sleep "$WAIT_STEP_S"
	done
}

path_exists() { [[ -e "$1" ]]; }
path_absent() { [[ ! -e "$1" ]]; }
file_reads() { [[ "$(cat "$1" 2>/dev/null)" == "$2" ]]; }

# ---------------------------------------------------------------------------
# Saved settings: what the scripts change is put back when they exit.

declare -A SAVED=()

save_settings() {
	SAVED[dyndbg]=$(grep '^kernel/livepatch' "$DYNDBG_CONTROL" |
		sed -E 's/^([^:]+):([0-9]+) [^ ]+ (=[^ ]*) .*/file \1 line \2 \3/')
	SAVED[ftrace]=$(sysctl --values kernel.ftrace_enabled)
	SAVED[kprobes]=$(cat "$KPROBES_ENABLED")
	SAVED[tracing_on]=$(cat "$TRACEFS/tracing_on")
	SAVED[tracer]=$(cat "$TRACEFS/current_tracer")
	SAVED[filter]=$(cat "$TRACEFS/set_ftrace_filter")
}

restore_settings() {
	[[ -n "${SAVED[dyndbg]}" ]] && echo -n "${SAVED[dyndbg]}" > "$DYNDBG_CONTROL"
	[[ -n "${SAVED[ftrace]}" ]] && sysctl kernel.ftrace_enabled="${SAVED[ftrace]}" > /dev/null 2>&1
	[[ -n "${SAVED[kprobes]}" ]] && echo "${SAVED[kprobes]}" > "$KPROBES_ENABLED"
	[[ -n "${SAVED[tracing_on]}" ]] && echo "${SAVED[tracing_on]}" > "$TRACEFS/tracing_on"
	[[ -n "${SAVED[tracer]}" ]] && echo "${SAVED[tracer]}" > "$TRACEFS/current_tracer"
	# the kernel's "no filter" line is not a function name: an empty write
	# (the truncating open alone) resets the filter
	[[ -n "${SAVED[filter]}" ]] && grep -v '^#### all functions enabled ####$' <<< "${SAVED[filter]}" > "$TRACEFS/set_ftrace_filter"
	return 0
}

# ftrace_enabled VALUE [--may-fail] - sets kernel.ftrace_enabled and logs the
# outcome; a refused write is logged (--may-fail) or skips the script
ftrace_enabled() {
	local want=$1 may_fail=$2 err now
	err=$(sysctl -q kernel.ftrace_enabled="$want" 2>&1)
	now=$(sysctl --values kernel.ftrace_enabled)
	if [[ "$now" == "$want" ]]; then
		klog "livepatch: kernel.ftrace_enabled = $now"
	elif [[ "$may_fail" == --may-fail ]]; then
		# procps 4 names the file, older procps the key: log the key form
		klog "livepatch: ${err//\/proc\/sys\/kernel\//kernel.}"
	else
		skip_all "failed to set kernel.ftrace_enabled = $want"
	fi
}

klp_setup() {
	[[ "$(id -u)" == 0 ]] || { echo "skip all tests: must be run as root" >&2; exit $EXIT_SKIP; }
	local kdir=${KDIR:-/lib/modules/$(uname -r)/build}
	[[ -d "$kdir" ]] || { echo "skip all tests: KDIR ($kdir) not available to compile modules."; exit $EXIT_SKIP; }
	save_settings
	# livepatch's pr_debug lines, but not the per-task ones of klp_try_switch_task
	printf 'file kernel/livepatch/* +p\nfunc klp_try_switch_task -p\n' > "$DYNDBG_CONTROL"
	ftrace_enabled 1
	trap restore_settings EXIT
	# a signal ends the script; the EXIT trap then puts the settings back
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# ---------------------------------------------------------------------------
# Modules

# the "% insmod" line: no trailing space when there are no arguments
insmod_line() {
	local mod=$1 line; shift
	line="% insmod test_modules/$mod.ko $*"
	echo "${line% }"
}

declare -A IS_LIVEPATCH=()

# is_livepatch MOD - what modinfo says (livepatch: Y), asked once per module
is_livepatch() {
	local mod=$1 file=test_modules/$1.ko
	[[ -f "$file" ]] || fatal "no module file $file (klpsim modules export test_modules)"
	if [[ -z "${IS_LIVEPATCH[$mod]}" ]]; then
		IS_LIVEPATCH[$mod]=$(modinfo "$file" | awk '$1 == "livepatch:" { v = $NF } END { print v == "" ? "-" : v }')
	fi
	[[ "${IS_LIVEPATCH[$mod]}" == Y ]]
}

# insmod_logged MOD [ARGS] - logs "% insmod ...", loads, prints insmod's output
insmod_logged() {
	local mod=$1; shift
	klog "$(insmod_line "$mod" "$@")"
	insmod "test_modules/$mod.ko" "$@" 2>&1
}

__insmod_or_die() {
	local mod=$1 out; shift
	out=$(insmod_logged "$mod" "$@")
	[[ -z "$out" ]] || fatal "$out"
	poll_until path_exists "/sys/module/$mod" || fatal "module $mod did not appear in /sys/module"
}

# load_target MOD [ARGS] - a module that is not a livepatch
load_target() {
	is_livepatch "$1" && fatal "$1 is a livepatch: use load_patch"
	__insmod_or_die "$@"
}

# load_patch_nowait MOD [ARGS] - a livepatch, once its sysfs directory exists
load_patch_nowait() {
	is_livepatch "$1" || fatal "$1 is not a livepatch"
	__insmod_or_die "$@"
	poll_until path_exists "$KLP_SYSFS/$1" || fatal "livepatch $1 did not appear in $KLP_SYSFS"
}

# load_patch MOD [ARGS] - a livepatch, once its transition is over
load_patch() {
	load_patch_nowait "$@"
	poll_until file_reads "$KLP_SYSFS/$1/transition" 0 || fatal "the transition of $1 did not complete"
}

# load_refused MOD [ARGS] - insmod must fail; its error line goes to the log
load_refused() {
	local mod=$1 out; shift
	out=$(insmod_logged "$mod" "$@")
	[[ -n "$out" ]] || fatal "$mod loaded although it should not"
	klog "$out"
}

# remove_module MOD - once nothing holds it
remove_module() {
	local mod=$1 out
	poll_until file_reads "/sys/module/$mod/refcnt" 0 || fatal "module $mod stays in use (refcnt)"
	klog "% rmmod $mod"
	out=$(rmmod "$mod" 2>&1)
	[[ -z "$out" ]] || fatal "$out"
	poll_until path_absent "/sys/module/$mod" || fatal "module $mod stays in /sys/module"
}

# disable_patch MOD - echo 0 > enabled, then wait until the patch is gone
disable_patch() {
	local mod=$1
	klog "% echo 0 > $KLP_SYSFS/$mod/enabled"
	echo 0 > "$KLP_SYSFS/$mod/enabled"
	poll_until path_absent "$KLP_SYSFS/$mod" || fatal "livepatch $mod was not removed after disabling"
}

# set_param MOD PARAM VALUE - writes a module parameter and waits to read it back
set_param() {
	local file=/sys/module/$1/parameters/$2
	klog "% echo $3 > $file"
	echo "$3" > "$file"
	poll_until file_reads "$file" "$3" || fatal "$file does not read back $3"
}

# ---------------------------------------------------------------------------
# Cases and the expected kernel log

CASE_MARK=
WANT=()

# begin_case NAME - puts a unique marker into the log; verify_log looks after it
begin_case() {
	local mark
	mark="klpsim acceptance case mark $(date +%s.%N) $$ $RANDOM"
	klog "$mark"
	poll_until __find_mark "$mark" || fatal "the case marker never showed in dmesg: $mark"
	WANT=()
	echo -n "TEST: $1 ... "
	klog "===== TEST: $1 ====="
}

# the marker's whole line, timestamp included: a record prints the same each time
__find_mark() {
	CASE_MARK=$(dmesg | awk -v m="$1" '!found && index($0, m) { print; found = 1 }')
	[[ -n "$CASE_MARK" ]]
}

# the kernel log since the marker, as the selftests filter it: only livepatch
# and test-module lines, no taint notices, no timestamp or caller id
log_since_mark() {
	dmesg | awk -v mark="$CASE_MARK" 'seen { print } $0 == mark { seen = 1 }' |
		grep -e 'livepatch:' -e 'test_klp' |
		grep -v -e 'tainting kernel' -e 'taints kernel' |
		sed -E -e 's/^\[[ 0-9.]*\] //' -e 's/^\[ *[CT][0-9]*\] //'
}

verify_log() {
	local want got
	want=$(printf '%s\n' "${WANT[@]}")
	got=$(log_since_mark)
	if [[ "$want" == "$got" ]]; then
		echo ok
		return
	fi
	echo "not ok"
	if [[ -z "$got" ]]; then
		echo "the case marker is no longer in the log: $CASE_MARK"
	else
		diff -u --label expected --label result <(echo "$want") <(echo "$got")
	fi
	fatal "livepatch acceptance case failed"
}

# fail_check MSG - a side check failed (the case line ends with FAIL)
fail_check() {
	echo -e "FAIL\n\n$1"
	fatal "livepatch acceptance case failed"
}

# want LINE... - expected log lines, in order
want() { WANT+=("$@"); }

want_insmod() { want "$(insmod_line "$@")"; }
want_rmmod() { want "% rmmod $1"; }
want_off() { want "% echo 0 > $KLP_SYSFS/$1/enabled"; }
want_insmod_error() { want "insmod: ERROR: could not insert module test_modules/$1.ko: $2"; }

# the module-state strings the callback demo modules print
state_text() {
	case $1 in
	LIVE) echo '[MODULE_STATE_LIVE] Normal state' ;;
	COMING) echo '[MODULE_STATE_COMING] Full formed, running module_init' ;;
	GOING) echo '[MODULE_STATE_GOING] Going away' ;;
	*) fatal "unknown module state $1" ;;
	esac
}

# callback_line PATCH KIND OBJ [STATE] - "<patch>: <kind>_callback: ..." of the demo modules
callback_line() {
	if [[ "$3" == vmlinux ]]; then
		echo "$1: $2_callback: vmlinux"
	else
		echo "$1: $2_callback: $3 -> $(state_text "$4")"
	fi
}

# want_callback PATCH KIND OBJ [STATE]
want_callback() { want "$(callback_line "$@")"; }

# __callbacks PATCH STAGE SPEC... - the lines of the SPECs for one stage;
# a SPEC is STAGE:OBJ[:STATE], e.g. pre:vmlinux or post:test_klp_callbacks_mod:LIVE
__callbacks() {
	local patch=$1 stage=$2 kind=$3 spec obj state; shift 3
	for spec in "$@"; do
		[[ "${spec%%:*}" == "$stage" ]] || continue
		IFS=: read -r _ obj state <<< "$spec"
		want_callback "$patch" "$kind" "$obj" "$state"
	done
}

# want_patching PATCH [SPEC...] - a complete enable: pre_patch callbacks after
# the transition is initialized, post_patch callbacks before it is complete
want_patching() {
	local p=$1; shift
	want "livepatch: enabling patch '$p'" "livepatch: '$p': initializing patching transition"
	__callbacks "$p" pre pre_patch "$@"
	want "livepatch: '$p': starting patching transition" "livepatch: '$p': completing patching transition"
	__callbacks "$p" post post_patch "$@"
	want "livepatch: '$p': patching complete"
}

# want_unpatching PATCH [SPEC...] - a complete disable, with pre_unpatch and
# post_unpatch callbacks
want_unpatching() {
	local p=$1; shift
	want "livepatch: '$p': initializing unpatching transition"
	__callbacks "$p" pre pre_unpatch "$@"
	want "livepatch: '$p': starting unpatching transition" "livepatch: '$p': completing unpatching transition"
	__callbacks "$p" post post_unpatch "$@"
	want "livepatch: '$p': unpatching complete"
}

# want_enable_cancelled PATCH - a failed enable rolled back before the transition started
want_enable_cancelled() {
	want "livepatch: failed to enable patch '$1'" \
		"livepatch: '$1': canceling patching transition, going to unpatch" \
		"livepatch: '$1': completing unpatching transition" \
		"livepatch: '$1': unpatching complete"
}

want_apply() { want "livepatch: applying patch '$1' to loading module '$2'"; }
want_revert() { want "livepatch: reverting patch '$1' on unloading module '$2'"; }

# ---------------------------------------------------------------------------
# sysfs side checks

# expect_mode MOD RELPATH MODE - ls-style access rights of a file of the patch
expect_mode() {
	local path=$KLP_SYSFS/$1${2:+/$2} got
	got=$(/bin/stat --format '%A' "$path")
	[[ "$got" == "$3" ]] || fatal "access rights of $path: expected $3, got $got"
}

# expect_value MOD RELPATH VALUE
expect_value() {
	local path=$KLP_SYSFS/$1/$2 got
	got=$(cat "$path")
	[[ "$got" == "$3" ]] || fatal "value of $path: expected $3, got $got"
}

# ---------------------------------------------------------------------------
# Function tracing

tracing_reset() {
	echo 0 > "$TRACEFS/tracing_on"
	echo "" > "$TRACEFS/set_ftrace_filter"
	echo nop > "$TRACEFS/current_tracer"
	echo "" > "$TRACEFS/trace"
}

tracing_start() {
	tracing_reset
	echo function > "$TRACEFS/current_tracer"
	echo "$1" > "$TRACEFS/set_ftrace_filter"
	echo 1 > "$TRACEFS/tracing_on"
}

# tracing_expect FUNC... - each function is in the trace as a whole word; then reset
tracing_expect() {
	local f
	for f in "$@"; do
		grep -F -w -q -e "$f" "$TRACEFS/trace" || fatal "$f is not in the function trace"
	done
	tracing_reset
}
