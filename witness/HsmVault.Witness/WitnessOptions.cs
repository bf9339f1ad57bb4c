using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Witness;

/// <summary>How one witness process runs.</summary>
/// <param name="StateDirectory">Holds witness.key (0600), witness.vkey, cosigner.key when cosigning, and witness.db.</param>
/// <param name="Name">The witness's key name (a schema-less URL); each log's origin is <c>Name/namespace</c>.</param>
/// <param name="OperatorKey">The operator's P-256 key: appends must be signed by it and counter-signatures verify under it (bound to the store at first start; null reuses the bound one).</param>
internal sealed record WitnessOptions(string StateDirectory, string Name, OperatorKey? OperatorKey)
{
    public const string DefaultName = "witness.hsmvault.local";

    public const int DefaultPort = 7380;

    /// <summary>Loopback port to listen on; 0 picks a free one (printed at start).</summary>
    public int Port { get; init; } = DefaultPort;

    /// <summary>Further witnesses asked to cosign each new checkpoint.</summary>
    public IReadOnlyList<CosignerEndpoint> Cosigners { get; init; } = [];

    /// <summary>Logs this witness cosigns (c2sp.org/tlog-witness), by origin.</summary>
    public IReadOnlyDictionary<string, NoteVerifierKey> CosignedLogs { get; init; } = new Dictionary<string, NoteVerifierKey>();

    /// <summary>How long one cosigner may take to answer.</summary>
    public TimeSpan CosignerTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public TimeProvider Clock { get; init; } = TimeProvider.System;

    public string KeyPath => Path.Combine(StateDirectory, "witness.key");

    public string CosignerKeyPath => Path.Combine(StateDirectory, "cosigner.key");

    public string DatabasePath => Path.Combine(StateDirectory, "witness.db");
}
