using System.Security.Cryptography;
using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Opaque;

/// <summary>What the client keeps between the registration request and the response: the password and the blind. Dispose zeroes them.</summary>
public sealed class ClientRegistrationState : IDisposable
{
    private readonly byte[] _password;
    private U256 _blind;
    private bool _disposed;

    internal ClientRegistrationState(byte[] password, U256 blind)
    {
        _password = password;
        _blind = blind;
    }

    internal ReadOnlySpan<byte> Password
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _password;
        }
    }

    internal U256 Blind
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _blind;
        }
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_password);
        _blind = default;
        _disposed = true;
    }
}
