using NodeFleet.Net;

namespace NodeFleet.Tests.Shared;

/// <summary>The coordinator address lists of `join`, agent.yaml and coordinator.yaml.</summary>
public class CoordinatorAddressListTests
{
    [Fact]
    public void A_list_is_split_on_commas_trimmed_given_default_ports_and_kept_in_order_without_duplicates()
    {
        Assert.Equal(["coord-a.example:7443", "10.0.0.2:9000", "[::1]:7443", "coord-b.example:7443"],
            CoordinatorAddressList.Parse(" coord-a.example , 10.0.0.2:9000,[::1],coord-b.example:7443, COORD-A.example:7443"));
        Assert.Equal(["coord.example:7443"], CoordinatorAddressList.Parse("coord.example"));
        Assert.Empty(CoordinatorAddressList.Parse(""));
        Assert.Empty(CoordinatorAddressList.Parse("   "));
    }

    [Theory]
    [InlineData("a.example,,b.example", "entry 2 is empty")]
    [InlineData("a.example,", "entry 2 is empty")]
    [InlineData("a.example,b.example:99999", "entry 2: coordinator address 'b.example:99999': port '99999' is not a number from 1 to 65535")]
    [InlineData("a.example:x", "port 'x' is not a number")]
    public void A_bad_entry_is_named_with_its_place(string text, string error)
    {
        var e = Assert.Throws<FormatException>(() => CoordinatorAddressList.Parse(text));
        Assert.Contains(error, e.Message);
    }

    [Fact]
    public void An_agent_tries_the_fleets_list_first_then_the_join_addresses_it_lacks()
    {
        Assert.Equal(["b:7443", "c:7443", "a:7443"], CoordinatorAddressList.Candidates(["b:7443", "c:7443"], ["a:7443", "b:7443"]));
        Assert.Equal(["a:7443"], CoordinatorAddressList.Candidates([], ["a:7443"]));
        Assert.Equal("a:7443,b:7443", CoordinatorAddressList.Format(["a:7443", "b:7443"]));
    }
}
