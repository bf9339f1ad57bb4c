using System.Security.Cryptography;
using HsmVault.Crypto.Xaes;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.MechanismParams;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// The XAES-256-GCM key derivation by key handle (c2sp.org/XAES-256-GCM, <see cref="XaesKeyDerivation"/>):
/// the record key is a derive-only AES-256 token key, and every seal or unseal derives a one-nonce AES-256
/// session key from it with CKM_AES_ECB_ENCRYPT_DATA over M1 xor K1 || M2 xor K1, so the derived key's value
/// is exactly Kx and is born inside the token, sensitive and non-extractable, used for one AES-GCM call and
/// destroyed. K1 (the CMAC subkey of L = AES_K(0^128)) is the one value the derivation needs outside the
/// token: it is computed once per session from a 16-byte derive of the zero block and held here, in the
/// enclave's memory (inside the HSM boundary in a real deployment), zeroed on <see cref="Dispose"/>.
/// K1 reveals nothing of the record key and cannot stand in for it: every Kx still needs AES_K in the token.
/// </summary>
internal sealed class Pkcs11XaesRecordKey : IDisposable
{
    private readonly Pkcs11InteropFactories _factories;
    private readonly byte[] _subkey = new byte[XaesKeyDerivation.BlockLength];

    private Pkcs11XaesRecordKey(Pkcs11InteropFactories factories) => _factories = factories;

    /// <summary>Computes K1 for <paramref name="recordKey"/> on <paramref name="session"/> (one derive, read once, destroyed).</summary>
    internal static Pkcs11XaesRecordKey Attach(Pkcs11InteropFactories factories, ISession session, IObjectHandle recordKey)
    {
        var attached = new Pkcs11XaesRecordKey(factories);
        try
        {
            attached.ComputeSubkey(session, recordKey);
            return attached;
        }
        catch
        {
            attached.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A session AES-256 key with value Kx for <paramref name="derivationNonce"/> (N[0:12]): encrypt and decrypt
    /// only, sensitive, non-extractable. The caller destroys it after its one GCM call.
    /// </summary>
    internal IObjectHandle DeriveMessageKey(ISession session, IObjectHandle recordKey, ReadOnlySpan<byte> derivationNonce)
    {
        byte[] input = new byte[XaesKeyDerivation.DerivationInputLength];
        try
        {
            XaesKeyDerivation.WriteDerivationInput(_subkey, derivationNonce, input);
            return Derive(session, recordKey, input, MessageKeyTemplate());
        }
        finally
        {
            XaesKeyDerivation.Forget(input);
        }
    }

    public void Dispose() => XaesKeyDerivation.Forget(_subkey);

    private void ComputeSubkey(ISession session, IObjectHandle recordKey)
    {
        // L = AES_K(0^128): the only derived object that is readable, and it lives for one read.
        byte[] zero = new byte[XaesKeyDerivation.BlockLength];
        IObjectHandle derived = Derive(session, recordKey, zero, ReadableBlockTemplate());
        byte[] l = [];
        try
        {
            List<IObjectAttribute> value = session.GetAttributeValue(derived, [CKA.CKA_VALUE]);
            try
            {
                l = value[0].GetValueAsByteArray() ?? [];
            }
            finally
            {
                Pkcs11KeyTemplates.DisposeAll(value);
            }

            if (l.Length != XaesKeyDerivation.BlockLength)
            {
                throw new CryptographicException($"The token derived {l.Length} bytes from one AES block; expected {XaesKeyDerivation.BlockLength}.");
            }

            XaesKeyDerivation.WriteSubkey(l, _subkey);
        }
        finally
        {
            XaesKeyDerivation.Forget(l);
            session.DestroyObject(derived);
        }
    }

    private IObjectHandle Derive(ISession session, IObjectHandle recordKey, byte[] data, List<IObjectAttribute> template)
    {
        try
        {
            using ICkKeyDerivationStringData parameters = _factories.MechanismParamsFactory.CreateCkKeyDerivationStringData(data);
            using IMechanism mechanism = _factories.MechanismFactory.Create(CKM.CKM_AES_ECB_ENCRYPT_DATA, parameters);
            return session.DeriveKey(mechanism, recordKey, template);
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(template);
        }
    }

    // The message key: AES-256 with value Kx, sensitive, non-extractable, encrypt and decrypt only. The zero block's
    // derive (L): a readable 16-byte generic secret that does nothing. Both are session objects that derive nothing further.
    private List<IObjectAttribute> MessageKeyTemplate() => SessionKeyTemplate(CKK.CKK_AES, XaesKeyDerivation.KeyLength, readable: false);

    private List<IObjectAttribute> ReadableBlockTemplate() => SessionKeyTemplate(CKK.CKK_GENERIC_SECRET, XaesKeyDerivation.BlockLength, readable: true);

    private List<IObjectAttribute> SessionKeyTemplate(CKK keyType, int length, bool readable)
    {
        var f = _factories.ObjectAttributeFactory;
        return
        [
            f.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            f.Create(CKA.CKA_KEY_TYPE, keyType),
            f.Create(CKA.CKA_VALUE_LEN, (ulong)length),
            f.Create(CKA.CKA_TOKEN, false),
            f.Create(CKA.CKA_PRIVATE, true),
            f.Create(CKA.CKA_SENSITIVE, !readable),
            f.Create(CKA.CKA_EXTRACTABLE, readable),
            f.Create(CKA.CKA_ENCRYPT, !readable),
            f.Create(CKA.CKA_DECRYPT, !readable),
            f.Create(CKA.CKA_SIGN, false),
            f.Create(CKA.CKA_VERIFY, false),
            f.Create(CKA.CKA_WRAP, false),
            f.Create(CKA.CKA_UNWRAP, false),
            f.Create(CKA.CKA_DERIVE, false),
        ];
    }
}
