namespace HsmVault.Cli.Audit;

/// <summary>One check of an audit: its name (what a failure message leads with), whether it passed, and what was found.</summary>
/// <param name="Name">The check, for example <c>signature hsm-1</c> or <c>code hash</c>.</param>
/// <param name="Passed">Whether it passed.</param>
/// <param name="Detail">What was checked and found, in one line.</param>
public sealed record AuditCheck(string Name, bool Passed, string Detail)
{
    /// <summary>The line the audit prints: <c>ok      name: detail</c> or <c>FAILED  name: detail</c>.</summary>
    public override string ToString() => $"{(Passed ? "ok    " : "FAILED")}  {Name}: {Detail}";
}
