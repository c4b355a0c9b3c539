namespace Harness.Images;

/// <summary>Where things live inside the probe image. Probes and the image builder share these paths.</summary>
internal static class ProbeImageLayout
{
    /// <summary>The agent binary (also the image's entrypoint).</summary>
    public const string Agent = "/probe/agent";

    /// <summary>The single-threaded kernel helper, mode 0755.</summary>
    public const string KernelHelper = "/probe/bin/kprobe";

    /// <summary>The same helper installed setuid-root (mode 4755, owner 0): the setuid escalation probe.</summary>
    public const string SetuidHelper = "/probe/bin/kprobe-suid";

    /// <summary>A world-writable directory on the root filesystem: only a read-only root stops a write there.</summary>
    public const string RootfsCanary = "/probe/rootfs-canary";

    /// <summary>An empty directory the mount probe tries to mount a tmpfs on.</summary>
    public const string MountPoint = "/probe/mnt";

    /// <summary>The twin pod's own scratch emptyDir: where the filesystem probes' control writes in a twin (the root filesystem is not changed by it).</summary>
    public const string Scratch = "/harness-scratch";

    /// <summary>The default uid and gid of the image (distroless "nonroot").</summary>
    public const int NonRootId = 65532;
}
