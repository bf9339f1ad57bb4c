namespace HsmVault.Host.Store;

/// <summary>
/// The store's medium could not be read or written just now: a SQLite file that fails (disk full,
/// I/O error, locked) or a database server that cannot be reached or refuses the statement. The
/// message names the store (file, or host:port/database) and says what is wrong in plain words;
/// the pipeline treats it as "re-check and retry", whichever store threw it, so it never needs to
/// know the store's driver types.
/// </summary>
public sealed class StoreUnavailableException : Exception
{
    public StoreUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
