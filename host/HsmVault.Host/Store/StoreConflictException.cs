namespace HsmVault.Host.Store;

/// <summary>A commit's log entry does not follow the store's last entry; nothing was written.</summary>
public sealed class StoreConflictException : Exception
{
    public StoreConflictException(string message)
        : base(message)
    {
    }
}
