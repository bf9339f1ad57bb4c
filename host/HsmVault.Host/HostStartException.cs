namespace HsmVault.Host;

/// <summary>
/// The host cannot start for a reason outside its configuration's syntax (a port already in use, an
/// unreadable certificate); the message is one plain sentence naming the input, for the operator.
/// The process exits with code 1.
/// </summary>
public sealed class HostStartException : Exception
{
    public HostStartException(string message)
        : base(message)
    {
    }

    public HostStartException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
