namespace HsmVault.Crypto.Opaque;

/// <summary>The key-stretching function (KSF) applied to the OPRF output, RFC 9807 §4.3.</summary>
public interface IKeyStretchingFunction
{
    /// <summary>A short name for logs and configuration, e.g. "argon2id-t3-p4-m65536".</summary>
    string Name { get; }

    /// <summary>Stretches <paramref name="input"/> into an output of the same length (Nh).</summary>
    byte[] Stretch(ReadOnlySpan<byte> input);
}
