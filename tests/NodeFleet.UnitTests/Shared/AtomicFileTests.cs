using NodeFleet.IO;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Shared;

public sealed class AtomicFileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Writes_the_content()
    {
        var path = _dir.File("a.txt");
        AtomicFile.WriteAllText(path, "héllo\n", AtomicFile.Public);
        Assert.Equal("héllo\n", File.ReadAllText(path));
        AtomicFile.WriteAllBytes(path, new byte[] { 0, 1, 2, 255 }, AtomicFile.Public);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, File.ReadAllBytes(path));
    }

    [Fact]
    public void Private_files_are_0600_and_public_ones_0644()
    {
        AtomicFile.WriteAllText(_dir.File("key.pem"), "secret", AtomicFile.Private);
        AtomicFile.WriteAllText(_dir.File("cert.pem"), "public", AtomicFile.Public);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_dir.File("key.pem")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            File.GetUnixFileMode(_dir.File("cert.pem")));
    }

    [Fact]
    public void Replaces_an_existing_file_and_its_mode()
    {
        var path = _dir.File("key.pem");
        File.WriteAllText(path, "an old and much longer content");
        File.SetUnixFileMode(path, AtomicFile.Public | UnixFileMode.OtherWrite);
        AtomicFile.WriteAllText(path, "new", AtomicFile.Private);
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(path));
    }

    [Fact]
    public void Leaves_no_temporary_files()
    {
        for (var i = 0; i < 5; i++) AtomicFile.WriteAllText(_dir.File("a.txt"), $"v{i}", AtomicFile.Private);
        Assert.Equal([_dir.File("a.txt")], Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Creates_missing_directories()
    {
        var path = Path.Combine(_dir.Path, "etc", "nodefleet", "pki", "ca.crt");
        AtomicFile.WriteAllText(path, "x", AtomicFile.Public);
        Assert.Equal("x", File.ReadAllText(path));
    }

    [Fact]
    public void Failed_write_leaves_the_target_alone_and_no_temporary_file()
    {
        // The target is a directory: the final rename fails.
        var target = _dir.File("target");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "inside"), "keep");
        Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllText(target, "x", AtomicFile.Private));
        Assert.Empty(Directory.GetFiles(_dir.Path));
        Assert.Equal("keep", File.ReadAllText(Path.Combine(target, "inside")));
    }
}
