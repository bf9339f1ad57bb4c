namespace HsmVault.Protocol.Deployment;

/// <summary>A deployment manifest or signature file that cannot be read: <see cref="Field"/> names the JSON path at fault.</summary>
public sealed class DeploymentFormatException : FormatException
{
    public DeploymentFormatException(string file, string field, string reason)
        : base($"{file}: {field}: {reason}")
    {
        Field = field;
        Reason = reason;
    }

    public DeploymentFormatException(string file, string field, string reason, Exception innerException)
        : base($"{file}: {field}: {reason}", innerException)
    {
        Field = field;
        Reason = reason;
    }

    /// <summary>The JSON path of the offending value (<c>$</c> for the whole file), for example <c>hsms[1].identity_public_key</c>.</summary>
    public string Field { get; }

    /// <summary>What was wrong with it.</summary>
    public string Reason { get; }
}
