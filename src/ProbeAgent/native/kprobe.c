/*
 * kprobe: the probe agent's kernel helper.
 *
 * Each invocation makes exactly one privileged attempt and prints one line:
 *   ok key=value ...        the attempt succeeded
 *   err NAME CODE           the system call failed with errno NAME (e.g. EPERM 1)
 * Exit code 0 when the attempt was made (whatever its result), 2 on bad usage.
 *
 * Why a separate C program: the attempts must run in a single-threaded process.
 * unshare(CLONE_NEWUSER) fails with EINVAL in any multithreaded process, and a
 * successful setuid() in the agent would change the identity of every other probe.
 * A copy of this binary installed setuid-root is the "setuid helper" escalation probe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <grp.h>

static int fail(void)
{
    int e = errno;
    const char *name = strerrorname_np(e);
    printf("err %s %d\n", name ? name : "EUNKNOWN", e);
    return 0;
}

static int ok_id(void)
{
    printf("ok uid=%u euid=%u gid=%u egid=%u\n", getuid(), geteuid(), getgid(), getegid());
    return 0;
}

/*
 * The identity the runtime gave this process: "uid=U gid=G groups=A,B" (groups sorted as the kernel holds them).
 * Run inside the operator's own image under its security context, it tells the harness who the operator really is;
 * the line also goes to FILE (the termination log) so the API server carries it back without a log read.
 */
static int identity(const char *file)
{
    gid_t groups[256];
    int n = getgroups(256, groups);
    char line[4096];
    int len = snprintf(line, sizeof line, "uid=%u gid=%u groups=", getuid(), getgid());
    for (int i = 0; i < n && len < (int)sizeof line - 16; i++)
        len += snprintf(line + len, sizeof line - (size_t)len, "%s%u", i ? "," : "", groups[i]);
    printf("ok %s\n", line);
    if (file) {
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, line, (size_t)len) != len) {
            fprintf(stderr, "kprobe: cannot write %s: %s\n", file, strerror(errno));
            return 1;
        }
        close(fd);
    }
    return 0;
}

/* Copies this binary to DEST (mode 0755): how it reaches an image that has no shell and no cp. */
static int install_self(const char *dest)
{
    int in = open("/proc/self/exe", O_RDONLY);
    int out = open(dest, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (in < 0 || out < 0)
        return fail();
    char buf[65536];
    ssize_t r;
    while ((r = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)r) != r)
            return fail();
    if (r < 0 || fchmod(out, 0755) != 0)
        return fail();
    close(in);
    close(out);
    printf("ok installed=%s\n", dest);
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: kprobe id | identity [FILE] | install-self DEST | setuid UID|self | setgid GID|self | unshare user|mount|net|pid\n"
            "             | mount-tmpfs DIR | chroot DIR | socket raw|dgram\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *cmd = argv[1];
    const char *arg = argc > 2 ? argv[2] : NULL;
    setvbuf(stdout, NULL, _IONBF, 0);

    if (strcmp(cmd, "id") == 0)
        return ok_id();
    if (strcmp(cmd, "identity") == 0)
        return identity(arg);
    if (strcmp(cmd, "install-self") == 0 && arg)
        return install_self(arg);

    /* "self" re-applies the current id: the same system call with no privilege needed (the control). */
    if (strcmp(cmd, "setuid") == 0 && arg) {
        uid_t uid = strcmp(arg, "self") == 0 ? getuid() : (uid_t)strtoul(arg, NULL, 10);
        if (setuid(uid) != 0)
            return fail();
        return ok_id();
    }
    if (strcmp(cmd, "setgid") == 0 && arg) {
        gid_t gid = strcmp(arg, "self") == 0 ? getgid() : (gid_t)strtoul(arg, NULL, 10);
        if (setgid(gid) != 0)
            return fail();
        return ok_id();
    }
    if (strcmp(cmd, "unshare") == 0 && arg) {
        int flag = strcmp(arg, "user") == 0    ? CLONE_NEWUSER
                   : strcmp(arg, "mount") == 0 ? CLONE_NEWNS
                   : strcmp(arg, "net") == 0   ? CLONE_NEWNET
                   : strcmp(arg, "pid") == 0   ? CLONE_NEWPID
                                               : 0;
        if (flag == 0)
            return usage();
        if (unshare(flag) != 0)
            return fail();
        printf("ok namespace=%s\n", arg);
        return 0;
    }
    if (strcmp(cmd, "mount-tmpfs") == 0 && arg) {
        if (mount("kprobe", arg, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") != 0)
            return fail();
        umount2(arg, MNT_DETACH);
        printf("ok mounted=%s\n", arg);
        return 0;
    }
    if (strcmp(cmd, "chroot") == 0 && arg) {
        if (chroot(arg) != 0)
            return fail();
        printf("ok root=%s\n", arg);
        return 0;
    }
    if (strcmp(cmd, "socket") == 0 && arg) {
        int raw = strcmp(arg, "raw") == 0;
        if (!raw && strcmp(arg, "dgram") != 0)
            return usage();
        int fd = raw ? socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) : socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
        if (fd < 0)
            return fail();
        close(fd);
        printf("ok socket=%s\n", arg);
        return 0;
    }
    return usage();
}
