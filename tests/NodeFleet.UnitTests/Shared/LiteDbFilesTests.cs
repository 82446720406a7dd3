using NodeFleet.Coordinator.Store.LiteDb;
using LiteDB;
using NodeFleet.Coordinator.Store;
using NodeFleet.IO;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Shared;

/// <summary>A file that is not a LiteDB database is refused, named, and left as it was; damage found on opening is named.</summary>
public sealed class LiteDbFilesTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void An_absent_or_empty_file_is_a_new_database()
    {
        LiteDbFiles.CheckFormat(_dir.File("absent.db"), "a test database");
        File.WriteAllBytes(_dir.File("empty.db"), []);
        LiteDbFiles.CheckFormat(_dir.File("empty.db"), "a test database");
    }

    [Fact]
    public void A_real_database_passes()
    {
        var path = _dir.File("real.db");
        using (var db = new LiteDatabase(path)) db.GetCollection("c").Insert(new BsonDocument { ["x"] = 1 });
        LiteDbFiles.CheckFormat(path, "a test database");
    }

    [Theory]
    [InlineData(8)]        // shorter than LiteDB's first page: LiteDB itself would write a new database over it
    [InlineData(20_000)]   // a page's worth and more of something else
    public void Something_else_is_refused_with_its_name_and_left_unchanged(int length)
    {
        var path = _dir.File("other.db");
        var content = new byte[length];
        new Random(length).NextBytes(content);
        File.WriteAllBytes(path, content);

        var e = Assert.Throws<InvalidDataException>(() => LiteDbFiles.Open(path, "a test database", () => new LiteDatabase(path)));
        Assert.Contains(path, e.Message);
        Assert.Contains("a test database", e.Message);
        Assert.Contains("not a LiteDB database", e.Message);
        Assert.Equal(content, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_directory_in_its_place_is_named()
    {
        var path = _dir.File("dir.db");
        Directory.CreateDirectory(path);
        var e = Assert.Throws<InvalidDataException>(() => LiteDbFiles.CheckFormat(path, "a test database"));
        Assert.Contains($"{path} (a test database) is a directory", e.Message);
    }

    [Fact]
    public void Damage_found_while_opening_is_reported_as_damage_of_that_file()
    {
        var path = _dir.File("damaged.db");
        var e = Assert.Throws<InvalidDataException>(() => LiteDbFiles.Open<object>(path, "a test database",
            () => throw new LiteException(0, "page type must be collection page")));
        Assert.Equal($"{path} (a test database) is damaged: page type must be collection page", e.Message);
    }

    [Fact]
    public void The_coordinator_store_refuses_a_file_that_is_not_its_database()
    {
        var path = _dir.File("coordinator.db");
        File.WriteAllText(path, "not a db");
        var e = Assert.Throws<InvalidDataException>(() => new LiteDbStore(path));
        Assert.Contains("the coordinator's database", e.Message);
        Assert.Equal("not a db", File.ReadAllText(path));
    }
}
