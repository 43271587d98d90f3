#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# patchctl: a livepatch manager that follows the control flow and prints the
# messages of the kpatch utility 0.9.11 for `load <file.ko>`, `unload <module>`
# and `list`, written from kpatch-compat.md §2 (it is not kpatch: no install
# directory, no kpatch.ko core). It drives the kernel only through what kpatch
# uses: insmod/rmmod, readelf, /sys/kernel/livepatch, /sys/module and /proc.
#
#   patchctl load FILE.ko | unload MODULE | list
#
# kpatch's waits are constants; here they can be shortened for tests:
# PATCHCTL_ENABLE_WAIT (15 s), PATCHCTL_SIGNAL_WAIT (60 s), PATCHCTL_REF_WAIT
# (15 s), PATCHCTL_LOAD_ATTEMPTS (5), PATCHCTL_RETRY_INTERVAL (2 s).

ENABLE_WAIT=${PATCHCTL_ENABLE_WAIT:-15}
SIGNAL_WAIT=${PATCHCTL_SIGNAL_WAIT:-60}
REF_WAIT=${PATCHCTL_REF_WAIT:-15}
LOAD_ATTEMPTS=${PATCHCTL_LOAD_ATTEMPTS:-5}
RETRY_INTERVAL=${PATCHCTL_RETRY_INTERVAL:-2}

KLP=/sys/kernel/livepatch
BUSY_TEXT="Device or resource busy"

warn() { echo "kpatch: $*" >&2; }
die() { warn "$@"; exit 1; }

usage() {
	echo "usage: patchctl load FILE.ko | unload MODULE | list" >&2
	exit 1
}

# the module name a .ko gives the kernel: the string in .gnu.linkonce.this_module
elf_module_name() {
	readelf -p .gnu.linkonce.this_module "$1" | awk '/\[.*\]/ { print $3 }'
}

# the name `unload` works with: the argument's basename, no .ko, '-' as '_'
module_arg_name() {
	local n
	n=$(basename "$1")
	n=${n%.ko}
	echo "${n//-/_}"
}

in_transition() { [[ "$(cat "$KLP/$1/transition" 2> /dev/null)" == 1 ]]; }

# the first patch (in glob order) whose transition is running
transition_patch() {
	local dir
	for dir in "$KLP"/*; do
		in_transition "$(basename "$dir")" && { basename "$dir"; return; }
	done
}

# every thread whose patch_state is not yet the transition's target
show_stalled_processes() {
	local patch target dir tid state
	patch=$(transition_patch)
	[[ -n "$patch" ]] || return 0
	target=$(cat "$KLP/$patch/enabled" 2> /dev/null)
	echo ""
	echo "Stalled processes:"
	for dir in /proc/[0-9]*/task/[0-9]*; do
		tid=${dir##*/}
		state=
		# the tid's own /proc/<tid>, which lookup finds though readdir hides it
		read -r state 2> /dev/null < "/proc/$tid/patch_state"
		[[ -n "$state" && -n "$target" && "$state" != -1 && "$state" != "$target" ]] || continue
		echo "$tid $(cat "$dir/comm" 2> /dev/null)"
		echo "stack:"
		cat "$dir/stack" 2> /dev/null
	done
}

# kernels 4.15-5.0 let user space ask for the signals; later ones send them
signal_stalled_processes() {
	local patch
	patch=$(transition_patch)
	[[ -n "$patch" ]] || return 0
	if [[ -e "$KLP/$patch/signal" ]]; then
		echo "signaling stalled process(es):"
		echo 1 > "$KLP/$patch/signal"
	else
		warn "Livepatch process signaling is performed automatically on your system."
		warn "Skipping manual process signaling."
	fi
}

# poll_transition MODULE SECONDS - 0 when the transition is over within SECONDS
poll_transition() {
	local i
	for ((i = 0; i < $2; i++)); do
		if ! in_transition "$1"; then
			echo "transition complete ($i seconds)"
			return 0
		fi
		sleep 1
	done
	return 1
}

wait_for_transition() {
	in_transition "$1" || return 0
	echo "waiting (up to $ENABLE_WAIT seconds) for patch transition to complete..."
	poll_transition "$1" "$ENABLE_WAIT" && return 0
	echo "patch transition has stalled!"
	signal_stalled_processes
	echo "waiting (up to $SIGNAL_WAIT seconds) for patch transition to complete..."
	poll_transition "$1" "$SIGNAL_WAIT"
}

has_references() { [[ "$(cat "/sys/module/$1/refcnt" 2> /dev/null)" -gt 0 ]]; }

wait_for_zero_refcount() {
	local i
	has_references "$1" || return 0
	echo "waiting (up to $REF_WAIT seconds) for module refcount..."
	for ((i = 0; i < REF_WAIT; i++)); do
		has_references "$1" || return 0
		sleep 1
	done
	return 1
}

# remove_module MODULE [quiet] - after its references are gone; rmmod's own
# failure does not count (a module may be pinned for good)
remove_module() {
	wait_for_zero_refcount "$1" || die "failed to unload module $1 (refcnt)"
	[[ "$2" == quiet ]] || echo "unloading patch module: $1"
	rmmod "$1" 2> /dev/null
	return 0
}

# retry_busy CMD... - runs CMD until it prints nothing; output naming EBUSY
# (another transition running) is retried, anything else fails
retry_busy() {
	local out attempt
	for ((attempt = 1; ; attempt++)); do
		out=$(export LC_ALL=C; "$@" 2>&1)
		[[ -z "$out" ]] && return 0
		echo "$out" >&2
		[[ "$out" == *"$BUSY_TEXT"* ]] || return 1
		((attempt == LOAD_ATTEMPTS)) && return 1
		warn "retrying..."
		sleep "$RETRY_INTERVAL"
	done
}

write_enabled_0() { sh -c "echo 0 > $KLP/$1/enabled"; }

disable_patch() {
	local m=$1
	if [[ ! -e "$KLP/$m/enabled" ]]; then
		# already disabled or replaced, its module still loaded
		[[ -d /sys/module/$m ]] && return 0
		warn "patch module $m is not loaded"
		return 1
	fi
	[[ "$(cat "$KLP/$m/enabled")" == 1 ]] || return 0
	echo "disabling patch module: $m"
	retry_busy write_enabled_0 "$m"
}

unload() {
	local m
	m=$(module_arg_name "$1")
	disable_patch "$m" || die "failed to disable module $m"
	wait_for_transition "$m" || die "transition stalled for $m"
	remove_module "$m"
}

load() {
	local file=$1 m
	[[ -f "$file" ]] || die "can't find $file"
	[[ -d "$KLP" ]] || die "can't find core module"
	m=$(elf_module_name "$file")
	if [[ -d "$KLP/$m" ]]; then
		if [[ "$(cat "$KLP/$m/enabled")" == 0 ]]; then
			echo "module already loaded, re-enabling"
			echo 1 > "$KLP/$m/enabled" || die "failed to re-enable module $m"
			if ! wait_for_transition "$m"; then
				show_stalled_processes
				echo "module $m did not complete its transition, disabling..."
				echo 0 > "$KLP/$m/enabled" || die "failed to disable module $m"
				wait_for_transition "$m"
				die "error: failed to re-enable module $m (transition stalled), patch disabled"
			fi
			return 0
		fi
		echo "module named $m already loaded and enabled"
	else
		# a replaced patch's module stays loaded: take it out first
		remove_module "$m" quiet
		echo "loading patch module: $file"
		retry_busy insmod "$file" || die "failed to load module $file"
	fi
	if ! wait_for_transition "$m"; then
		show_stalled_processes
		echo "module $m did not complete its transition, unloading..."
		unload "$m"
		die "error: failed to load module $m (transition stalled)"
	fi
}

# the function table of kernels with stack_order: each function belongs to
# the patch highest on the stack
show_functions() {
	local -A owner=() order=()
	local dir patch so obj fn key any=0
	for dir in "$KLP"/*; do
		[[ -e "$dir/stack_order" ]] || continue
		any=1
		patch=$(basename "$dir")
		so=$(cat "$dir/stack_order")
		for fn in "$dir"/*/*; do
			[[ -d "$fn" ]] || continue
			obj=$(basename "$(dirname "$fn")")
			key="$obj $(basename "$fn")"
			if [[ -z "${order[$key]}" || "${order[$key]}" -lt "$so" ]]; then
				order[$key]=$so
				owner[$key]=$patch
			fi
		done
	done
	((any)) || return 0
	echo ""
	echo "Currently livepatched functions:"
	{
		echo "Module Object Function/Occurrence"
		for key in "${!owner[@]}"; do
			patch=${owner[$key]}
			echo "$patch $key$(in_transition "$patch" && echo " (transition)")"
		done | sort
	} | column -t
}

list() {
	local dir m state
	echo "Loaded patch modules:"
	for dir in "$KLP"/*; do
		[[ -e "$dir" ]] || continue
		m=$(basename "$dir")
		if [[ "$(cat "$dir/enabled" 2> /dev/null)" == 1 ]]; then
			in_transition "$m" && state="enabling..." || state=enabled
		else
			in_transition "$m" && state="disabling..." || state=disabled
		fi
		echo "$m [$state]"
	done
	show_stalled_processes
	echo ""
	echo "Installed patch modules:"
	show_functions
}

case "$1" in
load) [[ $# -eq 2 ]] || usage; load "$2" ;;
unload) [[ $# -eq 2 ]] || usage; unload "$2" ;;
list) [[ $# -eq 1 ]] || usage; list ;;
*) usage ;;
esac
