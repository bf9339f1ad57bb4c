using HsmVault.Crypto;
using HsmVault.Crypto.Ec;

namespace HsmVault.Enclave;

/// <summary>
/// Fleet-wide rules the enclave enforces. Every HSM of a fleet must run with the same policy;
/// it is part of the deployment manifest.
/// </summary>
/// <param name="AttemptLimit">Guesses a record allows between successful logins; at the limit the record is destroyed.</param>
/// <param name="OperatorPublicKey">
/// The operator's ECDSA P-256 key for account deletion, SEC1 uncompressed (65 bytes), or null
/// when operator deletion is disabled.
/// </param>
/// <param name="OpaqueContext">The OPAQUE context string bound into every handshake.</param>
/// <param name="MaxBatchOperations">Most operations one batch (one NVRAM write) may carry.</param>
/// <param name="MaxRequestBytes">Largest encoded request the enclave parses.</param>
/// <param name="MaxUserIdBytes">Longest user id accepted.</param>
/// <param name="MaxKeyBlobBytes">Largest encrypted key blob accepted at registration.</param>
public sealed record VaultPolicy(
    int AttemptLimit = VaultPolicy.DefaultAttemptLimit,
    byte[]? OperatorPublicKey = null,
    string OpaqueContext = VaultPolicy.DefaultOpaqueContext,
    int MaxBatchOperations = 64,
    int MaxRequestBytes = 1 << 20,
    int MaxUserIdBytes = 256,
    int MaxKeyBlobBytes = 512)
{
    /// <summary>The default guess limit.</summary>
    public const int DefaultAttemptLimit = 10;

    /// <summary>The default OPAQUE context string.</summary>
    public const string DefaultOpaqueContext = "HsmVault-v1";

    /// <summary>The policy with every default.</summary>
    public static VaultPolicy Default { get; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first out-of-range field.</summary>
    public void Validate()
    {
        if (AttemptLimit is < 1 or > 1000)
        {
            throw new ArgumentException($"AttemptLimit: {AttemptLimit}, must be between 1 and 1000", nameof(AttemptLimit));
        }

        if (OperatorPublicKey is not null && (OperatorPublicKey.Length != 65 || OperatorPublicKey[0] != 0x04))
        {
            throw new ArgumentException("OperatorPublicKey: must be a SEC1 uncompressed P-256 point (65 bytes, 0x04 first)", nameof(OperatorPublicKey));
        }

        if (OperatorPublicKey is not null)
        {
            // The right form is not enough: a key off the curve would only fail when the ECDSA key is made,
            // after a fleet member has already bound its NVRAM to this policy.
            try
            {
                P256Group.ValidateUncompressed(OperatorPublicKey, nameof(OperatorPublicKey));
            }
            catch (CryptoFormatException ex)
            {
                throw new ArgumentException($"OperatorPublicKey: not a point on P-256 ({ex.Reason})", nameof(OperatorPublicKey), ex);
            }
        }

        if (string.IsNullOrEmpty(OpaqueContext))
        {
            throw new ArgumentException("OpaqueContext: must not be empty", nameof(OpaqueContext));
        }

        if (MaxBatchOperations < 1 || MaxRequestBytes < 1024 || MaxUserIdBytes < 1 || MaxKeyBlobBytes < 1)
        {
            throw new ArgumentException("MaxBatchOperations, MaxRequestBytes, MaxUserIdBytes, MaxKeyBlobBytes: must be positive (MaxRequestBytes at least 1024)", nameof(MaxBatchOperations));
        }
    }
}
