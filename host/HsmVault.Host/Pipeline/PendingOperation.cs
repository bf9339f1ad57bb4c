using HsmVault.Protocol.V1;

namespace HsmVault.Host.Pipeline;

/// <summary>A client request waiting in the pipeline for its batch and its response.</summary>
internal sealed class PendingOperation
{
    public PendingOperation(ClientRequest request, byte[] userId, byte[] key)
    {
        Request = request;
        UserId = userId;
        Key = key;
    }

    public ClientRequest Request { get; }

    public byte[] UserId { get; }

    /// <summary>The user's tree key, SHA-256(user id).</summary>
    public byte[] Key { get; }

    /// <summary>Whether a stale witness has already been rebuilt once for this request.</summary>
    public bool Retried { get; set; }

    public TaskCompletionSource<ClientResponse> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Answers the client with <paramref name="response"/>, under the request's own id.</summary>
    public void Complete(ClientResponse response)
    {
        response.RequestId = Request.RequestId;
        Completion.TrySetResult(response);
    }

    public void Fail(ErrorCode code, string message) =>
        Completion.TrySetResult(ClientErrors.Create(Request.RequestId, code, message));
}
