using System.Runtime.CompilerServices;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Hpke;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>
/// The client↔enclave channel as the host tests use it. One well-known key pair stands for the
/// fleet's channel key: <see cref="Requests"/> seals to it and <see cref="FakeEnclave"/> opens with
/// it, exactly as a client and the real enclave do, so the host in between sees only what it
/// would see in production. Each sealed request is remembered with the one object that can open
/// its response, so a test can read what the enclave answered without the host ever being able to.
/// </summary>
internal static class TestChannel
{
    // Keyed by reference: a test holds the very ClientRequest it sent.
    private static readonly ConditionalWeakTable<ClientRequest, PendingChannelResponse> Pending = new();

    /// <summary>The fake fleet's channel key (a fixed derivation, so failures are reproducible).</summary>
    public static P256HpkeKeyPair Key { get; } = P256HpkeKeyPair.Derive("host tests channel key"u8);

    /// <summary>A client request for <paramref name="userId"/> carrying <paramref name="operation"/> sealed to <paramref name="channelPublicKey"/> (default: <see cref="Key"/>).</summary>
    public static ClientRequest Seal(ulong requestId, ByteString userId, VaultRequest operation, byte[]? channelPublicKey = null)
    {
        ArgumentNullException.ThrowIfNull(userId);
        ArgumentNullException.ThrowIfNull(operation);
        PendingChannelResponse pending = VaultChannel.SealRequest(
            channelPublicKey ?? Key.PublicKey, userId.Span, operation.ToByteArray(), SystemRandomSource.Instance, out byte[] encapsulatedKey, out byte[] sealedRequest);
        var request = new ClientRequest
        {
            RequestId = requestId,
            UserId = userId,
            EncapsulatedKey = ByteString.CopyFrom(encapsulatedKey),
            SealedRequest = ByteString.CopyFrom(sealedRequest),
        };
        Pending.Add(request, pending);
        return request;
    }

    /// <summary>
    /// What the vault answered to <paramref name="request"/>: fails the test unless
    /// <paramref name="response"/> carries that request's id and a sealed response that opens under
    /// that request's key (so a clear error, a response to another request, or one altered on the way all fail).
    /// </summary>
    public static VaultResponse Open(ClientRequest request, ClientResponse response)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(response);
        Assert.AreEqual(request.RequestId, response.RequestId, "the response carries another request's id");
        Assert.AreEqual(ClientResponse.ResultOneofCase.SealedResponse, response.ResultCase, $"expected a sealed response, got {response}");
        Assert.IsTrue(TryOpen(request, response.SealedResponse, out VaultResponse? opened), "the sealed response does not open under this request's key");
        return opened!;
    }

    /// <summary>Whether <paramref name="sealedResponse"/> opens under <paramref name="request"/>'s key, and what it says.</summary>
    public static bool TryOpen(ClientRequest request, ByteString sealedResponse, out VaultResponse? opened)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(sealedResponse);
        opened = null;
        if (!Pending.TryGetValue(request, out PendingChannelResponse? pending))
        {
            Assert.Fail("this request was not sealed by TestChannel, so its response cannot be opened");
        }

        if (!pending.TryOpen(sealedResponse.Span, out byte[] plaintext))
        {
            return false;
        }

        opened = VaultResponse.Parser.ParseFrom(plaintext);
        return true;
    }

    /// <summary>
    /// Opens a request as the real enclave does (for <see cref="FakeEnclave"/>). False when it does not
    /// open for its user id under <see cref="Key"/>; when it opens but the plaintext is not a
    /// VaultRequest, <paramref name="operation"/> is null and the answer still goes inside the channel.
    /// </summary>
    public static bool TryOpenRequest(ClientRequest request, out VaultRequest? operation, out ChannelResponder? responder)
    {
        ArgumentNullException.ThrowIfNull(request);
        operation = null;
        if (!VaultChannel.TryOpenRequest(Key, request.UserId.Span, request.EncapsulatedKey.Span, request.SealedRequest.Span, out byte[] plaintext, out responder))
        {
            return false;
        }

        try
        {
            operation = VaultRequest.Parser.ParseFrom(plaintext);
        }
        catch (InvalidProtocolBufferException)
        {
            operation = null;
        }

        return true;
    }

    /// <summary>Seals <paramref name="response"/> to the client of the opened request, as the real enclave does.</summary>
    public static ByteString SealResponse(ChannelResponder responder, VaultResponse response)
    {
        ArgumentNullException.ThrowIfNull(responder);
        ArgumentNullException.ThrowIfNull(response);
        return ByteString.CopyFrom(responder.Seal(response.ToByteArray(), SystemRandomSource.Instance));
    }
}
