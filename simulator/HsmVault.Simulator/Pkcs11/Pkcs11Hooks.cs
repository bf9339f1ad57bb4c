using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// Test seams of <see cref="Pkcs11HsmServices"/>: faults injected before a PKCS#11 call, a failure
/// injected before a key is generated, and an adapter around the AES-GCM encrypt call (so the
/// token-generated IV layouts can be run against SoftHSM2, which only takes a caller IV).
/// Production code never sets any of them.
/// </summary>
internal sealed class Pkcs11Hooks
{
    private readonly Queue<(string? Operation, CKR ReturnValue)> _faults = new();
    private readonly Queue<(string Operation, CKR ReturnValue)> _faultsAfterCall = new();

    /// <summary>Called with the label of each key just before provisioning generates it; throw to fail provisioning there.</summary>
    internal Action<string>? BeforeKeyGenerated { get; init; }

    /// <summary>
    /// Supplies a seal's nonce bytes in place of the token's RNG (N[0:12], then N[12:24] in the caller-IV mode),
    /// so a test can hold the token's XAES-256-GCM against the specification's vectors and the software reference.
    /// </summary>
    internal Func<int, byte[]>? SealRandom { get; init; }

    /// <summary>Wraps the token's AES-GCM encrypt call.</summary>
    internal Func<IAesGcmTokenEncryption, IAesGcmTokenEncryption>? WrapGcmEncryption { get; init; }

    /// <summary>Makes the next PKCS#11 calls made through the services' session fail with these return values, in order.</summary>
    internal void FailNextCalls(params CKR[] returnValues)
    {
        lock (_faults)
        {
            foreach (CKR rv in returnValues)
            {
                _faults.Enqueue((null, rv));
            }
        }
    }

    /// <summary>Makes the next call of <paramref name="operation"/> (a services method name) fail with <paramref name="returnValue"/>.</summary>
    internal void FailNext(string operation, CKR returnValue)
    {
        lock (_faults)
        {
            _faults.Enqueue((operation, returnValue));
        }
    }

    /// <summary>
    /// Lets the next call of <paramref name="operation"/> reach the token, then fails it with
    /// <paramref name="returnValue"/>: the answer lost after the token did the work.
    /// </summary>
    internal void FailNextAfterCall(string operation, CKR returnValue)
    {
        lock (_faults)
        {
            _faultsAfterCall.Enqueue((operation, returnValue));
        }
    }

    internal void ThrowIfFaultArmedAfterCall(string operation)
    {
        CKR rv;
        lock (_faults)
        {
            if (!_faultsAfterCall.TryPeek(out var next) || next.Operation != operation)
            {
                return;
            }

            rv = _faultsAfterCall.Dequeue().ReturnValue;
        }

        throw new Pkcs11Exception($"injected fault after {operation}", rv);
    }

    internal void ThrowIfFaultArmed(string operation)
    {
        CKR rv;
        lock (_faults)
        {
            if (!_faults.TryPeek(out var next) || (next.Operation is not null && next.Operation != operation))
            {
                return;
            }

            rv = _faults.Dequeue().ReturnValue;
        }

        throw new Pkcs11Exception($"injected fault in {operation}", rv);
    }
}
