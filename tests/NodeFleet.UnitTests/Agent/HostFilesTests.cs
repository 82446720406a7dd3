using System.Text;
using NodeFleet.Agent.Host;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>HostFiles and BackupStore on real files and symbolic links under a scratch root.</summary>
public sealed class HostFilesTests : IDisposable
{
    private const UnixFileMode Public = NodeFleet.IO.AtomicFile.Public;
    private const UnixFileMode Secret = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly TempDir _dir = new();
    private readonly HostRoot _root;
    private readonly HostFiles _files;
    private readonly BackupStore _backups;

    /// <summary>A directory outside the root, standing for anywhere else on the machine.</summary>
    private readonly string _outside;

    public HostFilesTests()
    {
        _root = new HostRoot(_dir.File("root"));
        _files = new HostFiles(_root);
        _backups = new BackupStore(_root);
        _outside = _dir.File("outside");
        Directory.CreateDirectory(_outside);
    }

    public void Dispose() => _dir.Dispose();

    private string Full(string hostPath) => _root.Path(hostPath);

    private void WriteHostFile(string hostPath, string content, UnixFileMode mode = Public)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Full(hostPath))!);
        File.WriteAllText(Full(hostPath), content);
        File.SetUnixFileMode(Full(hostPath), mode);
    }

    private void LinkDirectory(string hostPath, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Full(hostPath))!);
        Directory.CreateSymbolicLink(Full(hostPath), target);
    }

    /// <summary>A 0600 file outside the root and a link to it at <paramref name="hostPath"/>.</summary>
    private string LinkToSecret(string hostPath)
    {
        var secret = Path.Combine(_outside, "secret");
        File.WriteAllText(secret, "the secret");
        File.SetUnixFileMode(secret, Secret);
        Directory.CreateDirectory(Path.GetDirectoryName(Full(hostPath))!);
        File.CreateSymbolicLink(Full(hostPath), secret);
        return secret;
    }

    private static bool IsLink(string fullPath) => new FileInfo(fullPath).LinkTarget is not null;

    [Fact]
    public void A_symlinked_directory_below_a_writable_root_refuses_the_write_and_nothing_is_written()
    {
        LinkDirectory("/etc/containerd/certs.d/registry.k8s.io", _outside);

        var e = Assert.Throws<HostPathException>(() =>
            _files.WriteIfChanged("/etc/containerd/certs.d/registry.k8s.io/hosts.toml", "server = 'x'"u8, Public));
        Assert.Contains("/etc/containerd/certs.d/registry.k8s.io is a symbolic link", e.Message);
        Assert.Contains(_outside, e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_outside));
    }

    [Fact]
    public void A_symlinked_directory_deeper_down_or_a_file_in_the_way_is_refused_too()
    {
        LinkDirectory("/etc/containerd/certs.d", _outside);
        var e = Assert.Throws<HostPathException>(() => _files.WriteIfChanged("/etc/containerd/certs.d/a/b/hosts.toml", "x"u8, Public));
        Assert.Contains("/etc/containerd/certs.d is a symbolic link", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_outside));

        WriteHostFile("/etc/docker/daemon.json", "{}");
        var file = Assert.Throws<HostPathException>(() => _files.WriteIfChanged("/etc/docker/daemon.json/x", "x"u8, Public));
        Assert.Contains("/etc/docker/daemon.json is not a directory", file.Message);
    }

    [Fact]
    public void Reads_below_a_symlinked_directory_are_refused_not_made_through_it()
    {
        File.WriteAllText(Path.Combine(_outside, "hosts.toml"), "outside");
        LinkDirectory("/etc/containerd/certs.d/registry.k8s.io", _outside);

        foreach (var read in new Action[]
                 {
                     () => _files.Read("/etc/containerd/certs.d/registry.k8s.io/hosts.toml"),
                     () => _files.Stat("/etc/containerd/certs.d/registry.k8s.io/hosts.toml"),
                     () => _files.Mode("/etc/containerd/certs.d/registry.k8s.io/hosts.toml"),
                     () => _files.Delete("/etc/containerd/certs.d/registry.k8s.io/hosts.toml"),
                 })
        {
            Assert.Contains("is a symbolic link", Assert.Throws<HostPathException>(read).Message);
        }
        Assert.Equal("outside", File.ReadAllText(Path.Combine(_outside, "hosts.toml")));
    }

    [Fact]
    public void Missing_directories_are_created_as_real_directories()
    {
        Assert.True(_files.WriteIfChanged("/etc/containerd/certs.d/registry.k8s.io/hosts.toml", "x"u8, Public));

        foreach (var dir in new[] { "/etc/containerd", "/etc/containerd/certs.d", "/etc/containerd/certs.d/registry.k8s.io" })
        {
            Assert.True(Directory.Exists(Full(dir)), dir);
            Assert.False(IsLink(Full(dir)), dir);
        }
        Assert.Equal("x", File.ReadAllText(Full("/etc/containerd/certs.d/registry.k8s.io/hosts.toml")));
    }

    [Fact]
    public void The_writable_root_itself_and_what_is_above_it_may_be_links()
    {
        // An image-based OS: /usr/local is a link into /var; /etc/containerd a link the operator made.
        Directory.CreateDirectory(Full("/var/usrlocal/bin"));
        LinkDirectory("/usr/local", Full("/var/usrlocal"));
        Directory.CreateDirectory(Full("/etc/site/containerd"));
        LinkDirectory("/etc/containerd", Full("/etc/site/containerd"));

        var source = _dir.File("tool");
        File.WriteAllText(source, "binary");
        _files.InstallFrom(source, "/usr/local/bin/tool", (UnixFileMode)0b111_101_101);
        Assert.True(_files.WriteIfChanged("/etc/containerd/config.toml", "version = 2"u8, Public));

        Assert.Equal("binary", File.ReadAllText(Full("/var/usrlocal/bin/tool")));
        Assert.Equal("version = 2", File.ReadAllText(Full("/etc/site/containerd/config.toml")));
    }

    [Theory]
    [InlineData("/etc/shadow", "outside the directories the agent changes")]
    [InlineData("/etc/containerdx/config.toml", "outside the directories the agent changes")]
    [InlineData("/etc/containerd", "outside the directories the agent changes")]
    [InlineData("/etc/containerd/../shadow", "'..'")]
    [InlineData("etc/containerd/config.toml", "absolute")]
    public void Paths_outside_the_writable_roots_are_refused_and_named(string hostPath, string reason)
    {
        WriteHostFile("/etc/shadow", "root:*:");
        var write = Assert.Throws<HostPathException>(() => _files.WriteIfChanged(hostPath, "x"u8, Public));
        Assert.Contains(hostPath, write.Message);
        Assert.Contains(reason, write.Message);
        Assert.Throws<HostPathException>(() => _files.Delete(hostPath));
        Assert.Throws<HostPathException>(() => _files.CreateSymbolicLink(hostPath, "/tmp"));
        Assert.Equal("root:*:", File.ReadAllText(Full("/etc/shadow")));
    }

    [Fact]
    public void A_symlinked_target_is_not_read_through()
    {
        LinkToSecret("/usr/local/bin/crictl");

        Assert.Null(_files.Read("/usr/local/bin/crictl"));
        Assert.Null(_files.Mode("/usr/local/bin/crictl"));
        Assert.True(_files.Exists("/usr/local/bin/crictl"));
        var entry = _files.Stat("/usr/local/bin/crictl");
        Assert.Equal(EntryKind.SymbolicLink, entry.Kind);
        Assert.Equal(Path.Combine(_outside, "secret"), entry.LinkTarget);
    }

    [Fact]
    public void A_dangling_link_is_a_link_too()
    {
        Directory.CreateDirectory(Full("/etc/docker"));
        File.CreateSymbolicLink(Full("/etc/docker/daemon.json"), "nowhere.json");
        Assert.Equal(new HostEntry(EntryKind.SymbolicLink, LinkTarget: "nowhere.json"), _files.Stat("/etc/docker/daemon.json"));
        Assert.Null(_files.Read("/etc/docker/daemon.json"));
    }

    [Fact]
    public void A_write_replaces_a_symlinked_target_with_a_regular_file_and_leaves_what_it_pointed_to_alone()
    {
        var secret = LinkToSecret("/etc/containerd/config.toml");

        Assert.True(_files.WriteIfChanged("/etc/containerd/config.toml", "version = 2"u8, Public));

        Assert.False(IsLink(Full("/etc/containerd/config.toml")));
        Assert.Equal("version = 2", File.ReadAllText(Full("/etc/containerd/config.toml")));
        Assert.Equal(Public, File.GetUnixFileMode(Full("/etc/containerd/config.toml")));
        Assert.Equal("the secret", File.ReadAllText(secret));
        Assert.Equal(Secret, File.GetUnixFileMode(secret));
        // No temporary file is left beside it.
        Assert.Equal(["config.toml"], Directory.GetFileSystemEntries(Full("/etc/containerd")).Select(Path.GetFileName));
    }

    [Fact]
    public void A_link_to_a_file_with_the_same_bytes_and_mode_is_still_replaced()
    {
        Directory.CreateDirectory(Full("/etc/docker"));
        File.WriteAllText(Full("/etc/docker/real.json"), "{}");
        File.SetUnixFileMode(Full("/etc/docker/real.json"), Public);
        File.CreateSymbolicLink(Full("/etc/docker/daemon.json"), "real.json");

        Assert.True(_files.WriteIfChanged("/etc/docker/daemon.json", "{}"u8, Public));
        Assert.False(IsLink(Full("/etc/docker/daemon.json")));
        Assert.False(_files.WriteIfChanged("/etc/docker/daemon.json", "{}"u8, Public));
    }

    [Fact]
    public void Install_replaces_a_symlinked_target_instead_of_writing_through_it()
    {
        var secret = LinkToSecret("/usr/local/bin/crictl");
        var source = _dir.File("crictl");
        File.WriteAllText(source, "crictl binary");

        _files.InstallFrom(source, "/usr/local/bin/crictl", (UnixFileMode)0b111_101_101);

        Assert.False(IsLink(Full("/usr/local/bin/crictl")));
        Assert.Equal("crictl binary", File.ReadAllText(Full("/usr/local/bin/crictl")));
        Assert.Equal("the secret", File.ReadAllText(secret));
    }

    [Fact]
    public void Install_below_a_symlinked_directory_is_refused()
    {
        LinkDirectory("/opt/cni/bin/sub", _outside);
        var source = _dir.File("plugin");
        File.WriteAllText(source, "plugin");
        var e = Assert.Throws<HostPathException>(() => _files.InstallFrom(source, "/opt/cni/bin/sub/bridge", (UnixFileMode)0b111_101_101));
        Assert.Contains("/opt/cni/bin/sub is a symbolic link", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_outside));
    }

    [Fact]
    public void A_symbolic_link_is_put_back_over_a_regular_file_and_delete_removes_only_the_link()
    {
        var secret = Path.Combine(_outside, "secret");
        File.WriteAllText(secret, "the secret");
        WriteHostFile("/usr/local/bin/crictl", "crictl binary");

        Assert.True(_files.CreateSymbolicLink("/usr/local/bin/crictl", secret));
        Assert.Equal(secret, new FileInfo(Full("/usr/local/bin/crictl")).LinkTarget);
        Assert.False(_files.CreateSymbolicLink("/usr/local/bin/crictl", secret));
        Assert.Equal(["crictl"], Directory.GetFileSystemEntries(Full("/usr/local/bin")).Select(Path.GetFileName));

        Assert.True(_files.Delete("/usr/local/bin/crictl"));
        Assert.False(File.Exists(Full("/usr/local/bin/crictl")) || IsLink(Full("/usr/local/bin/crictl")));
        Assert.Equal("the secret", File.ReadAllText(secret));
        Assert.False(_files.Delete("/usr/local/bin/crictl"));
    }

    [Fact]
    public void Probes_outside_the_writable_roots_still_read()
    {
        WriteHostFile("/proc/swaps", "Filename\n");
        Assert.Equal("Filename\n", Encoding.UTF8.GetString(_files.Read("/proc/swaps")!));
        Assert.True(_files.Exists("/proc/swaps"));
    }

    [Fact]
    public void Registry_credentials_are_not_read_through_a_link()
    {
        var secret = LinkToSecret("/etc/nodefleet/registry.json");
        var e = Assert.Throws<InvalidOperationException>(() => RegistryCredentials.Load(_files, "/etc/nodefleet/registry.json"));
        Assert.Equal($"registry credentials file /etc/nodefleet/registry.json is a symbolic link (to {secret}); the agent reads no file through a link: name the file itself", e.Message);
        Assert.Contains("does not exist", Assert.Throws<InvalidOperationException>(() => RegistryCredentials.Load(_files, "/etc/nodefleet/none.json")).Message);
    }

    [Theory]
    [InlineData("../../etc/shadow")]
    [InlineData("../../../../../../etc/shadow")]
    [InlineData("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85")]
    [InlineData("")]
    public void A_backup_hash_that_is_not_64_lowercase_hex_digits_is_refused(string sha)
    {
        var e = Assert.Throws<HostPathException>(() => _backups.FullPath(sha));
        Assert.Contains("not 64 lowercase hex digits", e.Message);
        Assert.Throws<HostPathException>(() => _backups.Read(sha));
    }

    [Fact]
    public void Save_copies_a_regular_file_under_its_hash_and_read_gives_it_back()
    {
        WriteHostFile("/etc/docker/daemon.json", "{\"a\":1}");
        var sha = _backups.Save("/etc/docker/daemon.json");
        Assert.Equal(HostFiles.Sha256("{\"a\":1}"u8), sha);
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(_backups.Read(sha)));
        Assert.Equal(Secret, File.GetUnixFileMode(_backups.FullPath(sha)));
        Assert.Equal([sha], Directory.GetFiles(Full(BackupStore.Dir)).Select(Path.GetFileName));
    }

    [Fact]
    public void Save_never_copies_what_a_link_points_to()
    {
        LinkToSecret("/usr/local/bin/crictl");
        var e = Assert.Throws<HostPathException>(() => _backups.Save("/usr/local/bin/crictl"));
        Assert.Contains("/usr/local/bin/crictl is not a regular file", e.Message);
        Assert.False(Directory.Exists(Full(BackupStore.Dir)) && Directory.EnumerateFiles(Full(BackupStore.Dir)).Any());
    }

    [Fact]
    public void A_backup_that_is_a_link_or_does_not_hold_its_hash_is_refused()
    {
        var secret = LinkToSecret("/usr/local/bin/crictl");
        var sha = HostFiles.Sha256("the secret"u8);
        Directory.CreateDirectory(Full(BackupStore.Dir));
        File.CreateSymbolicLink(Full($"{BackupStore.Dir}/{sha}"), secret);
        Assert.Contains("is not a regular file", Assert.Throws<HostPathException>(() => _backups.Read(sha)).Message);

        var other = HostFiles.Sha256("other"u8);
        File.WriteAllText(Full($"{BackupStore.Dir}/{other}"), "tampered");
        Assert.Contains("does not hold the content its name says", Assert.Throws<HostPathException>(() => _backups.Read(other)).Message);

        Assert.Contains("is missing", Assert.Throws<HostPathException>(() => _backups.Read(HostFiles.Sha256("absent"u8))).Message);
    }

    [Fact]
    public void A_symlinked_backups_directory_is_refused()
    {
        WriteHostFile("/etc/docker/daemon.json", "{}");
        LinkDirectory(BackupStore.Dir, _outside);
        var e = Assert.Throws<HostPathException>(() => _backups.Save("/etc/docker/daemon.json"));
        Assert.Contains($"{BackupStore.Dir} is a symbolic link", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_outside));
    }
}
