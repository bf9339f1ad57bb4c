namespace HsmVault.Protocol.Fleet;

/// <summary>A fleet-key set that cannot be read: <see cref="Field"/> names the JSON path at fault.</summary>
public sealed class FleetKeySetFormatException : FormatException
{
    public FleetKeySetFormatException(string field, string reason)
        : base($"fleet keys: {field}: {reason}")
    {
        Field = field;
        Reason = reason;
    }

    public FleetKeySetFormatException(string field, string reason, Exception innerException)
        : base($"fleet keys: {field}: {reason}", innerException)
    {
        Field = field;
        Reason = reason;
    }

    /// <summary>The JSON path of the offending value, for example <c>keys[0].public_key</c>.</summary>
    public string Field { get; }

    /// <summary>What was wrong with it.</summary>
    public string Reason { get; }
}
