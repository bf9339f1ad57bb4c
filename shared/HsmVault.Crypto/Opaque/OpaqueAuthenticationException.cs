namespace HsmVault.Crypto.Opaque;

/// <summary>
/// A MAC check failed: wrong password, or a tampered KE2, KE3 or envelope. The message never
/// carries secret material, and the two causes cannot be told apart on purpose.
/// </summary>
public class OpaqueAuthenticationException : Exception
{
    public OpaqueAuthenticationException(string message)
        : base(message)
    {
    }
}
