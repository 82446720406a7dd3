namespace NodeFleet.Agent.Host;

/// <summary>
/// The running kernel's state (/proc, /sys), read from the real host whatever <c>--root</c> is: a root moves the
/// node's configuration files, not its kernel, its processes or its network. Only a test stands in for the kernel
/// (<c>--kernel-root</c>). Every message names <see cref="PathOf"/>, the file actually read.
/// </summary>
public sealed class HostKernel
{
    private static readonly string[] Trees = ["/proc/", "/sys/"];

    public HostKernel(string root = "/")
    {
        if (string.IsNullOrWhiteSpace(root)) throw new ArgumentException("the kernel root must not be empty");
        Root = Path.GetFullPath(root);
    }

    /// <summary>"/" on a node.</summary>
    public string Root { get; }

    /// <summary>Where <paramref name="kernelPath"/> (a path under /proc or /sys) is read.</summary>
    public string PathOf(string kernelPath)
    {
        if (!Trees.Any(t => kernelPath.StartsWith(t, StringComparison.Ordinal)) || kernelPath.Split('/').Any(s => s is "." or ".."))
            throw new ArgumentException($"'{kernelPath}' is not a path of kernel state (under /proc or /sys)");
        return Root == "/" ? kernelPath : Path.Join(Root, kernelPath);
    }

    /// <summary>The text of <paramref name="kernelPath"/>, or null when it does not exist (a module not loaded, say).</summary>
    public string? ReadText(string kernelPath)
    {
        try { return File.ReadAllText(PathOf(kernelPath)); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
    }

    /// <summary>Whether <paramref name="kernelPath"/> exists (a file or a directory: /proc/PID, /sys/module/NAME).</summary>
    public bool Exists(string kernelPath)
    {
        var p = PathOf(kernelPath);
        return File.Exists(p) || Directory.Exists(p);
    }
}
