namespace HsmVault.Simulator;

/// <summary>The exit codes of <c>hsmvault-simulator serve</c>, <c>clone</c>, <c>fleet-init</c> and the <c>ceremony</c> steps, as --help, docs/HSM-VENDORS.md, docs/SIMULATOR.md and docs/DEPLOYMENT.md list them.</summary>
public static class SimulatorExitCode
{
    public const int Stopped = 0;

    /// <summary><c>clone</c> made the clone.</summary>
    public const int Cloned = 0;

    public const int HsmUnavailable = 1;
    public const int InvalidConfiguration = 2;

    /// <summary><c>fleet-init</c> and the <c>ceremony</c> steps: a token cannot do the ceremony (a key-transport mechanism is missing, or its security officer cannot log in); nothing was made.</summary>
    public const int CeremonyUnsupported = 3;

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

    /// <summary>The exit codes of <c>fleet-init</c> and the <c>ceremony</c> steps, printed in their descriptions.</summary>
    public const string CeremonyTable =
        "Exit codes: 0 done; 1 an HSM failed (device error, lost session); 2 invalid input (a bad option, a member folder or --out that is not new or empty, " +
        "a token that already holds keys, a manifest an HSM refuses to sign); 3 a token cannot do the ceremony (a key-transport mechanism is missing, or the " +
        "security officer cannot log in). fleet-init is all or nothing: on any failure the member folders and the evidence it made are removed.";
}
