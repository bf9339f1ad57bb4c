using System.Security.Cryptography;

namespace HsmVault.Crypto.Opaque;

/// <summary>
/// What the server keeps between KE2 and KE3: the expected client MAC and the session key
/// (64 bytes serialised). It is secret; seal it if it leaves the trust boundary. Dispose zeroes it.
/// </summary>
public sealed class ServerLoginState : IDisposable
{
    private const int SerializedLength = OpaqueSizes.Hash + OpaqueSizes.SessionKey;

    private readonly byte[] _expectedClientMac;
    private readonly byte[] _sessionKey;
    private bool _disposed;

    internal ServerLoginState(byte[] expectedClientMac, byte[] sessionKey)
    {
        _expectedClientMac = expectedClientMac;
        _sessionKey = sessionKey;
    }

    internal ReadOnlySpan<byte> ExpectedClientMac => NotDisposed(_expectedClientMac);

    internal ReadOnlySpan<byte> SessionKey => NotDisposed(_sessionKey);

    /// <summary>Restores a state written by <see cref="ToBytes"/>.</summary>
    public static ServerLoginState FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != SerializedLength)
        {
            throw new CryptoFormatException("serverLoginState", $"must be {SerializedLength} bytes, got {bytes.Length}");
        }

        return new ServerLoginState(bytes[..OpaqueSizes.Hash].ToArray(), bytes[OpaqueSizes.Hash..].ToArray());
    }

    /// <summary>expected_client_mac || session_key.</summary>
    public byte[] ToBytes() => [.. NotDisposed(_expectedClientMac), .. _sessionKey];

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_expectedClientMac);
        CryptographicOperations.ZeroMemory(_sessionKey);
        _disposed = true;
    }

    private byte[] NotDisposed(byte[] value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return value;
    }
}
