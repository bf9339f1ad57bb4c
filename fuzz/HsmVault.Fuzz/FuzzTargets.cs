using HsmVault.Fuzz.Targets;

namespace HsmVault.Fuzz;

/// <summary>Every fuzz target, by name.</summary>
public static class FuzzTargets
{
    /// <summary>A fresh instance of each target, in a stable order.</summary>
    public static IReadOnlyList<FuzzTarget> Create() =>
    [
        new FrameTarget(),
        new HostRequestTarget(),
        new EnclaveTarget(),
        new VaultRequestTarget(),
        new SealedStateTarget(),
        new ChannelTarget(),
        new OpaqueTarget(),
        new MerkleTarget(),
        new FleetTarget(),
        new FleetKeysTarget(),
        new BundleTarget(),
        new ClientResponseTarget(),
        new WitnessTarget(),
    ];

    public static IReadOnlyList<string> Names { get; } = [.. Create().Select(t => t.Name)];

    /// <summary>The target called <paramref name="name"/>, or null.</summary>
    public static FuzzTarget? Find(string name) => Create().FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.Ordinal));
}
