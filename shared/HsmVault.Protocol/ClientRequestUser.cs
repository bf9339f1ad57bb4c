namespace HsmVault.Protocol.V1;

/// <summary>The field paths of a client request's clear part, for error messages that name them.</summary>
public sealed partial class ClientRequest
{
    /// <summary>Path of the user id in error messages.</summary>
    public const string UserIdField = "user_id";

    /// <summary>Path of the HPKE encapsulated key in error messages.</summary>
    public const string EncapsulatedKeyField = "encapsulated_key";

    /// <summary>Path of the sealed operation in error messages.</summary>
    public const string SealedRequestField = "sealed_request";
}
