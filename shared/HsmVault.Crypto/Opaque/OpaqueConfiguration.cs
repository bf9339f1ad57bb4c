namespace HsmVault.Crypto.Opaque;

/// <summary>
/// The parameters both sides must agree on: the application context string bound into the
/// preamble, and the key-stretching function applied to the OPRF output.
/// </summary>
public sealed record OpaqueConfiguration(byte[] Context, IKeyStretchingFunction Ksf)
{
    /// <summary>The configuration RFC 9807 §7 recommends for memory-constrained clients: Argon2id, second recommended option (t=3, p=4, m=64 MiB).</summary>
    public static OpaqueConfiguration Recommended(ReadOnlySpan<byte> context) =>
        new(context.ToArray(), Argon2idKsf.SecondRecommended);

    /// <summary>A configuration with the identity KSF; for test vectors and benchmarks only.</summary>
    public static OpaqueConfiguration ForTesting(ReadOnlySpan<byte> context) =>
        new(context.ToArray(), IdentityKsf.Instance);

    internal void Validate()
    {
        if (Context is null)
        {
            throw new CryptoFormatException("configuration.Context", "must not be null");
        }

        if (Context.Length > ushort.MaxValue)
        {
            throw new CryptoFormatException("configuration.Context", $"must be at most {ushort.MaxValue} bytes, got {Context.Length}");
        }

        if (Ksf is null)
        {
            throw new CryptoFormatException("configuration.Ksf", "must not be null");
        }
    }
}
