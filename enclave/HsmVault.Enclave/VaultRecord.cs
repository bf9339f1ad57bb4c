using System.Buffers.Binary;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave;

/// <summary>
/// A user's record as the enclave sees it once unsealed. The host stores it sealed under the
/// fleet record key with the user id and the record version as associated data, so a record
/// cannot be moved to another user or passed off as another version.
/// Plaintext: 0x01 || u32_be attempts_used || credential nonce (32) || u16_be len || OPAQUE record || u16_be len || key blob,
/// or the single byte 0x02 for a tombstone: a deleted or destroyed record. Tombstones keep the
/// user's leaf (and its version) in the tree, so an old registration upload can never be
/// replayed into an empty slot to restore a destroyed record with a fresh counter.
/// </summary>
internal sealed record VaultRecord(uint AttemptsUsed, byte[] CredentialNonce, byte[] RegistrationRecord, byte[] KeyBlob)
{
    public const int NonceBytes = 32;

    private const byte Format = 0x01;
    private const byte TombstoneFormat = 0x02;

    /// <summary>The record that replaces a deleted or destroyed one.</summary>
    public static VaultRecord Tombstone { get; } = new(0, [], [], []) { IsTombstone = true };

    /// <summary>Whether this is a tombstone rather than a live record.</summary>
    public bool IsTombstone { get; private init; }

    private static ReadOnlySpan<byte> AadLabel => "HsmVault-v1 record"u8;

    public SealedRecord Seal(IHsmServices hsm, ReadOnlySpan<byte> userId, ulong version)
    {
        if (IsTombstone)
        {
            return new SealedRecord
            {
                Version = version,
                Ciphertext = Google.Protobuf.ByteString.CopyFrom(hsm.Seal([TombstoneFormat], AssociatedData(userId, version))),
            };
        }

        byte[] plaintext = new byte[1 + 4 + NonceBytes + 2 + RegistrationRecord.Length + 2 + KeyBlob.Length];
        Span<byte> cursor = plaintext;
        cursor[0] = Format;
        BinaryPrimitives.WriteUInt32BigEndian(cursor[1..], AttemptsUsed);
        cursor = cursor[5..];
        CredentialNonce.CopyTo(cursor);
        cursor = cursor[NonceBytes..];
        BinaryPrimitives.WriteUInt16BigEndian(cursor, (ushort)RegistrationRecord.Length);
        RegistrationRecord.CopyTo(cursor[2..]);
        cursor = cursor[(2 + RegistrationRecord.Length)..];
        BinaryPrimitives.WriteUInt16BigEndian(cursor, (ushort)KeyBlob.Length);
        KeyBlob.CopyTo(cursor[2..]);
        return new SealedRecord
        {
            Version = version,
            Ciphertext = Google.Protobuf.ByteString.CopyFrom(hsm.Seal(plaintext, AssociatedData(userId, version))),
        };
    }

    /// <summary>Unseals and parses; null when the ciphertext does not open for this user and version, or is not a record.</summary>
    public static VaultRecord? TryUnseal(IHsmServices hsm, ReadOnlySpan<byte> userId, SealedRecord sealedRecord)
    {
        if (!hsm.TryUnseal(sealedRecord.Ciphertext.Span, AssociatedData(userId, sealedRecord.Version), out byte[] plaintext))
        {
            return null;
        }

        if (plaintext is [TombstoneFormat])
        {
            return Tombstone;
        }

        ReadOnlySpan<byte> cursor = plaintext;
        if (cursor.Length < 1 + 4 + NonceBytes + 2 || cursor[0] != Format)
        {
            return null;
        }

        uint attempts = BinaryPrimitives.ReadUInt32BigEndian(cursor[1..]);
        byte[] nonce = cursor.Slice(5, NonceBytes).ToArray();
        cursor = cursor[(5 + NonceBytes)..];
        int recordLength = BinaryPrimitives.ReadUInt16BigEndian(cursor);
        cursor = cursor[2..];
        if (cursor.Length < recordLength + 2)
        {
            return null;
        }

        byte[] record = cursor[..recordLength].ToArray();
        cursor = cursor[recordLength..];
        int blobLength = BinaryPrimitives.ReadUInt16BigEndian(cursor);
        cursor = cursor[2..];
        if (cursor.Length != blobLength)
        {
            return null;
        }

        return new VaultRecord(attempts, nonce, record, cursor.ToArray());
    }

    /// <summary>The OPAQUE credential identifier: the per-registration nonce, then the user id.</summary>
    public byte[] CredentialIdentifier(ReadOnlySpan<byte> userId) => CredentialIdentifierFor(CredentialNonce, userId);

    public static byte[] CredentialIdentifierFor(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> userId) => [.. nonce, .. userId];

    private static byte[] AssociatedData(ReadOnlySpan<byte> userId, ulong version)
    {
        byte[] aad = new byte[AadLabel.Length + 8 + userId.Length];
        AadLabel.CopyTo(aad);
        BinaryPrimitives.WriteUInt64BigEndian(aad.AsSpan(AadLabel.Length), version);
        userId.CopyTo(aad.AsSpan(AadLabel.Length + 8));
        return aad;
    }
}
