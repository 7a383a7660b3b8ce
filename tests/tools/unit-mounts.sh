#!/bin/sh
# unit-mounts.sh --scratch DIR [KEY=VALUE]... -- COMMAND [ARG]...
#
# Sets up the mounts systemd 252 makes for a unit's file-system settings
# (src/core/namespace.c), then executes COMMAND: a test helper, run as root
# inside `unshare --mount --uts --propagation private` (tests/integration/
# test_unit_filter.py), so that bwrap can be tried in the mount namespace
# the service would have.  The settings understood:
#
#   ReadWritePaths=P (StateDirectory= and the like)  stays writable
#   ProtectSystem=strict       every other mount read-only, except /dev,
#                              /proc and /sys
#   ProtectHome=tmpfs|yes|read-only   /home, /root, /run/user
#   PrivateTmp=yes             fresh /tmp and /var/tmp
#   PrivateDevices=yes         a /dev holding null, zero, full, random,
#                              urandom, tty, pts, ptmx and shm only
#   ProtectKernelModules=yes   /usr/lib/modules inaccessible
#   ProtectControlGroups=yes   /sys/fs/cgroup read-only
#   ProtectProc=invisible      a fresh /proc with hidepid=invisible
#   ProtectKernelTunables=yes  read-only or inaccessible mounts over
#                              /proc/sys and its siblings, /sys read-only
#   ProtectKernelLogs=yes      /proc/kmsg and /dev/kmsg inaccessible
#
# Anything else is an error.  DIR is a scratch folder outside /tmp.
set -eu

die() {
	echo "unit-mounts: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (in its own mount namespace)"
[ "${1:-}" = --scratch ] && [ $# -ge 2 ] || die "usage: --scratch DIR [KEY=VALUE]... -- COMMAND"
scratch=$2
shift 2
rw= system= home= tmp= devices= modules= cgroups= proc= tunables= logs=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	case $1 in
	ReadWritePaths=*) rw="$rw ${1#*=}" ;;
	ProtectSystem=strict) system=strict ;;
	ProtectHome=tmpfs | ProtectHome=yes | ProtectHome=read-only) home=${1#*=} ;;
	PrivateTmp=yes) tmp=yes ;;
	PrivateDevices=yes) devices=yes ;;
	ProtectKernelModules=yes) modules=yes ;;
	ProtectControlGroups=yes) cgroups=yes ;;
	ProtectProc=invisible) proc=invisible ;;
	ProtectKernelTunables=yes) tunables=yes ;;
	ProtectKernelLogs=yes) logs=yes ;;
	*) die "setting not emulated: $1" ;;
	esac
	shift
done
[ "${1:-}" = -- ] && [ $# -ge 2 ] || die "no command after --"
shift

# systemd binds /run/systemd/inaccessible/{dir,reg} (mode 000) over a path.
mkdir -p "$scratch/inaccessible" "$scratch/dev"
: >"$scratch/inaccessible.reg"
chmod 000 "$scratch/inaccessible" "$scratch/inaccessible.reg"
inaccessible() {
	if [ -d "$1" ] && [ ! -L "$1" ]; then
		mount -n --bind "$scratch/inaccessible" "$1"
	elif [ -e "$1" ]; then
		mount -n --bind "$scratch/inaccessible.reg" "$1"
	else
		return 0
	fi
	mount -n -o remount,bind,ro "$1"
}
read_only() {
	[ -e "$1" ] || return 0
	mount -n --rbind "$1" "$1"
	mount -n -o remount,bind,ro "$1"
}

for p in $rw; do
	mount -n --bind "$p" "$p"
done
if [ "$system" = strict ]; then
	# Field 5 of mountinfo is the mount point (no spaces in ours).
	for m in $(awk '{ print $5 }' /proc/self/mountinfo | sort -u); do
		case $m in
		/proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;;
		esac
		keep=
		for p in $rw; do
			[ "$m" = "$p" ] && keep=1
		done
		[ -n "$keep" ] || mount -n -o remount,bind,ro "$m"
	done
fi
case $home in
tmpfs)
	for h in /home /root /run/user; do
		if [ -d "$h" ]; then
			mount -n -t tmpfs -o ro,mode=755,nosuid,nodev tmpfs "$h"
		fi
	done ;;
yes)
	for h in /home /root /run/user; do
		inaccessible "$h"
	done ;;
read-only)
	for h in /home /root /run/user; do
		read_only "$h"
	done ;;
esac
if [ -n "$tmp" ]; then
	mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
	mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
fi
if [ -n "$devices" ]; then
	d=$scratch/dev
	mount -n -t tmpfs -o mode=755,nosuid,noexec tmpfs "$d"
	for n in null zero full random urandom tty; do
		: >"$d/$n"
		mount -n --bind "/dev/$n" "$d/$n"
	done
	mkdir "$d/pts" "$d/shm"
	mount -n --bind /dev/pts "$d/pts"
	mount -n --bind /dev/shm "$d/shm"
	ln -s pts/ptmx "$d/ptmx"
	mount -n --move "$d" /dev
fi
if [ -n "$modules" ]; then
	inaccessible /usr/lib/modules
	[ -L /lib ] || inaccessible /lib/modules
fi
[ -z "$cgroups" ] || read_only /sys/fs/cgroup
if [ -n "$proc" ]; then
	umount -R -l /proc
	mount -n -t proc -o nosuid,nodev,noexec,hidepid=$proc proc /proc
fi
if [ -n "$tunables" ]; then
	for p in acpi apm asound bus fs irq latency_stats mtrr scsi sys sysrq-trigger \
		timer_stats; do
		read_only "/proc/$p"
	done
	inaccessible /proc/kallsyms
	inaccessible /proc/kcore
	read_only /sys
fi
if [ -n "$logs" ]; then
	inaccessible /proc/kmsg
	inaccessible /dev/kmsg
fi
exec "$@"
