using System.Buffers.Binary;

namespace HsmVault.Protocol;

/// <summary>
/// The bytes an operator signs to delete a user's record (see <c>OperatorDelete</c> in enclave.proto):
/// "HsmVault-v1 operator delete" || u32_be(len(user_id)) || user_id || fixed64_be(max_record_version).
/// </summary>
public static class OperatorDeleteStatement
{
    private static ReadOnlySpan<byte> Label => "HsmVault-v1 operator delete"u8;

    /// <summary>The message to sign with ECDSA P-256 / SHA-256 (IEEE P1363 r || s signature).</summary>
    public static byte[] ToSign(ReadOnlySpan<byte> userId, ulong maxRecordVersion)
    {
        byte[] message = new byte[Label.Length + 4 + userId.Length + 8];
        Label.CopyTo(message);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(Label.Length), (uint)userId.Length);
        userId.CopyTo(message.AsSpan(Label.Length + 4));
        BinaryPrimitives.WriteUInt64BigEndian(message.AsSpan(Label.Length + 4 + userId.Length), maxRecordVersion);
        return message;
    }
}
