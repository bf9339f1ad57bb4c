using System.Security.Cryptography;
using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Opaque;

/// <summary>What the client keeps between KE1 and KE2: password, blind, ephemeral secret and KE1. Dispose zeroes them.</summary>
public sealed class ClientLoginState : IDisposable
{
    private readonly byte[] _password;
    private readonly byte[] _ke1;
    private U256 _blind;
    private U256 _clientSecret;
    private bool _disposed;

    internal ClientLoginState(byte[] password, U256 blind, U256 clientSecret, byte[] ke1)
    {
        _password = password;
        _blind = blind;
        _clientSecret = clientSecret;
        _ke1 = ke1;
    }

    internal ReadOnlySpan<byte> Password => Check(_password);

    internal ReadOnlySpan<byte> KE1 => Check(_ke1);

    internal U256 Blind
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _blind;
        }
    }

    internal U256 ClientSecret
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _clientSecret;
        }
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_password);
        _blind = default;
        _clientSecret = default;
        _disposed = true;
    }

    private byte[] Check(byte[] value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return value;
    }
}
