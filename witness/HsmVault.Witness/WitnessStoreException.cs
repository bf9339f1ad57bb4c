namespace HsmVault.Witness;

/// <summary>The witness's store cannot be opened, or holds what an honest witness never wrote; the message names the file.</summary>
public sealed class WitnessStoreException : Exception
{
    public WitnessStoreException(string path, string reason)
        : base($"witness store '{path}': {reason}")
    {
    }

    public WitnessStoreException(string path, string reason, Exception innerException)
        : base($"witness store '{path}': {reason}", innerException)
    {
    }
}
