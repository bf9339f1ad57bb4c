namespace HsmVault.Crypto;

/// <summary>
/// Malformed cryptographic input: a wrong length, a point off the curve or at infinity, a scalar
/// out of range. <see cref="ArgumentException.ParamName"/> names the offending field.
/// </summary>
public class CryptoFormatException : ArgumentException
{
    public CryptoFormatException(string field, string reason)
        : base($"{field}: {reason}", field)
    {
        Reason = reason;
    }

    public CryptoFormatException(string field, string reason, Exception innerException)
        : base($"{field}: {reason}", field, innerException)
    {
        Reason = reason;
    }

    /// <summary>What was wrong with the field, without the field name.</summary>
    public string Reason { get; }
}
