namespace HsmVault.Operator;

/// <summary>The witness refused the request (an epoch that does not increase, an authorization it does not accept, a missing entry); <see cref="Status"/> is its HTTP status.</summary>
public sealed class WitnessRefusedException(int status, string reason) : Exception($"the witness refused ({status}): {reason}")
{
    public int Status { get; } = status;
}
