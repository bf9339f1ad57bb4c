using HsmVault.Protocol.V1;

namespace HsmVault.Enclave;

/// <summary>Builds the <see cref="OperationResult"/>s decided outside the channel: clear client errors, witness outcomes, operator answers.</summary>
internal static class OperationResults
{
    public static OperationResult ClientError(ulong tag, ulong requestId, ErrorCode code, string field, string message) =>
        new()
        {
            Tag = tag,
            Outcome = OperationOutcome.OutcomeClientError,
            Client = ErrorResponse(requestId, code, field, message),
            Detail = $"{field}: {message}",
        };

    public static OperationResult Stale(ulong tag, ulong requestId, string detail) =>
        new()
        {
            Tag = tag,
            Outcome = OperationOutcome.OutcomeStaleWitness,
            Client = ErrorResponse(requestId, ErrorCode.Unavailable, "", "the vault could not serve the request; retry later"),
            Detail = detail,
        };

    public static OperationResult Corrupt(ulong tag, ulong requestId, string detail) =>
        new()
        {
            Tag = tag,
            Outcome = OperationOutcome.OutcomeIntegrityFailure,
            Client = ErrorResponse(requestId, ErrorCode.Unavailable, "", "the vault could not serve the request; retry later"),
            Detail = detail,
        };

    public static OperationResult Unauthorized(ulong tag, string detail) =>
        new() { Tag = tag, Outcome = OperationOutcome.OutcomeUnauthorized, Detail = detail };

    public static ClientResponse ErrorResponse(ulong requestId, ErrorCode code, string field, string message, uint attemptsLeft = 0) =>
        new()
        {
            RequestId = requestId,
            Error = new Error { Code = code, Field = field, Message = message, AttemptsLeft = attemptsLeft },
        };
}
