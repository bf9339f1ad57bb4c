namespace HsmVault.Host.Configuration;

/// <summary>Where the host keeps sealed records, Merkle nodes and the log: configuration section <c>Store</c>.</summary>
public sealed class StoreOptions
{
    public const string Section = "Store";

    /// <summary>The SQLite database file; created on first start.</summary>
    public string Path { get; set; } = "hsmvault-host.db";

    /// <summary>The problems with these settings, each naming the option; empty when valid.</summary>
    public IReadOnlyList<string> Problems() =>
        string.IsNullOrWhiteSpace(Path) ? ["Store:Path: missing; give the SQLite database file"] : [];
}
