namespace HsmVault.Transparency;

/// <summary>A witness entry, bundle or other JSON document that cannot be read: <see cref="Field"/> names the JSON path at fault.</summary>
public sealed class TransparencyFormatException : FormatException
{
    public TransparencyFormatException(string field, string reason)
        : base($"{field}: {reason}")
    {
        Field = field;
        Reason = reason;
    }

    public TransparencyFormatException(string field, string reason, Exception innerException)
        : base($"{field}: {reason}", innerException)
    {
        Field = field;
        Reason = reason;
    }

    public string Field { get; }

    public string Reason { get; }
}
