using System.Runtime.InteropServices;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.MechanismParams;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// The real token call behind <see cref="IAesGcmTokenEncryption"/>: CKM_AES_GCM on one session with
/// one key. After C_Encrypt it reads the CK_GCM_PARAMS IV buffer back, because a token that
/// generates the IV itself reports it there.
/// </summary>
internal sealed class Pkcs11AesGcmEncryption(Pkcs11InteropFactories factories, ISession session, IObjectHandle key) : IAesGcmTokenEncryption
{
    public AesGcmTokenOutput Encrypt(byte[] iv, byte[]? associatedData, byte[] plaintext)
    {
        using ICkGcmParams parameters = factories.MechanismParamsFactory.CreateCkGcmParams(iv, (ulong)iv.Length * 8, associatedData, AesGcmIvStrategy.TagLength * 8);
        using IMechanism mechanism = factories.MechanismFactory.Create(CKM.CKM_AES_GCM, parameters);
        byte[] output = session.Encrypt(mechanism, key, plaintext);
        return new AesGcmTokenOutput(output, ReadIv(parameters));
    }

    /// <summary>
    /// The IV buffer of <paramref name="parameters"/> as it is now. Pkcs11Interop hands the token a
    /// pointer to the unmanaged copy it keeps for the parameters, so a token's write lands there;
    /// the low-level structure exposes that pointer in each of the four CK_ULONG/packing layouts.
    /// </summary>
    internal static byte[] ReadIv(ICkGcmParams parameters)
    {
        (IntPtr pointer, ulong length) = parameters.ToMarshalableStructure() switch
        {
            Net.Pkcs11Interop.LowLevelAPI80.MechanismParams.CK_GCM_PARAMS p => (p.Iv, (ulong)p.IvLen),
            Net.Pkcs11Interop.LowLevelAPI81.MechanismParams.CK_GCM_PARAMS p => (p.Iv, (ulong)p.IvLen),
            Net.Pkcs11Interop.LowLevelAPI40.MechanismParams.CK_GCM_PARAMS p => (p.Iv, (ulong)p.IvLen),
            Net.Pkcs11Interop.LowLevelAPI41.MechanismParams.CK_GCM_PARAMS p => (p.Iv, (ulong)p.IvLen),
            var other => throw new InvalidOperationException($"Unexpected CK_GCM_PARAMS structure {other?.GetType().FullName}."),
        };
        if (pointer == IntPtr.Zero || length == 0)
        {
            return [];
        }

        byte[] iv = new byte[checked((int)length)];
        Marshal.Copy(pointer, iv, 0, iv.Length);
        return iv;
    }
}
