#!/bin/sh
# The README's "Writing a patch module" walkthrough as one script:
#   sh examples/livepatch-cmdline/walkthrough.sh
# Starts a klpsim daemon on ./mnt, builds and loads the example livepatch,
# changes its parameter, disables it, removes it, and stops the daemon.
# Needs `klpsim` on PATH (npm link in the klpsim checkout, or npm install -g).
set -eu
here=$(dirname "$0")
export KLPSIM_MOUNT="$PWD/mnt"

klpsim mount "$KLPSIM_MOUNT" &
daemon=$!
trap 'kill $daemon; wait $daemon' EXIT
while [ ! -d mnt/sys/kernel/livepatch ]; do sleep 0.1; done

# build the module and look at it as kmod does
klpsim build "$here/livepatch_cmdline.ts" -o livepatch_cmdline.ko
klpsim modinfo -F livepatch livepatch_cmdline.ko

# load it: insmod returns once the patch is enabled and its transition started
klpsim insmod livepatch_cmdline.ko
cat mnt/proc/cmdline
cat mnt/proc/cmdline
klpsim lsmod
ls mnt/sys/kernel/livepatch/livepatch_cmdline

# its parameter is a file, as for every module
echo 'hello from a patch' > mnt/sys/module/livepatch_cmdline/parameters/message
cat mnt/proc/cmdline

# disable the patch: the directory goes once the unpatching transition is done
echo 0 > mnt/sys/kernel/livepatch/livepatch_cmdline/enabled
while [ -d mnt/sys/kernel/livepatch/livepatch_cmdline ]; do sleep 0.1; done
cat mnt/proc/cmdline

# and remove the module
klpsim rmmod livepatch_cmdline
klpsim dmesg --notime | grep -e 'livepatch:' -e 'livepatch_cmdline:'
