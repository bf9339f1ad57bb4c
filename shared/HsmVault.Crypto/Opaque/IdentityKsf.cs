namespace HsmVault.Crypto.Opaque;

/// <summary>The identity KSF: returns its input. Only for test vectors and benchmarks.</summary>
public sealed class IdentityKsf : IKeyStretchingFunction
{
    /// <summary>The shared instance; it has no state.</summary>
    public static IdentityKsf Instance { get; } = new();

    /// <inheritdoc />
    public string Name => "identity";

    /// <inheritdoc />
    public byte[] Stretch(ReadOnlySpan<byte> input) => input.ToArray();
}
