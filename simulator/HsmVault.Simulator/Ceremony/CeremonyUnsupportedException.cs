namespace HsmVault.Simulator.Ceremony;

/// <summary>
/// The token cannot take part in a deployment ceremony as it is configured: it lacks a mechanism the
/// key transport needs, or its security officer cannot log in to mark the transport keys trusted.
/// Nothing was created. A local test fleet falls back to the TEST-ONLY clone on this, and only on this.
/// </summary>
public sealed class CeremonyUnsupportedException : Exception
{
    public CeremonyUnsupportedException(string message)
        : base(message)
    {
    }

    public CeremonyUnsupportedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
