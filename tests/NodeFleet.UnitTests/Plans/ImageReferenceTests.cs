using NodeFleet.Plans;

namespace NodeFleet.Tests.Plans;

public class ImageReferenceTests
{
    private const string Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    // text → registry, repository, tag, digest, normalised, familiar
    public static TheoryData<string, string, string, string?, string?, string, string> Valid => new()
    {
        { "nginx", "docker.io", "library/nginx", "latest", null, "docker.io/library/nginx:latest", "nginx:latest" },
        { "library/nginx:1.25", "docker.io", "library/nginx", "1.25", null, "docker.io/library/nginx:1.25", "nginx:1.25" },
        { "docker.io/nginx", "docker.io", "library/nginx", "latest", null, "docker.io/library/nginx:latest", "nginx:latest" },
        { "index.docker.io/library/nginx:1.25-alpine", "docker.io", "library/nginx", "1.25-alpine", null, "docker.io/library/nginx:1.25-alpine", "nginx:1.25-alpine" },
        { "bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", null, "docker.io/bitnami/redis:7.2", "bitnami/redis:7.2" },
        { "registry.k8s.io/pause:3.10", "registry.k8s.io", "pause", "3.10", null, "registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10" },
        { "registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io", "coredns/coredns", "v1.11.3", null, "registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io/coredns/coredns:v1.11.3" },
        { "localhost:5000/a/b:c", "localhost:5000", "a/b", "c", null, "localhost:5000/a/b:c", "localhost:5000/a/b:c" },
        { "localhost/app", "localhost", "app", "latest", null, "localhost/app:latest", "localhost/app:latest" },
        { "mirror.example:5000/k8s/kube-apiserver:v1.31.2", "mirror.example:5000", "k8s/kube-apiserver", "v1.31.2", null, "mirror.example:5000/k8s/kube-apiserver:v1.31.2", "mirror.example:5000/k8s/kube-apiserver:v1.31.2" },
        { $"quay.io/x/y@sha256:{Hex}", "quay.io", "x/y", null, $"sha256:{Hex}", $"quay.io/x/y@sha256:{Hex}", $"quay.io/x/y@sha256:{Hex}" },
        { $"ghcr.io/a/b:v1@sha256:{Hex}", "ghcr.io", "a/b", "v1", $"sha256:{Hex}", $"ghcr.io/a/b:v1@sha256:{Hex}", $"ghcr.io/a/b:v1@sha256:{Hex}" },
        { $"nginx@sha256:{Hex}", "docker.io", "library/nginx", null, $"sha256:{Hex}", $"docker.io/library/nginx@sha256:{Hex}", $"nginx@sha256:{Hex}" },
        { "10.0.0.5:5000/team/app_v2.x__y-z:RC_1", "10.0.0.5:5000", "team/app_v2.x__y-z", "RC_1", null, "10.0.0.5:5000/team/app_v2.x__y-z:RC_1", "10.0.0.5:5000/team/app_v2.x__y-z:RC_1" },
        { "[::1]:5000/app:1", "[::1]:5000", "app", "1", null, "[::1]:5000/app:1", "[::1]:5000/app:1" },
        { "gcr.io/google-containers/a---b:1", "gcr.io", "google-containers/a---b", "1", null, "gcr.io/google-containers/a---b:1", "gcr.io/google-containers/a---b:1" },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parses_and_normalises(string text, string registry, string repository, string? tag, string? digest,
        string normalised, string familiar)
    {
        var r = ImageReference.Parse(text);
        Assert.Equal(registry, r.Registry);
        Assert.Equal(repository, r.Repository);
        Assert.Equal(tag, r.Tag);
        Assert.Equal(digest, r.Digest);
        Assert.Equal(normalised, r.ToString());
        Assert.Equal(familiar, r.ToFamiliarString());
        Assert.Equal(r, ImageReference.Parse(normalised));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Nginx", "must be lowercase")]
    [InlineData("docker.io/Library/nginx", "must be lowercase")]
    [InlineData("Quay.io/x/y", "must be lowercase")]
    [InlineData("nginx:", "tag ''")]
    [InlineData("nginx:-bad", "tag '-bad'")]
    [InlineData("nginx:a/b", "port")]
    [InlineData("nginx latest", "space")]
    [InlineData("nginx\n", "control")]
    [InlineData("registry.k8s.io/", "no repository")]
    [InlineData("registry.k8s.io//pause", "path component ''")]
    [InlineData("a/-b", "path component '-b'")]
    [InlineData("a/b_", "path component 'b_'")]
    [InlineData("a/b...c", "path component 'b...c'")]
    [InlineData("quay.io/x/y@sha256:abc", "64 lowercase hex")]
    [InlineData("quay.io/x/y@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "lowercase hex")]
    [InlineData("quay.io/x/y@md5:0123456789abcdef0123456789abcdef", "sha256:<64 hex digits>")]
    [InlineData("host:99999/app", "port")]
    [InlineData("host:0/app", "port")]
    [InlineData("-host.example/app", "not a registry host")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "image id")]
    [InlineData(":tag", "no name")]
    public void Refuses(string text, string why)
    {
        Assert.False(ImageReference.TryParse(text, out _, out var error));
        Assert.Contains(why, error);
        Assert.Throws<FormatException>(() => ImageReference.Parse(text));
    }

    [Fact]
    public void Refuses_names_longer_than_255_characters()
    {
        var name = "registry.example/" + new string('a', 238);
        Assert.Null(ImageReference.Error(name));
        Assert.Contains("longer than 255", ImageReference.Error(name + "a"));
    }

    [Fact]
    public void Localhost_with_a_port_and_no_slash_is_an_image_with_a_tag_as_in_docker() =>
        Assert.Equal("docker.io/library/localhost:5000", ImageReference.Parse("localhost:5000").ToString());

    [Fact]
    public void Equal_references_are_equal_whatever_their_spelling()
    {
        Assert.Equal(ImageReference.Parse("nginx"), ImageReference.Parse("docker.io/library/nginx:latest"));
        Assert.NotEqual(ImageReference.Parse("nginx"), ImageReference.Parse("nginx:1.25"));
    }

    [Theory]
    [InlineData("registry.k8s.io", null)]
    [InlineData("mirror.example:5000", null)]
    [InlineData("localhost", null)]
    [InlineData("10.0.0.5:5000", null)]
    [InlineData("[fd00::1]:5000", null)]
    [InlineData("Registry.k8s.io", "lowercase")]
    [InlineData("mirror.example:", "port")]
    [InlineData("https://mirror.example", "port")]
    [InlineData("mirror.example/k8s", "not a registry host")]
    [InlineData("", "empty")]
    public void Registry_hosts(string host, string? why)
    {
        var error = ImageReference.RegistryHostError(host);
        if (why is null) Assert.Null(error);
        else Assert.Contains(why, error);
    }

    [Theory]
    [InlineData("registry.k8s.io", null)]
    [InlineData("mirror.example:5000/k8s", null)]
    [InlineData("myorg", null)]
    [InlineData("mirror.example/k8s:v1", "not an image repository")]
    [InlineData("mirror.example/k8s@sha256:x", "not an image repository")]
    [InlineData("mirror.example/k8s/", "not an image repository")]
    [InlineData("Mirror.example/k8s", "lowercase")]
    public void Repository_prefixes(string prefix, string? why)
    {
        var error = ImageReference.RepositoryPrefixError(prefix);
        if (why is null) Assert.Null(error);
        else Assert.Contains(why, error);
    }

    [Fact]
    public void WithName_moves_an_image_keeping_tag_and_digest()
    {
        var image = ImageReference.Parse($"registry.k8s.io/pause:3.10@sha256:{Hex}");
        Assert.Equal($"mirror.example:5000/k8s/pause:3.10@sha256:{Hex}", image.WithName("mirror.example:5000/k8s", "pause").ToString());
    }
}
