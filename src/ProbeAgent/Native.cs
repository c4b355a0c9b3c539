using System.Runtime.InteropServices;

namespace Harness.ProbeAgent;

/// <summary>Direct libc calls, so a failure carries its exact errno (the BCL folds EROFS/EACCES/EPERM into one exception).</summary>
internal static partial class Native
{
    public const int O_RDONLY = 0x0;
    public const int O_WRONLY = 0x1;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    /// <summary>statvfs(3); the buffer is larger than any libc's <c>struct statvfs</c>.</summary>
    [LibraryImport("libc", EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int StatVfs(string path, byte* buffer);

    /// <summary>The mount flags of the filesystem holding <paramref name="path"/> (<c>f_flag</c>), or the errno.</summary>
    public static unsafe (ulong Flags, int Errno) MountFlags(string path)
    {
        // glibc on 64-bit: eleven unsigned longs (bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag,
        // namemax): f_flag is the tenth. 32-bit layouts differ; the agent ships for 64-bit Linux only.
        var buffer = stackalloc byte[256];
        if (StatVfs(path, buffer) != 0)
        {
            return (0, Marshal.GetLastPInvokeError());
        }
        return (((ulong*)buffer)[9], 0);
    }

    /// <summary>ST_RDONLY in <c>f_flag</c>.</summary>
    public const ulong ST_RDONLY = 1;

    [LibraryImport("libc", EntryPoint = "strerrorname_np")]
    private static partial nint StrErrorNameNp(int errnum);

    /// <summary>Symbolic name of an errno (<c>EROFS</c>), from glibc when it knows it.</summary>
    public static string ErrnoName(int errno)
    {
        try
        {
            var name = StrErrorNameNp(errno);
            if (name != 0)
            {
                return Marshal.PtrToStringUTF8(name) ?? $"E{errno}";
            }
        }
        catch (EntryPointNotFoundException)
        {
            // glibc older than 2.32 or another libc: fall through to the table.
        }
        return errno switch
        {
            1 => "EPERM", 2 => "ENOENT", 5 => "EIO", 13 => "EACCES", 17 => "EEXIST", 20 => "ENOTDIR",
            22 => "EINVAL", 28 => "ENOSPC", 30 => "EROFS", 38 => "ENOSYS", 101 => "ENETUNREACH",
            110 => "ETIMEDOUT", 111 => "ECONNREFUSED", 113 => "EHOSTUNREACH", 122 => "EDQUOT",
            _ => $"E{errno}",
        };
    }
}
