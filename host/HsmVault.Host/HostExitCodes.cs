using System.Security.Cryptography;
using HsmVault.Host.Store;
using Microsoft.Data.Sqlite;

namespace HsmVault.Host;

/// <summary>The process exit codes (docs/HOST.md and <c>--help</c> list them), and the start-up failures that map to them.</summary>
public static class HostExitCodes
{
    /// <summary>A clean shutdown (or <c>--help</c>).</summary>
    public const int Success = 0;

    /// <summary>The host could not start: store unreadable, a port in use, a bad certificate.</summary>
    public const int StartupFailure = 1;

    /// <summary>The configuration is invalid: a missing or malformed file, an unknown key, a bad value. Restarting will not help.</summary>
    public const int InvalidConfiguration = 2;

    /// <summary>
    /// The one-line message for an exception that stopped the host from starting, or null for one
    /// that is a bug (reported with its stack trace).
    /// </summary>
    public static string? StartFailure(Exception exception) => exception switch
    {
        AggregateException { InnerExceptions.Count: > 0 } all => string.Join("; ", all.InnerExceptions.Select(e => StartFailure(e) ?? e.Message)),
        HostStartException or StoreUnreadableException or StoreUnavailableException => exception.Message,
        SqliteException sqlite => "the store " + SqliteProblems.Describe(sqlite),
        IOException or UnauthorizedAccessException or CryptographicException or InvalidDataException => exception.Message,
        _ => null,
    };
}
