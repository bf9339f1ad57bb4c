using HsmVault.Protocol.V1;

namespace HsmVault.Enclave;

/// <summary>
/// What a client operation's handler decided, before the channel seals it: a response for the
/// client (sealed to the request's key, outcome OK), or a witness outcome for the host with no
/// client response (stale or corrupt: nothing changed, the host rebuilds the witness).
/// </summary>
internal sealed record ClientAnswer(OperationOutcome Outcome, VaultResponse? Response, string Detail)
{
    public static ClientAnswer Ok(VaultResponse response) => new(OperationOutcome.OutcomeOk, response, "");

    /// <summary>A client-level error inside the channel; the host sees only that the request was handled.</summary>
    public static ClientAnswer Error(ErrorCode code, string field, string message, uint attemptsLeft = 0) =>
        new(OperationOutcome.OutcomeOk, ErrorResponse(code, field, message, attemptsLeft), "");

    public static ClientAnswer FromLookup(RecordLookup lookup) =>
        new(lookup.Outcome == WitnessOutcome.Stale ? OperationOutcome.OutcomeStaleWitness : OperationOutcome.OutcomeIntegrityFailure, null, lookup.Detail);

    public static VaultResponse ErrorResponse(ErrorCode code, string field, string message, uint attemptsLeft = 0) =>
        new() { Error = new Error { Code = code, Field = field, Message = message, AttemptsLeft = attemptsLeft } };
}
