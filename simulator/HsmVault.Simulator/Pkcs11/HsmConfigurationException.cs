namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// The PKCS#11 token cannot be used as configured: the library or token is missing, the PIN is
/// unavailable or rejected, or the keys on the token are absent, duplicated or not protected as
/// required. The message names the setting or object at fault and never carries a secret.
/// </summary>
public sealed class HsmConfigurationException : Exception
{
    public HsmConfigurationException(string message)
        : base(message)
    {
    }

    public HsmConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
