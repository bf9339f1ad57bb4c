using HsmVault.Client;

namespace HsmVault.Cli;

/// <summary>The process exit codes of <c>hsmvault</c>, one per kind of outcome a script acts on.</summary>
public static class CliExitCode
{
    public const int Success = 0;
    public const int UsageOrInput = 1;
    public const int Unavailable = 2;
    public const int WrongPassword = 3;
    public const int NoRecord = 4;
    public const int FleetNotAuthenticated = 5;
    public const int Conflict = 6;
    public const int RateLimited = 7;
    public const int ProtocolError = 8;
    public const int Unexpected = 9;
    public const int AuditFailed = 10;

    /// <summary>The table printed in --help and docs/CLIENT.md.</summary>
    public const string Table =
        "Exit codes:\n" +
        "  0  success\n" +
        "  1  usage or input error (a missing, conflicting or invalid option, an unreadable key or passkey file, a password over 1024 bytes)\n" +
        "  2  vault unavailable (connection refused, timeout, TLS failure, vault busy or down): retry later\n" +
        "  3  wrong password (the message says how many attempts are left; with 1 left the next wrong one destroys the record)\n" +
        "  4  no live record: the user is unknown, was deleted, or was destroyed after too many wrong passwords (after a guess, the message says whether that guess destroyed it)\n" +
        "  5  fleet not authenticated: an answer did not come from the pinned fleet (forged, altered, or another fleet), or the host's validation bundle was refused (the line names the epoch and the check); nothing more was sent\n" +
        "  6  the record changed during the operation: run the command again\n" +
        "  7  temporarily locked by the host (rate limit): wait and retry\n" +
        "  8  protocol error (malformed or altered answer, or the endpoint does not speak the vault's protocol, e.g. an HTTP port)\n" +
        "  9  unexpected error inside hsmvault (a bug): one line names it\n" +
        "  10 audit failed: a check of the log (each failure names the epoch and the check) or of a deployment's evidence (the line names the check) failed\n" +
        "  130 cancelled (Ctrl+C)";

    /// <summary>The exit code for an operation's outcome.</summary>
    public static int For(VaultOutcome outcome) => outcome switch
    {
        KeyRecovered or UserRegistered or UserDeleted or StatusReported => Success,
        Client.Unavailable => Unavailable,
        Client.WrongPassword => WrongPassword,
        Client.NoRecord => NoRecord,
        Client.FleetNotAuthenticated or Client.FleetBundleRefused => FleetNotAuthenticated,
        Client.Conflict => Conflict,
        Client.RateLimited => RateLimited,
        _ => ProtocolError,
    };
}
