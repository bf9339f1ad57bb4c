namespace HsmVault.Simulator;

/// <summary>The exit codes of <c>hsmvault-simulator serve</c> and <c>clone</c>, as --help, docs/HSM-VENDORS.md and docs/SIMULATOR.md list them.</summary>
public static class SimulatorExitCode
{
    public const int Stopped = 0;

    /// <summary><c>clone</c> made the clone.</summary>
    public const int Cloned = 0;

    public const int HsmUnavailable = 1;
    public const int InvalidConfiguration = 2;

    /// <summary>The table printed after --help.</summary>
    public const string Table =
        "Exit codes:\n" +
        "  0  stopped cleanly (SIGINT/SIGTERM)\n" +
        "  1  the HSM failed at start-up (device error, lost session that could not be reopened): retrying may help\n" +
        "  2  invalid configuration: a bad option, no such token label (the present labels are listed), a refused PIN,\n" +
        "     missing or unprotected keys, or a token without a mechanism the vault needs (all are listed; nothing is created)";

    /// <summary>The table printed after <c>clone --help</c>.</summary>
    public const string CloneTable =
        "Exit codes:\n" +
        "  0  the clone was made\n" +
        "  1  the HSM failed during the clone (nothing is left at --to)\n" +
        "  2  invalid input: --from is not a provisioned state directory (or holds more than one key set), --to is not\n" +
        "     empty, or a bad option (nothing is left at --to)";
}
