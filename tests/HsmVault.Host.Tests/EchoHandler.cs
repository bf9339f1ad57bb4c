using HsmVault.Crypto.Channel;
using HsmVault.Host.Pipeline;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>
/// Answers every request with a StatusReport sealed to its sender (as the enclave would), optionally
/// after waiting on a gate; a request that does not open under the test channel key gets a clear
/// BAD_REQUEST. Lets listener tests check that each client gets the answer made for its own request.
/// </summary>
internal sealed class EchoHandler : IClientRequestHandler
{
    private int _received;

    public TaskCompletionSource? Gate { get; set; }

    public int Received => Volatile.Read(ref _received);

    public async Task<ClientResponse> SubmitAsync(ClientRequest request)
    {
        Interlocked.Increment(ref _received);
        if (Gate is { } gate)
        {
            await gate.Task;
        }

        if (!TestChannel.TryOpenRequest(request, out _, out ChannelResponder? responder))
        {
            return ClientErrors.Create(request.RequestId, ErrorCode.BadRequest, "does not open", ClientRequest.SealedRequestField);
        }

        using (responder!)
        {
            VaultResponse status = new() { Status = new StatusReport { AttemptsLeft = 7, AttemptLimit = 10 } };
            return new ClientResponse { RequestId = request.RequestId, SealedResponse = TestChannel.SealResponse(responder!, status) };
        }
    }
}
