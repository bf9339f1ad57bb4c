using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Channel;
using HsmVault.Protocol.V1;

namespace HsmVault.Testing;

/// <summary>
/// A request sealed to a fleet's channel key as a real client seals it, with the secret that opens
/// the fleet's answer: the test side of the channel, for test hosts that drive the enclave directly.
/// </summary>
public sealed class SealedRequest : IDisposable
{
    private readonly PendingChannelResponse _pending;

    private SealedRequest(ClientRequest request, PendingChannelResponse pending)
    {
        Request = request;
        _pending = pending;
    }

    /// <summary>The wire request: user id in the clear, the operation sealed.</summary>
    public ClientRequest Request { get; }

    public static SealedRequest Seal(ReadOnlySpan<byte> channelPublicKey, UserRequest request, ulong requestId = 0, IRandomSource? random = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        PendingChannelResponse pending = VaultChannel.SealRequest(
            channelPublicKey, request.UserId.Span, request.Request.ToByteArray(), random ?? SystemRandomSource.Instance, out byte[] enc, out byte[] ciphertext);
        var wire = new ClientRequest
        {
            RequestId = requestId,
            UserId = request.UserId,
            EncapsulatedKey = ByteString.CopyFrom(enc),
            SealedRequest = ByteString.CopyFrom(ciphertext),
        };
        return new SealedRequest(wire, pending);
    }

    /// <summary>
    /// The fleet's answer inside <paramref name="response"/>. A clear error comes back as a
    /// <see cref="VaultResponse"/> error for convenience when <paramref name="acceptClear"/> is set;
    /// otherwise, and for a sealed answer that does not open, <see cref="ChannelRefusedException"/>.
    /// </summary>
    public VaultResponse Open(ClientResponse response, bool acceptClear = true)
    {
        ArgumentNullException.ThrowIfNull(response);
        switch (response.ResultCase)
        {
            case ClientResponse.ResultOneofCase.SealedResponse:
                if (!_pending.TryOpen(response.SealedResponse.Span, out byte[] plaintext))
                {
                    throw new ChannelRefusedException("the sealed response does not open under this request's key");
                }

                return VaultResponse.Parser.ParseFrom(plaintext);
            case ClientResponse.ResultOneofCase.Error when acceptClear:
                return new VaultResponse { Error = response.Error };
            default:
                throw new ChannelRefusedException($"not a sealed response: {response}");
        }
    }

    /// <summary>True when <paramref name="response"/> is a sealed answer that opens under this request's key.</summary>
    public bool Opens(ClientResponse response) =>
        response.ResultCase == ClientResponse.ResultOneofCase.SealedResponse && _pending.TryOpen(response.SealedResponse.Span, out _);

    public void Dispose() => _pending.Dispose();
}
