using System.Text;
using Grpc.Core;
using NodeFleet.Coordinator.Tokens;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

public sealed class TokenServiceTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _rig.DisposeAsync().AsTask();

    private TokenService Tokens => _rig.Tokens;

    [Fact]
    public async Task Default_ttl_is_24_hours()
    {
        var (token, record) = await Tokens.CreateAsync(null, null, 0, "d");
        Assert.Equal(TimeSpan.FromHours(24), TokenService.DefaultTtl);
        Assert.Equal(_rig.Time.Now.UtcDateTime + TimeSpan.FromHours(24), record.ExpiresAt);
        Assert.Equal(token.Id, record.Id);
        var stored = Assert.Single(Tokens.List());
        Assert.Equal(record.ExpiresAt, stored.ExpiresAt);
        Assert.Equal("d", stored.Description);
    }

    [Fact]
    public async Task The_times_answered_at_creation_are_those_listed_later()
    {
        _rig.Time.Advance(TimeSpan.FromTicks(1234)); // a time finer than the store keeps
        var (_, record) = await Tokens.CreateAsync(null, TimeSpan.FromHours(1), 0, "");
        var stored = Assert.Single(Tokens.List());
        Assert.Equal(record.CreatedAt, stored.CreatedAt);
        Assert.Equal(record.ExpiresAt, stored.ExpiresAt);
    }

    [Fact]
    public async Task Ttl_zero_never_expires()
    {
        var (token, record) = await Tokens.CreateAsync(null, TimeSpan.Zero, 0, "");
        Assert.Null(record.ExpiresAt);
        Assert.Null(Assert.Single(Tokens.List()).ExpiresAt);
        _rig.Time.Advance(TimeSpan.FromDays(10000));
        Assert.Equal(token.Id, Tokens.RequireUsable(token.Id).Id);
    }

    [Fact]
    public async Task Given_token_is_stored_by_hash_only()
    {
        const string given = "q7w8e9.r1t2y3u4i5o6p7a8";
        var (token, record) = await Tokens.CreateAsync(given, null, 3, "given");
        Assert.Equal(given, token.ToString());
        Assert.Equal(token.SecretHash(), record.SecretHash);
        Assert.Equal(token.DiscoveryKey(), record.DiscoveryKey);
        await _rig.Store.DisposeAsync();

        var files = Directory.GetFiles(_rig.Directory, "*", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        var foundId = false;
        foreach (var f in files)
        {
            var bytes = File.ReadAllBytes(f);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes("r1t2y3u4i5o6p7a8")));
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes("r1t2y3u4i5o6p7a8")));
            foundId |= bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes("q7w8e9")) >= 0;
        }
        Assert.True(foundId, "the token id should be in the database (the search would find the secret too)");
    }

    [Fact]
    public async Task Generated_tokens_are_well_formed()
    {
        var (token, _) = await Tokens.CreateAsync(null, null, 0, "");
        Assert.True(BootstrapToken.TryParse(token.ToString(), out _));
    }

    [Fact]
    public async Task Duplicate_id_is_refused()
    {
        await Tokens.CreateAsync("abcdef.0123456789abcdef", null, 0, "first");
        var e = await Edge.ThrowsAsync(() => Tokens.CreateAsync("abcdef.zzzzzzzzzzzzzzzz", null, 0, "second"));
        Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);
        Assert.Contains("abcdef", e.Status.Detail);
        Assert.Equal("first", Assert.Single(Tokens.List()).Description);
    }

    [Theory]
    [InlineData("not-a-token", 0, 1, "[a-z0-9]{6}.[a-z0-9]{16}")]
    [InlineData(null, -1, 1, "usages")]
    [InlineData(null, 0, -1, "ttl")]
    public async Task Bad_arguments_are_invalid(string? given, int usages, int ttlHours, string mentioned)
    {
        var e = await Edge.ThrowsAsync(() =>
            Tokens.CreateAsync(given, TimeSpan.FromHours(ttlHours), usages, ""));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(mentioned, e.Status.Detail);
        Assert.Empty(Tokens.List());
    }

    [Fact]
    public void Unknown_token_is_not_usable()
    {
        var e = Edge.Throws(() => Tokens.RequireUsable("zzzzzz"));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("not known", e.Status.Detail);
    }

    [Fact]
    public async Task Token_is_usable_until_it_expires()
    {
        var (token, _) = await Tokens.CreateAsync(null, TimeSpan.FromHours(1), 0, "");
        _rig.Time.Advance(TimeSpan.FromMinutes(59));
        Tokens.RequireUsable(token.Id);
        _rig.Time.Advance(TimeSpan.FromMinutes(1));
        var e = Edge.Throws(() => Tokens.RequireUsable(token.Id));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("expired", e.Status.Detail);
    }

    [Fact]
    public async Task Used_up_token_has_no_uses_left()
    {
        var (token, _) = await Tokens.CreateAsync(null, null, 2, "");
        await _rig.Store.WriteAsync(s =>
        {
            var r = s.Tokens.Get(token.Id)!;
            r.UsagesUsed = 1;
            s.Tokens.Update(r);
        });
        Tokens.RequireUsable(token.Id);
        await _rig.Store.WriteAsync(s =>
        {
            var r = s.Tokens.Get(token.Id)!;
            r.UsagesUsed = 2;
            s.Tokens.Update(r);
        });
        var e = Edge.Throws(() => Tokens.RequireUsable(token.Id));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("no uses left", e.Status.Detail);
    }

    [Fact]
    public async Task Delete_removes_a_token_and_refuses_unknown_or_malformed_ids()
    {
        var (token, _) = await Tokens.CreateAsync(null, null, 0, "");
        await Tokens.DeleteAsync(token.Id);
        Assert.Empty(Tokens.List());
        Assert.Contains("not known", Edge.Throws(() => Tokens.RequireUsable(token.Id)).Status.Detail);

        var notFound = await Edge.ThrowsAsync(() => Tokens.DeleteAsync(token.Id));
        Assert.Equal(StatusCode.NotFound, notFound.StatusCode);
        var invalid = await Edge.ThrowsAsync(() => Tokens.DeleteAsync("ABC"));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
    }

    [Fact]
    public async Task Purge_removes_only_tokens_expired_more_than_a_day_ago()
    {
        var (shortLived, _) = await Tokens.CreateAsync(null, TimeSpan.FromHours(1), 0, "short");
        var (daily, _) = await Tokens.CreateAsync(null, TimeSpan.FromHours(24), 0, "daily");
        var (forever, _) = await Tokens.CreateAsync(null, TimeSpan.Zero, 0, "forever");
        var (fresh, _) = await Tokens.CreateAsync(null, TimeSpan.FromDays(7), 0, "fresh");

        _rig.Time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromDays(1) - TimeSpan.FromMinutes(1));
        Assert.Equal(0, await Tokens.PurgeExpiredAsync());

        _rig.Time.Advance(TimeSpan.FromMinutes(2)); // "short" expired a day and a minute ago; "daily" 1h1m ago
        Assert.Equal(1, await Tokens.PurgeExpiredAsync());
        Assert.Equal(new[] { daily.Id, forever.Id, fresh.Id }.Order(), Tokens.List().Select(t => t.Id).Order());
        Assert.DoesNotContain(shortLived.Id, Tokens.List().Select(t => t.Id));
    }

    [Fact]
    public async Task List_is_ordered_by_creation()
    {
        var (a, _) = await Tokens.CreateAsync(null, null, 0, "");
        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        var (b, _) = await Tokens.CreateAsync(null, null, 0, "");
        _rig.Time.Advance(TimeSpan.FromSeconds(1));
        var (c, _) = await Tokens.CreateAsync(null, null, 0, "");
        Assert.Equal([a.Id, b.Id, c.Id], Tokens.List().Select(t => t.Id));
    }
}
