using Net.Pkcs11Interop.HighLevelAPI;
using ECPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>The handles found (or generated) for a key set in one session, by label; key pairs also carry their public point.</summary>
internal sealed class Pkcs11KeyHandles
{
    private readonly Dictionary<string, (IObjectHandle Handle, ECPoint? PublicKey)> _keys = new(StringComparer.Ordinal);

    internal void Add(string label, IObjectHandle handle, ECPoint? publicKey = null) => _keys.Add(label, (handle, publicKey));

    /// <summary>The secret key, or the private half of the key pair, labelled <paramref name="label"/>.</summary>
    internal IObjectHandle Handle(string label) =>
        _keys.TryGetValue(label, out var key) ? key.Handle : throw new InvalidOperationException($"Key '{label}' is not in the key set.");

    internal ECPoint PublicKey(string label) =>
        _keys.TryGetValue(label, out var key) && key.PublicKey is { } point
            ? point
            : throw new InvalidOperationException($"Key '{label}' is not a key pair of the key set.");
}
