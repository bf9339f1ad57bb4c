using System.Text;
using Google.Protobuf;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.V1;

namespace HsmVault.Fuzz.Support;

/// <summary>The client side, deterministic: OPAQUE messages and the channel seal, for building seeds and sealing fuzzed plaintexts.</summary>
public sealed class TestClient(byte[] channelPublicKey, byte[] akePublicKey, string opaqueContext, ulong seed)
{
    private readonly SeededRandom _random = new(seed);

    public byte[] ChannelPublicKey { get; } = channelPublicKey;

    public byte[] AkePublicKey { get; } = akePublicKey;

    public OpaqueClient Opaque { get; } = new(new OpaqueConfiguration(Encoding.UTF8.GetBytes(opaqueContext), IdentityKsf.Instance), new SeededRandom(seed ^ 0x0A0A));

    /// <summary>Seals <paramref name="plaintext"/> for <paramref name="userId"/> as a client would; the pending response opens the answer.</summary>
    public (ClientRequest Request, PendingChannelResponse Pending) Seal(ReadOnlySpan<byte> userId, ReadOnlySpan<byte> plaintext, ulong requestId = 1)
    {
        PendingChannelResponse pending = VaultChannel.SealRequest(ChannelPublicKey, userId, plaintext, _random, out byte[] enc, out byte[] ciphertext);
        var request = new ClientRequest
        {
            RequestId = requestId,
            UserId = ByteString.CopyFrom(userId),
            EncapsulatedKey = ByteString.CopyFrom(enc),
            SealedRequest = ByteString.CopyFrom(ciphertext),
        };
        return (request, pending);
    }

    /// <summary>Opens a sealed answer; a finding when the fleet's answer does not open or does not parse.</summary>
    public static VaultResponse Open(PendingChannelResponse pending, ClientResponse response, string what)
    {
        if (response.ResultCase != ClientResponse.ResultOneofCase.SealedResponse)
        {
            return new VaultResponse { Error = response.Error ?? new Error { Code = ErrorCode.Unspecified } };
        }

        if (!pending.TryOpen(response.SealedResponse.Span, out byte[] plaintext))
        {
            throw new FuzzFindingException($"{what}: the enclave's sealed answer does not open under the request's key");
        }

        try
        {
            return VaultResponse.Parser.ParseFrom(plaintext);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new FuzzFindingException($"{what}: the enclave's sealed answer is not a VaultResponse ({ex.Message})");
        }
    }
}
