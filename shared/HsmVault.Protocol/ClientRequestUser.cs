using Google.Protobuf;

namespace HsmVault.Protocol.V1;

/// <summary>The user a client request is about, wherever its operation keeps the id.</summary>
public sealed partial class ClientRequest
{
    /// <summary>
    /// The user id the set operation names and that field's path (for example
    /// <c>login_start.user_id</c>); <c>(null, "operation")</c> when no operation is set.
    /// </summary>
    public (ByteString? UserId, string Field) NamedUser() => OperationCase switch
    {
        OperationOneofCase.RegisterStart => (RegisterStart.UserId, "register_start.user_id"),
        OperationOneofCase.RegisterFinish => (RegisterFinish.UserId, "register_finish.user_id"),
        OperationOneofCase.LoginStart => (LoginStart.UserId, "login_start.user_id"),
        OperationOneofCase.LoginFinish => (LoginFinish.UserId, "login_finish.user_id"),
        OperationOneofCase.Status => (Status.UserId, "status.user_id"),
        _ => (null, "operation"),
    };
}
