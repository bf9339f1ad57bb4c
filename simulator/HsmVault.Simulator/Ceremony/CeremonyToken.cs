using System.Security.Cryptography;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.Factories;
using Net.Pkcs11Interop.HighLevelAPI.MechanismParams;

namespace HsmVault.Simulator.Ceremony;

/// <summary>
/// A session of its own on one token, for the PKCS#11 calls of the deployment ceremony that the HSM
/// services never make: the receiving HSM's RSA transport key pair, the security officer's trusted
/// transport keys, C_WrapKey and C_UnwrapKey. Provisioning, signing and the key checks go through
/// <see cref="Pkcs11HsmServices"/> as always. One ceremony step runs in one process per token, so the
/// login state of this session is the process's alone.
/// </summary>
internal sealed class CeremonyToken : IDisposable
{
    /// <summary>RSA modulus bits of a receiving HSM's transport key.</summary>
    internal const ulong TransportKeyBits = 3072;

    private static readonly byte[] PublicExponent = [0x01, 0x00, 0x01];

    private readonly Pkcs11Module _module;
    private readonly ISession _session;
    private readonly Pkcs11Options _options;

    private CeremonyToken(Pkcs11Module module, ISlot slot, ISession session, Pkcs11Options options)
    {
        _module = module;
        Slot = slot;
        _session = session;
        _options = options;
    }

    internal ISlot Slot { get; }

    private IObjectAttributeFactory Attributes => _module.Factories.ObjectAttributeFactory;

    /// <summary>
    /// Opens a read-write session on the token of <paramref name="options"/>, after checking it offers every
    /// mechanism the vault and the ceremony need (<see cref="CeremonyUnsupportedException"/> lists what is missing).
    /// </summary>
    internal static CeremonyToken Open(Pkcs11Options options)
    {
        options.Validate();
        Pkcs11Module module = Pkcs11Module.Acquire(options.LibraryPath);
        ISession? session = null;
        try
        {
            ISlot slot = module.FindSlotByTokenLabel(options.TokenLabel);
            try
            {
                Pkcs11MechanismCheck.Require(slot, options.TokenLabel, [.. Pkcs11MechanismCheck.ServiceRequirements, .. Pkcs11MechanismCheck.CeremonyRequirements]);
            }
            catch (HsmConfigurationException ex)
            {
                throw new CeremonyUnsupportedException(ex.Message, ex);
            }

            session = slot.OpenSession(SessionType.ReadWrite);
            return new CeremonyToken(module, slot, session, options);
        }
        catch
        {
            session?.Dispose();
            module.Release();
            throw;
        }
    }

    internal void LogInUser() => Pkcs11HsmServices.LogIn(_session, _options);

    /// <summary>Logs the security officer in (no user may be logged in on the token in this process).</summary>
    internal void LogInSecurityOfficer(byte[] pin)
    {
        try
        {
            _session.Login(CKU.CKU_SO, pin);
        }
        catch (Pkcs11Exception ex) when (ex.RV is CKR.CKR_PIN_INCORRECT or CKR.CKR_PIN_LEN_RANGE or CKR.CKR_PIN_LOCKED or CKR.CKR_USER_TYPE_INVALID)
        {
            throw new CeremonyUnsupportedException($"Token '{_options.TokenLabel}' refused the security officer's PIN ({ex.RV}); only the security officer can mark the transport keys CKA_TRUSTED.", ex);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pin);
        }
    }

    internal void LogOut()
    {
        try
        {
            _session.Logout();
        }
        catch (Pkcs11Exception ex) when (ex.RV == CKR.CKR_USER_NOT_LOGGED_IN)
        {
        }
    }

    /// <summary>The labels of every object (token or session, public or private as the login allows) starting with <paramref name="prefix"/>.</summary>
    internal List<string> LabelsStartingWith(string prefix)
    {
        var labels = new List<string>();
        foreach (IObjectHandle handle in _session.FindAllObjects([]))
        {
            List<IObjectAttribute> value = _session.GetAttributeValue(handle, [CKA.CKA_LABEL]);
            try
            {
                string label = value[0].CannotBeRead ? string.Empty : value[0].GetValueAsString() ?? string.Empty;
                if (label.StartsWith(prefix, StringComparison.Ordinal))
                {
                    labels.Add(label);
                }
            }
            finally
            {
                Pkcs11KeyTemplates.DisposeAll(value);
            }
        }

        labels.Sort(StringComparer.Ordinal);
        return labels;
    }

    /// <summary>Destroys every object whose label starts with <paramref name="prefix"/>; returns how many went.</summary>
    internal int DestroyAllStartingWith(string prefix)
    {
        int destroyed = 0;
        foreach (IObjectHandle handle in _session.FindAllObjects([]))
        {
            List<IObjectAttribute> value = _session.GetAttributeValue(handle, [CKA.CKA_LABEL]);
            try
            {
                if (!value[0].CannotBeRead && (value[0].GetValueAsString() ?? string.Empty).StartsWith(prefix, StringComparison.Ordinal))
                {
                    _session.DestroyObject(handle);
                    destroyed++;
                }
            }
            finally
            {
                Pkcs11KeyTemplates.DisposeAll(value);
            }
        }

        return destroyed;
    }

    internal IObjectHandle Find(CKO objectClass, string label)
    {
        List<IObjectAttribute> query = [Attributes.Create(CKA.CKA_CLASS, objectClass), Attributes.Create(CKA.CKA_LABEL, label)];
        try
        {
            List<IObjectHandle> found = _session.FindAllObjects(query);
            return found.Count == 1
                ? found[0]
                : throw new HsmConfigurationException($"{found.Count} {objectClass} objects labelled '{label}' are on token '{_options.TokenLabel}'; expected exactly one.");
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(query);
        }
    }

    /// <summary>
    /// A receiving HSM's transport key pair, generated inside the token: the private half unwraps only and is
    /// sensitive, never extractable; returns the public modulus and exponent.
    /// </summary>
    internal (byte[] Modulus, byte[] Exponent) GenerateTransportKeyPair(string label)
    {
        List<IObjectAttribute> publicTemplate =
        [
            Attributes.Create(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
            Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_RSA),
            Attributes.Create(CKA.CKA_TOKEN, true),
            Attributes.Create(CKA.CKA_PRIVATE, false),
            Attributes.Create(CKA.CKA_MODULUS_BITS, TransportKeyBits),
            Attributes.Create(CKA.CKA_PUBLIC_EXPONENT, PublicExponent),
            Attributes.Create(CKA.CKA_WRAP, false),
            Attributes.Create(CKA.CKA_ENCRYPT, false),
            Attributes.Create(CKA.CKA_VERIFY, false),
            Attributes.Create(CKA.CKA_LABEL, label),
        ];
        List<IObjectAttribute> privateTemplate =
        [
            Attributes.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
            Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_RSA),
            Attributes.Create(CKA.CKA_TOKEN, true),
            Attributes.Create(CKA.CKA_PRIVATE, true),
            Attributes.Create(CKA.CKA_SENSITIVE, true),
            Attributes.Create(CKA.CKA_EXTRACTABLE, false),
            Attributes.Create(CKA.CKA_UNWRAP, true),
            Attributes.Create(CKA.CKA_DECRYPT, false),
            Attributes.Create(CKA.CKA_SIGN, false),
            Attributes.Create(CKA.CKA_DERIVE, false),
            Attributes.Create(CKA.CKA_LABEL, label),
        ];
        try
        {
            using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_KEY_PAIR_GEN);
            _session.GenerateKeyPair(mechanism, publicTemplate, privateTemplate, out IObjectHandle publicKey, out _);
            return ReadRsaPublicKey(publicKey);
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(publicTemplate);
            Pkcs11KeyTemplates.DisposeAll(privateTemplate);
        }
    }

    /// <summary>The public modulus and exponent of the transport key pair labelled <paramref name="label"/>.</summary>
    internal (byte[] Modulus, byte[] Exponent) ReadRsaPublicKey(string label) => ReadRsaPublicKey(Find(CKO.CKO_PUBLIC_KEY, label));

    private (byte[] Modulus, byte[] Exponent) ReadRsaPublicKey(IObjectHandle publicKey)
    {
        List<IObjectAttribute> values = _session.GetAttributeValue(publicKey, [CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT]);
        try
        {
            return (values[0].GetValueAsByteArray(), values[1].GetValueAsByteArray());
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(values);
        }
    }

    /// <summary>
    /// As the security officer: another HSM's RSA transport public key, as a session object marked CKA_TRUSTED
    /// that may only wrap. Only the security officer can set CKA_TRUSTED (the token refuses it to the user).
    /// </summary>
    internal IObjectHandle CreateTrustedRsaWrappingKey(string label, byte[] modulus, byte[] exponent)
    {
        List<IObjectAttribute> template =
        [
            Attributes.Create(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
            Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_RSA),
            Attributes.Create(CKA.CKA_TOKEN, false),
            Attributes.Create(CKA.CKA_PRIVATE, false),
            Attributes.Create(CKA.CKA_MODULUS, modulus),
            Attributes.Create(CKA.CKA_PUBLIC_EXPONENT, exponent),
            Attributes.Create(CKA.CKA_TRUSTED, true),
            Attributes.Create(CKA.CKA_WRAP, true),
            Attributes.Create(CKA.CKA_ENCRYPT, false),
            Attributes.Create(CKA.CKA_VERIFY, false),
            Attributes.Create(CKA.CKA_LABEL, label),
        ];
        try
        {
            return _session.CreateObject(template);
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(template);
        }
    }

    /// <summary>
    /// As the security officer: an AES-256 transport key, a session object generated inside the token, marked
    /// CKA_TRUSTED so it may wrap the fleet keys, wrapping only, sensitive, and itself extractable only under a
    /// trusted key (the RSA transport key the security officer just trusted).
    /// </summary>
    internal IObjectHandle GenerateTrustedAesTransportKey(string label)
    {
        List<IObjectAttribute> template =
        [
            Attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
            Attributes.Create(CKA.CKA_VALUE_LEN, (ulong)Pkcs11KeyTemplates.SecretKeyLength),
            Attributes.Create(CKA.CKA_TOKEN, false),
            Attributes.Create(CKA.CKA_PRIVATE, false),
            Attributes.Create(CKA.CKA_SENSITIVE, true),
            Attributes.Create(CKA.CKA_EXTRACTABLE, true),
            Attributes.Create(CKA.CKA_WRAP_WITH_TRUSTED, true),
            Attributes.Create(CKA.CKA_TRUSTED, true),
            Attributes.Create(CKA.CKA_WRAP, true),
            Attributes.Create(CKA.CKA_UNWRAP, false),
            Attributes.Create(CKA.CKA_ENCRYPT, false),
            Attributes.Create(CKA.CKA_DECRYPT, false),
            Attributes.Create(CKA.CKA_SIGN, false),
            Attributes.Create(CKA.CKA_VERIFY, false),
            Attributes.Create(CKA.CKA_DERIVE, false),
            Attributes.Create(CKA.CKA_LABEL, label),
        ];
        try
        {
            using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_GEN);
            return _session.GenerateKey(mechanism, template);
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(template);
        }
    }

    /// <summary>C_WrapKey with CKM_AES_KEY_WRAP_PAD (RFC 5649): a fleet key under the AES transport key.</summary>
    internal byte[] WrapUnderTransportKey(IObjectHandle transportKey, IObjectHandle key)
    {
        using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_WRAP_PAD);
        return _session.WrapKey(mechanism, transportKey, key);
    }

    /// <summary>C_WrapKey with CKM_RSA_PKCS_OAEP (SHA-1, MGF1-SHA-1: what SoftHSM2 2.6 offers): the AES transport key under an RSA transport key.</summary>
    internal byte[] WrapUnderRsa(IObjectHandle rsaPublicKey, IObjectHandle transportKey)
    {
        using IMechanism mechanism = Oaep(out ICkRsaPkcsOaepParams parameters);
        using (parameters)
        {
            return _session.WrapKey(mechanism, rsaPublicKey, transportKey);
        }
    }

    /// <summary>C_UnwrapKey with RSA-OAEP: the AES transport key, as a session object that only unwraps, sensitive and never extractable.</summary>
    internal IObjectHandle UnwrapTransportKey(IObjectHandle rsaPrivateKey, byte[] wrapped)
    {
        List<IObjectAttribute> template =
        [
            Attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
            Attributes.Create(CKA.CKA_TOKEN, false),
            Attributes.Create(CKA.CKA_PRIVATE, true),
            Attributes.Create(CKA.CKA_SENSITIVE, true),
            Attributes.Create(CKA.CKA_EXTRACTABLE, false),
            Attributes.Create(CKA.CKA_UNWRAP, true),
            Attributes.Create(CKA.CKA_WRAP, false),
            Attributes.Create(CKA.CKA_ENCRYPT, false),
            Attributes.Create(CKA.CKA_DECRYPT, false),
            Attributes.Create(CKA.CKA_SIGN, false),
            Attributes.Create(CKA.CKA_VERIFY, false),
            Attributes.Create(CKA.CKA_DERIVE, false),
        ];
        try
        {
            using IMechanism mechanism = Oaep(out ICkRsaPkcsOaepParams parameters);
            using (parameters)
            {
                return _session.UnwrapKey(mechanism, rsaPrivateKey, wrapped, template);
            }
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(template);
        }
    }

    /// <summary>
    /// C_UnwrapKey with CKM_AES_KEY_WRAP_PAD of one fleet key, with the attributes provisioning gives it
    /// (<see cref="Pkcs11KeyTemplates"/>): sensitive, and extractable only under a trusted key.
    /// </summary>
    internal IObjectHandle UnwrapFleetKey(IObjectHandle transportKey, Pkcs11KeySpec key, byte[] wrapped)
    {
        List<IObjectAttribute> template = key.Kind switch
        {
            Pkcs11KeyKind.AesKey => Pkcs11KeyTemplates.SecretKey(Attributes, key.Label, CKK.CKK_AES, wrappableUnderTrusted: true, forUnwrap: true),
            Pkcs11KeyKind.HmacKey => Pkcs11KeyTemplates.SecretKey(Attributes, key.Label, CKK.CKK_GENERIC_SECRET, wrappableUnderTrusted: true, forUnwrap: true),
            Pkcs11KeyKind.DerivationKeyPair => Pkcs11KeyTemplates.EcPrivateKey(Attributes, key.Label, forSigning: false, wrappableUnderTrusted: true),
            _ => throw new InvalidOperationException($"'{key.Label}' is not a fleet key the ceremony moves."),
        };
        try
        {
            using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_WRAP_PAD);
            return _session.UnwrapKey(mechanism, transportKey, wrapped, template);
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(template);
        }
    }

    /// <summary>The public half of a derivation key pair that arrived by key wrap, as the token object provisioning would have made.</summary>
    internal void CreateDerivationPublicKey(string label, byte[] uncompressedPoint)
    {
        // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
        List<IObjectAttribute> template = Pkcs11KeyTemplates.EcPublicKey(Attributes, label, forSigning: false, [0x04, (byte)uncompressedPoint.Length, .. uncompressedPoint]);
        try
        {
            _session.CreateObject(template);
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(template);
        }
    }

    /// <summary>The protection attributes of a key, as the ceremony log records them.</summary>
    internal KeyProtection ReadProtection(IObjectHandle key)
    {
        CKA[] names = [CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_WRAP_WITH_TRUSTED, CKA.CKA_LOCAL, CKA.CKA_ALWAYS_SENSITIVE, CKA.CKA_NEVER_EXTRACTABLE];
        List<IObjectAttribute> values = _session.GetAttributeValue(key, [.. names]);
        try
        {
            bool Flag(int i) => !values[i].CannotBeRead && values[i].GetValueAsBool();
            return new KeyProtection(Flag(0), Flag(1), Flag(2), Flag(3), Flag(4), Flag(5));
        }
        finally
        {
            Pkcs11KeyTemplates.DisposeAll(values);
        }
    }

    internal void Destroy(IObjectHandle handle) => _session.DestroyObject(handle);

    public void Dispose()
    {
        try
        {
            _session.Dispose();
        }
        finally
        {
            _module.Release();
        }
    }

    private IMechanism Oaep(out ICkRsaPkcsOaepParams parameters)
    {
        parameters = _module.Factories.MechanismParamsFactory.CreateCkRsaPkcsOaepParams((ulong)CKM.CKM_SHA_1, (ulong)CKG.CKG_MGF1_SHA1, (ulong)CKZ.CKZ_DATA_SPECIFIED, null);
        return _module.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_OAEP, parameters);
    }
}

/// <summary>A key's protection attributes: what the ceremony log and the member report state for every fleet key.</summary>
internal sealed record KeyProtection(bool Sensitive, bool Extractable, bool WrapWithTrusted, bool Local, bool AlwaysSensitive, bool NeverExtractable)
{
    public override string ToString() =>
        $"CKA_SENSITIVE={B(Sensitive)} CKA_EXTRACTABLE={B(Extractable)} CKA_WRAP_WITH_TRUSTED={B(WrapWithTrusted)} CKA_LOCAL={B(Local)} CKA_ALWAYS_SENSITIVE={B(AlwaysSensitive)} CKA_NEVER_EXTRACTABLE={B(NeverExtractable)}";

    private static string B(bool value) => value ? "true" : "false";
}
