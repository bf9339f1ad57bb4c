namespace HsmVault.Host.Store;

/// <summary>
/// The store file cannot be opened or is not a HsmVault host store (damaged, some other file, no
/// permission). The message names the file and says what is wrong in plain words, without SQLite
/// error codes.
/// </summary>
public sealed class StoreUnreadableException : Exception
{
    public StoreUnreadableException(string path, string problem, Exception? innerException = null)
        : base($"the store {path} {problem}", innerException)
    {
        Path = path;
    }

    /// <summary>The store file.</summary>
    public string Path { get; }
}
