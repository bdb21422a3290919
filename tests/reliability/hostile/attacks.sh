#!/bin/sh
# Hostile RUN steps for tests/reliability/test_isolation.py: each attempt prints "attempt <name> rc=<exit code>".
# $1 is the phase; SENTINEL (an absolute host path outside kiln's work dir), HOSTPID (a host process),
# SECRET (a host file's name under SENTINEL) and DISK (major:minor of the host's root filesystem) come as ARGs.
# Nothing here may harm the host if it succeeded beyond what the test checks: sysrq gets "h" (help text),
# sysctls get their current value written back, reboot runs only inside a PID namespace.
try() {
    name=$1
    shift
    ( "$@" ) >/dev/null 2>&1
    echo "attempt $name rc=$?"
}
in_pid_ns() { [ $$ -lt 100 ]; }

case "$1" in
write)
    try direct-write-to-host-path sh -c "echo pwned > $SENTINEL/victim"
    try mkdir-host-path-then-write sh -c "mkdir -p $SENTINEL && echo pwned > $SENTINEL/victim"
    try absolute-symlink-to-etc sh -c 'ln -s /etc /hostetc && echo pwned > /hostetc/kiln-pwned'
    try absolute-symlink-to-host-dir sh -c "ln -s $SENTINEL /sent && echo pwned > /sent/victim"
    try relative-symlink-upwards sh -c "ln -s ../../../../../../../../.. /up && echo pwned > /up$SENTINEL/victim"
    try dotdot-walk sh -c "cd /../../../../../../..$SENTINEL && echo pwned > victim"
    try proc-1-root sh -c "echo pwned > /proc/1/root$SENTINEL/victim"
    try proc-1-cwd-parent sh -c "ls /proc/1/cwd/../../../../..$SENTINEL/victim"
    try inherited-fds sh -c "for fd in /proc/self/fd/*; do ls \$fd$SENTINEL && exit 0; done; exit 1"
    try init-fds sh -c 'for fd in /proc/1/fd/*; do echo "{\"stub\": {\"path\": \"../../../x\"}}" > $fd && exit 0; done; exit 1'
    try mount-bind-root mount --bind / /mnt
    try mount-proc mount -t proc proc /mnt
    try mount-tmpfs-over-root mount -t tmpfs none /
    try remount-proc-sys-rw mount -o remount,rw /proc/sys
    try umount-proc umount -l /proc
    try unshare-mount-ns unshare -m true
    try nsenter-pid-1 nsenter -t 1 -m -u -i -p sh -c "echo pwned > $SENTINEL/victim"
    try chroot-then-climb chroot / sh -c "cd ../../../../..; echo pwned > .$SENTINEL/victim"
    try classic-chroot-escape /bin/esc "$SENTINEL/victim"
    try pivot-root sh -c 'mkdir -p /newroot/old && pivot_root /newroot /newroot/old'
    try proc-sys-write sh -c 'cat /proc/sys/kernel/sysrq > /proc/sys/kernel/sysrq'
    try proc-sys-hostname sh -c 'echo pwned > /proc/sys/kernel/hostname'
    try sethostname hostname pwned
    try sysrq-trigger sh -c 'echo h > /proc/sysrq-trigger'
    try sys-write sh -c 'cat /sys/kernel/mm/ksm/run > /sys/kernel/mm/ksm/run'
    try sys-create sh -c 'echo pwned > /sys/kiln-pwned'
    try mknod-host-disk-read sh -c "mknod /hostdisk b ${DISK%:*} ${DISK#*:} && dd if=/hostdisk of=/dev/null bs=512 count=1"
    try mknod-host-disk-write sh -c 'dd if=/dev/zero of=/hostdisk bs=512 count=1 seek=1000000 conv=notrunc'
    try mknod-dev-mem-read sh -c 'mknod /mem c 1 1 && dd if=/mem of=/dev/null bs=1 count=1'
    try mknod-in-dev sh -c 'mknod /dev/kmsg2 c 1 11 && echo pwned > /dev/kmsg2'
    # /dev/null & co are the host's inodes bound in; same mode/owner so a success would harm nothing but show.
    try touch-host-dev-nodes touch /dev/null /dev/zero /dev/full /dev/random /dev/urandom
    try chmod-host-dev-null chmod 666 /dev/null
    try chown-host-dev-null chown 0:0 /dev/null
    # The default RUN network is the host's: without CAP_NET_ADMIN nothing of it can be changed.
    try net-add-link ip link add kilnpwn type dummy
    try net-add-address ip addr add 10.255.255.1/32 dev lo
    try net-add-route ip route add 10.255.254.0/24 dev lo
    try insmod modprobe -q dummy
    try fill-tmp-300mb dd if=/dev/zero of=/tmp/fill bs=1M count=300
    try fill-dev-shm dd if=/dev/zero of=/dev/shm/fill bs=1M count=200
    try fill-dev dd if=/dev/zero of=/dev/fill bs=1M count=200
    try leave-a-fifo mkfifo /fifo
    ;;
daemons)
    # Left running when the RUN's command exits: kiln (the namespace's end) must take them all down.
    i=0
    while [ $i -lt 100 ]; do
        sleep 31337 </dev/null >/dev/null 2>&1 &
        i=$((i + 1))
    done
    echo "attempt fork-storm-100-left-running rc=0"
    try setsid-daemon sh -c 'setsid sleep 31338 </dev/null >/dev/null 2>&1 &'
    try nohup-daemon sh -c 'nohup sleep 31339 </dev/null >/dev/null 2>&1 &'
    ;;
kill)
    sleep 31340 </dev/null >/dev/null 2>&1 &
    try kill-parent kill -9 "$PPID"
    try kill-pid-1 kill -9 1
    try kill-host-pid kill -9 "$HOSTPID"
    kill -9 -1
    echo "attempt kill-everything rc=$?"
    ;;
links)
    # Left in the rootfs for kiln's next steps: COPY and WORKDIR through them, a cache mount on them.
    try plant-copy-symlinks sh -c "ln -s $SENTINEL /copydst && ln -s $SENTINEL/victim /victimlink && ln -s $SENTINEL /cachelink"
    ;;
bind-links)
    # /h and /w are bind mounts of the context's "rootlink", a symlink to / (read-only and rw=true).
    try read-host-through-context-link sh -c "cat /h$SENTINEL/$SECRET"
    try read-host-file-through-context-link cat /h/etc/hostname
    try write-through-ro-bind sh -c 'echo pwned > /h/payload'
    try write-through-rw-bind sh -c 'echo pwned > /w/payload && echo pwned > /w/new-file'
    ;;
base-symlinks)
    # The base image's /proc, /dev, /sys, /etc/hosts, /etc/resolv.conf and /run are symlinks out of the root:
    # kiln mounted on their targets resolved inside the root (or refused the RUN).
    try write-etc-hosts-link sh -c 'echo pwned > /etc/hosts'
    try write-resolv-conf-link sh -c 'echo pwned > /etc/resolv.conf'
    try write-under-proc-link sh -c 'echo pwned > /proc/victim'
    try write-under-sys-link sh -c 'echo pwned > /sys/victim'
    try write-under-dev-link sh -c 'echo pwned > /dev/victim'
    try write-under-run-link sh -c 'echo pwned > /run/victim'
    ;;
reboot)
    if in_pid_ns; then
        try reboot reboot -f -n
    fi
    ;;
esac
exit 0
