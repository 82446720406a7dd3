using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>
/// Lets OpenSSL free a TLS connection's record buffers while the connection is idle (SSL_MODE_RELEASE_BUFFERS, as
/// nginx and others run with). An agent's stream is idle between heartbeats nearly all the time, and OpenSSL otherwise
/// keeps about 34 KB of read and write buffers for each of them for as long as it is open — a third of what a
/// connected agent costs the coordinator. .NET does not expose the setting, so the SSL handle is read from the
/// SslStream's private field; when that is not possible (another .NET version, another TLS library) the connection
/// simply keeps its buffers, and <see cref="Unavailable"/> says why, once.
/// </summary>
public static partial class TlsIdleBuffers
{
    private const int SslCtrlMode = 33;              // SSL_CTRL_MODE
    private const nint SslModeReleaseBuffers = 0x10; // SSL_MODE_RELEASE_BUFFERS

    private static readonly FieldInfo? ContextField =
        typeof(SslStream).GetField("_securityContext", BindingFlags.NonPublic | BindingFlags.Instance);

    private static int _applied;
    private static string? _unavailable;

    /// <summary>Connections set up so far.</summary>
    public static int Applied => Volatile.Read(ref _applied);

    /// <summary>Why the buffers could not be released (null while nothing failed).</summary>
    public static string? Unavailable => Volatile.Read(ref _unavailable);

    [DllImport("libssl.so.3", EntryPoint = "SSL_ctrl")]
    private static extern nint SslCtrl(nint ssl, int cmd, nint larg, nint parg);

    /// <summary>The connection middleware, placed right after UseHttps (the handshake is done, nothing reads yet).</summary>
    public static ConnectionDelegate Middleware(ConnectionDelegate next) => context =>
    {
        if (Unavailable is null && context.Features.Get<ISslStreamFeature>()?.SslStream is { } ssl) TryApply(ssl);
        return next(context);
    };

    /// <summary>Sets the mode on the stream's SSL object; false (and <see cref="Unavailable"/> set) when it cannot.</summary>
    public static bool TryApply(SslStream stream)
    {
        if (ContextField?.GetValue(stream) is not SafeHandle handle || handle.IsInvalid)
            return Fail("this .NET's SslStream does not expose an OpenSSL handle");
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            SslCtrl(handle.DangerousGetHandle(), SslCtrlMode, SslModeReleaseBuffers, 0);
            Interlocked.Increment(ref _applied);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or ObjectDisposedException)
        {
            return Fail(e.Message);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    private static bool Fail(string why)
    {
        if (Interlocked.CompareExchange(ref _unavailable, why, null) is null)
            Serilog.Log.Warning("TLS connections keep their OpenSSL buffers while idle ({Reason}): each connected agent costs about 34 KB more", why);
        return false;
    }
}
