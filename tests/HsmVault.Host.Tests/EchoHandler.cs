using HsmVault.Host.Pipeline;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>Answers every request with a StatusReport, optionally after waiting on a gate.</summary>
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

        return new ClientResponse { RequestId = request.RequestId, Status = new StatusReport { AttemptsLeft = 7, AttemptLimit = 10 } };
    }
}
