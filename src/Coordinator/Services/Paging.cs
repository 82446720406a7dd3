using System.Text;
using Grpc.Core;

namespace NodeFleet.Coordinator.Services;

/// <summary>Page sizes and page tokens of the list calls: a token is the last key of the previous page, opaque to clients.</summary>
public static class Paging
{
    /// <summary>The page size asked for, <paramref name="fallback"/> when 0; refused when negative or above <paramref name="max"/>.</summary>
    public static int Size(int asked, int fallback, int max, string field)
    {
        if (asked < 0 || asked > max)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{field} {asked} must be between 1 and {max} (0: {fallback})"));
        return asked == 0 ? fallback : asked;
    }

    public static string EncodeToken(string key) => Convert.ToBase64String(Encoding.UTF8.GetBytes(key));

    /// <summary>The key a token carries ("" for no token); a token not made here is refused.</summary>
    public static string DecodeToken(string token)
    {
        if (token.Length == 0) return "";
        try { return Encoding.UTF8.GetString(Convert.FromBase64String(token)); }
        catch (FormatException)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                "page_token is not one this coordinator made (pass next_page_token of the previous answer unchanged)"));
        }
    }
}
