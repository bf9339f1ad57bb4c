using HsmVault.Protocol.V1;

namespace HsmVault.Fuzz.Support;

/// <summary>What every answer of a single-HSM enclave must satisfy, whatever the request.</summary>
public static class EnclaveChecks
{
    /// <summary>
    /// Checks <paramref name="response"/> to <paramref name="request"/> (null when it did not parse):
    /// no catch-all error; a batch answers every operation in order; a committed batch's writes lead
    /// to its entry's root and NVRAM holds exactly that entry; anything else leaves NVRAM as it was.
    /// Returns a label.
    /// </summary>
    public static string Check(EnclaveRequest? request, EnclaveResponse response, HostStore store, byte[] nvramBefore, byte[] nvramAfter)
    {
        string label = VaultWorld.Label(response);
        if (response.KindCase != EnclaveResponse.KindOneofCase.Batch)
        {
            bool initialize = request?.KindCase == EnclaveRequest.KindOneofCase.Initialize && nvramBefore.Length == 0;
            if (!initialize && !nvramAfter.AsSpan().SequenceEqual(nvramBefore))
            {
                throw new FuzzFindingException($"an answer of kind {response.KindCase} moved NVRAM");
            }

            return label;
        }

        BatchResult batch = response.Batch;
        if (request?.Batch is not { } sent || batch.Results.Count != sent.Operations.Count)
        {
            throw new FuzzFindingException($"a batch of {request?.Batch?.Operations.Count} operations got {batch.Results.Count} results");
        }

        for (int i = 0; i < batch.Results.Count; i++)
        {
            OperationResult result = batch.Results[i];
            if (result.Tag != sent.Operations[i].Tag || result.Outcome == OperationOutcome.OutcomeUnspecified)
            {
                throw new FuzzFindingException($"result {i}: tag {result.Tag} for operation tag {sent.Operations[i].Tag}, outcome {result.Outcome}");
            }
        }

        if (batch.Entry is { } entry)
        {
            store.CheckWritesLeadTo(batch.Writes, entry.MerkleRoot, "batch");
            byte[] expected = VaultWorld.EncodeNvram(entry.Index, entry.MerkleRoot.Span, entry.Mac.Span);
            if (!nvramAfter.AsSpan().SequenceEqual(expected))
            {
                throw new FuzzFindingException("NVRAM does not hold the entry the batch answered with");
            }
        }
        else if (batch.Writes.Count > 0 || !nvramAfter.AsSpan().SequenceEqual(nvramBefore))
        {
            throw new FuzzFindingException("a batch without an entry wrote records or moved NVRAM");
        }

        return $"batch:{string.Join(',', batch.Results.Select(r => r.Outcome.ToString().Replace("Outcome", "", StringComparison.Ordinal)).Distinct())}";
    }
}
