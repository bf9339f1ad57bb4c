using HsmVault.Crypto.Opaque;

namespace HsmVault.Enclave;

/// <summary>
/// The OPRF seed as an HSM HMAC key. HKDF-Expand with an output of at most one hash length is a
/// single HMAC over info || 0x01, so the seed never has to leave the HSM.
/// </summary>
internal sealed class HsmOprfSeed(IHsmServices hsm) : IOprfSeed
{
    private const int HashBytes = 32;

    public byte[] Expand(ReadOnlySpan<byte> info, int length)
    {
        if (length is < 1 or > HashBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"the HSM OPRF seed expands to 1..{HashBytes} bytes");
        }

        byte[] input = new byte[info.Length + 1];
        info.CopyTo(input);
        input[^1] = 0x01;
        byte[] block = hsm.Hmac(HsmHmacKey.OprfSeed, input);
        return length == HashBytes ? block : block[..length];
    }
}
