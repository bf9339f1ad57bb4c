namespace HsmVault.Client;

/// <summary>
/// The exchange broke the protocol: a malformed or unexpected answer, a request the vault
/// rejected as malformed or too large (BAD_REQUEST, TOO_LARGE), or a recovered blob that fails
/// authentication. <paramref name="Detail"/> names the field and what was wrong.
/// </summary>
public sealed record ProtocolError(string Detail) : VaultOutcome
{
    public override string Describe() => $"protocol error: {Detail}";
}
