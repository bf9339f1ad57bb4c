using System.Buffers.Binary;
using System.Security.Cryptography;
using HsmVault.Enclave;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.MechanismParams;
using ECPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// <see cref="IHsmServices"/> over a PKCS#11 token (SoftHSM2 in tests, a vendor HSM by configuration).
/// Every key is generated inside the token as sensitive and non-extractable and is found by label;
/// the services keep one logged-in session and serialise all calls on it.
/// </summary>
public sealed class Pkcs11HsmServices : IHsmServices, IDisposable
{
    /// <summary>Bytes of NVRAM content the services accept.</summary>
    public const int DefaultNvramCapacity = 4096;

    private const int NonceLength = 12;
    private const int TagLength = 16;
    private const int SecretKeyLength = 32;
    private const int SequenceLength = 8;

    private readonly Lock _gate = new();
    private readonly Pkcs11Module _module;
    private readonly ISession _session;
    private readonly Pkcs11KeyLabels _labels;
    private readonly IObjectHandle _recordKey;
    private readonly Dictionary<HsmHmacKey, IObjectHandle> _hmacKeys = [];
    private readonly IObjectHandle _identityKey;
    private readonly IObjectHandle _akeKey;
    private readonly ECPoint _akePublicPoint;
    private readonly byte[] _identityPublicKey;
    private readonly byte[] _akePublicKey;
    private readonly IObjectHandle _channelKey;
    private readonly byte[] _channelPublicKey;
    private readonly IMechanism _hmacMechanism;
    private readonly IMechanism _ecdsaMechanism;
    private readonly List<IObjectHandle> _staleNvramObjects = [];
    private IObjectHandle? _nvramObject;
    private ulong _nvramSequence;
    private byte[] _nvramContent = [];
    private bool _disposed;

    private Pkcs11HsmServices(Pkcs11Options options, bool provisionMissingKeys)
    {
        options.Validate();
        _labels = new Pkcs11KeyLabels(options.KeyLabelPrefix);
        _module = Pkcs11Module.Acquire(options.LibraryPath);
        ISession? session = null;
        try
        {
            ISlot slot = _module.FindSlotByTokenLabel(options.TokenLabel);
            session = slot.OpenSession(SessionType.ReadWrite);
            _session = session;
            LogIn(session, options);

            _recordKey = FindOrGenerateSecretKey(_labels.RecordKey, CKK.CKK_AES, provisionMissingKeys);
            foreach (HsmHmacKey role in Enum.GetValues<HsmHmacKey>())
            {
                _hmacKeys[role] = FindOrGenerateSecretKey(_labels.Hmac(role), CKK.CKK_GENERIC_SECRET, provisionMissingKeys);
            }

            (_identityKey, ECPoint identityPublic) = FindOrGenerateKeyPair(_labels.IdentityKey, forSigning: true, provisionMissingKeys);
            (_akeKey, _akePublicPoint) = FindOrGenerateKeyPair(_labels.AkeKey, forSigning: false, provisionMissingKeys);
            _identityPublicKey = P256.Compress(identityPublic);
            _akePublicKey = P256.Compress(_akePublicPoint);
            (_channelKey, ECPoint channelPublic) = FindOrGenerateKeyPair(_labels.ChannelKey, forSigning: false, provisionMissingKeys);
            _channelPublicKey = P256.Uncompressed(channelPublic);
            _hmacMechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_SHA256_HMAC);
            _ecdsaMechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_ECDSA);
            LoadNvram();
        }
        catch
        {
            // Fields assigned before the failure are released here; the rest are still null.
            _hmacMechanism?.Dispose();
            _ecdsaMechanism?.Dispose();
            session?.Dispose();
            _module.Release();
            throw;
        }
    }

    /// <summary>The HSM identity public key, SEC1 compressed (33 bytes).</summary>
    public byte[] IdentityPublicKey => (byte[])_identityPublicKey.Clone();

    /// <summary>The fleet's static AKE public key, SEC1 compressed (33 bytes).</summary>
    public byte[] AkePublicKey => (byte[])_akePublicKey.Clone();

    /// <summary>The fleet's channel public key (HPKE DHKEM(P-256)), SEC1 uncompressed (65 bytes).</summary>
    public byte[] ChannelPublicKey => (byte[])_channelPublicKey.Clone();

    /// <inheritdoc />
    public int NvramCapacity => DefaultNvramCapacity;

    /// <summary>
    /// Opens a token whose keys were provisioned earlier. Throws <see cref="HsmConfigurationException"/>
    /// when a key is missing, duplicated or not sensitive and non-extractable.
    /// </summary>
    public static Pkcs11HsmServices Open(Pkcs11Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new Pkcs11HsmServices(options, provisionMissingKeys: false);
    }

    /// <summary>
    /// Opens a token and first generates inside it every key that is not there yet (a fresh token gets
    /// a full set; a provisioned one is opened unchanged).
    /// </summary>
    public static Pkcs11HsmServices OpenOrProvision(Pkcs11Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new Pkcs11HsmServices(options, provisionMissingKeys: true);
    }

    /// <inheritdoc />
    public void GetRandom(Span<byte> destination)
    {
        if (destination.IsEmpty)
        {
            return;
        }

        byte[] random;
        lock (_gate)
        {
            ThrowIfDisposed();
            random = _session.GenerateRandom(destination.Length);
        }

        random.CopyTo(destination);
        CryptographicOperations.ZeroMemory(random);
    }

    /// <inheritdoc />
    public byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        byte[] input = plaintext.ToArray();
        byte[]? aad = associatedData.IsEmpty ? null : associatedData.ToArray();
        try
        {
            lock (_gate)
            {
                ThrowIfDisposed();
                byte[] nonce = _session.GenerateRandom(NonceLength);
                using ICkGcmParams parameters = _module.Factories.MechanismParamsFactory.CreateCkGcmParams(nonce, NonceLength * 8, aad, TagLength * 8);
                using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_AES_GCM, parameters);
                byte[] ciphertextAndTag = _session.Encrypt(mechanism, _recordKey, input);
                if (ciphertextAndTag.Length != input.Length + TagLength)
                {
                    throw new CryptographicException($"The token returned {ciphertextAndTag.Length} bytes of AES-GCM output for {input.Length} bytes of plaintext.");
                }

                return [.. nonce, .. ciphertextAndTag];
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input);
        }
    }

    /// <inheritdoc />
    public bool TryUnseal(ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData, out byte[] plaintext)
    {
        plaintext = [];
        if (sealedData.Length < NonceLength + TagLength)
        {
            return false;
        }

        byte[] nonce = sealedData[..NonceLength].ToArray();
        byte[] ciphertextAndTag = sealedData[NonceLength..].ToArray();
        byte[]? aad = associatedData.IsEmpty ? null : associatedData.ToArray();
        lock (_gate)
        {
            ThrowIfDisposed();
            using ICkGcmParams parameters = _module.Factories.MechanismParamsFactory.CreateCkGcmParams(nonce, NonceLength * 8, aad, TagLength * 8);
            using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_AES_GCM, parameters);
            try
            {
                plaintext = _session.Decrypt(mechanism, _recordKey, ciphertextAndTag);
                return true;
            }
            catch (Pkcs11Exception ex) when (IsAuthenticationFailure(ex.RV))
            {
                plaintext = [];
                return false;
            }
        }
    }

    /// <inheritdoc />
    public byte[] Hmac(HsmHmacKey key, ReadOnlySpan<byte> data)
    {
        if (!_hmacKeys.TryGetValue(key, out IObjectHandle? handle))
        {
            throw new ArgumentOutOfRangeException(nameof(key), key, "Unknown HMAC key role.");
        }

        byte[] input = data.ToArray();
        lock (_gate)
        {
            ThrowIfDisposed();
            return _session.Sign(_hmacMechanism, handle, input);
        }
    }

    /// <inheritdoc />
    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        // Plain CKM_ECDSA over a digest made here: every PKCS#11 token has it, not every one has CKM_ECDSA_SHA256.
        byte[] digest = SHA256.HashData(message);
        byte[] signature;
        lock (_gate)
        {
            ThrowIfDisposed();
            signature = _session.Sign(_ecdsaMechanism, _identityKey, digest);
        }

        if (signature.Length != 64)
        {
            throw new CryptographicException($"The token returned a {signature.Length}-byte ECDSA signature; r || s is 64 bytes.");
        }

        return signature;
    }

    /// <inheritdoc />
    public byte[] AkeDiffieHellman(ReadOnlySpan<byte> peerPoint)
    {
        ECPoint peer = P256.DecodeCompressed(peerPoint, nameof(peerPoint));
        ECPoint shifted = peer.Add(P256.G).Normalize();
        if (shifted.IsInfinity)
        {
            // peer = -G, so sk * peer = -PK; the second derive below would need the identity point.
            return P256.Compress(_akePublicPoint.Negate());
        }

        byte[] x;
        byte[] shiftedX;
        lock (_gate)
        {
            ThrowIfDisposed();
            x = DeriveSharedX(_akeKey, peer);
            shiftedX = DeriveSharedX(_akeKey, shifted);
        }

        try
        {
            // ECDH1_DERIVE yields only x of Q = sk * peer. Of the two points with that x, Q is the one
            // whose sum with PK has the x of sk * (peer + G) = Q + PK.
            ECPoint even = P256.Curve.DecodePoint([0x02, .. x]);
            ECPoint odd = even.Negate();
            bool evenMatches = HasX(even.Add(_akePublicPoint), shiftedX);
            bool oddMatches = HasX(odd.Add(_akePublicPoint), shiftedX);
            if (evenMatches == oddMatches)
            {
                throw new CryptographicException("The token's ECDH results are inconsistent; the product point cannot be recovered.");
            }

            return P256.Compress(evenMatches ? even : odd);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(x);
            CryptographicOperations.ZeroMemory(shiftedX);
        }
    }

    /// <inheritdoc />
    public byte[] ChannelDiffieHellman(ReadOnlySpan<byte> peerPoint)
    {
        // HPKE's DHKEM needs only x, which is exactly what ECDH1_DERIVE with CKD_NULL yields.
        ECPoint peer = P256.DecodeUncompressed(peerPoint, nameof(peerPoint));
        lock (_gate)
        {
            ThrowIfDisposed();
            return DeriveSharedX(_channelKey, peer);
        }
    }

    /// <inheritdoc />
    public byte[] ReadNvram()
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            return (byte[])_nvramContent.Clone();
        }
    }

    /// <inheritdoc />
    public void WriteNvram(ReadOnlySpan<byte> content)
    {
        if (content.Length > NvramCapacity)
        {
            throw new ArgumentException($"NVRAM content is {content.Length} bytes; the capacity is {NvramCapacity} bytes.", nameof(content));
        }

        byte[] copy = content.ToArray();
        lock (_gate)
        {
            ThrowIfDisposed();
            ulong sequence = checked(_nvramSequence + 1);
            byte[] value = new byte[SequenceLength + copy.Length];
            BinaryPrimitives.WriteUInt64BigEndian(value, sequence);
            copy.CopyTo(value.AsSpan(SequenceLength));

            // SoftHSM2 refuses C_SetAttributeValue on CKA_VALUE, so a write is "create the next, then
            // destroy the previous"; a crash in between leaves both and start-up keeps the higher sequence.
            List<IObjectAttribute> template =
            [
                Attribute(CKA.CKA_CLASS, CKO.CKO_DATA),
                Attribute(CKA.CKA_TOKEN, true),
                Attribute(CKA.CKA_PRIVATE, true),
                Attribute(CKA.CKA_LABEL, _labels.Nvram),
                Attribute(CKA.CKA_APPLICATION, Pkcs11KeyLabels.Application),
                Attribute(CKA.CKA_VALUE, value),
            ];
            IObjectHandle created;
            try
            {
                created = _session.CreateObject(template);
            }
            finally
            {
                DisposeAll(template);
            }

            if (_nvramObject is not null)
            {
                _staleNvramObjects.Add(_nvramObject);
            }

            _nvramObject = created;
            _nvramSequence = sequence;
            _nvramContent = copy;
            DestroyStaleNvramObjects();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _hmacMechanism.Dispose();
            _ecdsaMechanism.Dispose();

            // No C_Logout: login state is shared by every session of this process on the token.
            _session.Dispose();
            _module.Release();
        }
    }

    private static bool IsAuthenticationFailure(CKR rv) =>
        rv is CKR.CKR_GENERAL_ERROR or CKR.CKR_ENCRYPTED_DATA_INVALID or CKR.CKR_ENCRYPTED_DATA_LEN_RANGE or CKR.CKR_FUNCTION_FAILED
        || (ulong)rv == 0x35; // CKR_AEAD_DECRYPT_FAILED (PKCS#11 3.0)

    private static bool HasX(ECPoint point, byte[] x)
    {
        ECPoint normalized = point.Normalize();
        return !normalized.IsInfinity && CryptographicOperations.FixedTimeEquals(normalized.AffineXCoord.GetEncoded(), x);
    }

    private static void LogIn(ISession session, Pkcs11Options options)
    {
        byte[] pin = options.Pin.Resolve();
        try
        {
            session.Login(CKU.CKU_USER, pin);
        }
        catch (Pkcs11Exception ex) when (ex.RV == CKR.CKR_USER_ALREADY_LOGGED_IN)
        {
            // Another session of this process is logged in to the same token; the login is shared.
        }
        catch (Pkcs11Exception ex) when (ex.RV is CKR.CKR_PIN_INCORRECT or CKR.CKR_PIN_LEN_RANGE or CKR.CKR_PIN_LOCKED or CKR.CKR_USER_PIN_NOT_INITIALIZED)
        {
            throw new HsmConfigurationException($"Token '{options.TokenLabel}' refused the user PIN from {options.Pin}: {ex.RV}.", ex);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pin);
        }
    }

    private static void DisposeAll(List<IObjectAttribute> attributes)
    {
        foreach (IObjectAttribute attribute in attributes)
        {
            attribute.Dispose();
        }
    }

    private IObjectAttribute Attribute(CKA type, bool value) => _module.Factories.ObjectAttributeFactory.Create(type, value);

    private IObjectAttribute Attribute(CKA type, ulong value) => _module.Factories.ObjectAttributeFactory.Create(type, value);

    private IObjectAttribute Attribute(CKA type, CKO value) => _module.Factories.ObjectAttributeFactory.Create(type, value);

    private IObjectAttribute Attribute(CKA type, CKK value) => _module.Factories.ObjectAttributeFactory.Create(type, value);

    private IObjectAttribute Attribute(CKA type, string value) => _module.Factories.ObjectAttributeFactory.Create(type, value);

    private IObjectAttribute Attribute(CKA type, byte[] value) => _module.Factories.ObjectAttributeFactory.Create(type, value);

    private List<IObjectHandle> FindObjects(CKO objectClass, string label)
    {
        List<IObjectAttribute> query = [Attribute(CKA.CKA_CLASS, objectClass), Attribute(CKA.CKA_LABEL, label)];
        try
        {
            return _session.FindAllObjects(query);
        }
        finally
        {
            DisposeAll(query);
        }
    }

    private IObjectHandle? FindSingle(CKO objectClass, string label)
    {
        List<IObjectHandle> found = FindObjects(objectClass, label);
        return found.Count switch
        {
            0 => null,
            1 => found[0],
            _ => throw new HsmConfigurationException($"{found.Count} {objectClass} objects are labelled '{label}'; the label must be unique."),
        };
    }

    private IObjectHandle FindOrGenerateSecretKey(string label, CKK keyType, bool provision)
    {
        IObjectHandle? key = FindSingle(CKO.CKO_SECRET_KEY, label);
        if (key is null)
        {
            if (!provision)
            {
                throw new HsmConfigurationException($"Secret key '{label}' is not on the token; provision the token first.");
            }

            bool isAes = keyType == CKK.CKK_AES;
            List<IObjectAttribute> template =
            [
                Attribute(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
                Attribute(CKA.CKA_KEY_TYPE, keyType),
                Attribute(CKA.CKA_VALUE_LEN, (ulong)SecretKeyLength),
                Attribute(CKA.CKA_TOKEN, true),
                Attribute(CKA.CKA_PRIVATE, true),
                Attribute(CKA.CKA_SENSITIVE, true),
                Attribute(CKA.CKA_EXTRACTABLE, false),
                Attribute(CKA.CKA_ENCRYPT, isAes),
                Attribute(CKA.CKA_DECRYPT, isAes),
                Attribute(CKA.CKA_SIGN, !isAes),
                Attribute(CKA.CKA_VERIFY, !isAes),
                Attribute(CKA.CKA_WRAP, false),
                Attribute(CKA.CKA_UNWRAP, false),
                Attribute(CKA.CKA_DERIVE, false),
                Attribute(CKA.CKA_LABEL, label),
            ];
            try
            {
                using IMechanism mechanism = _module.Factories.MechanismFactory.Create(isAes ? CKM.CKM_AES_KEY_GEN : CKM.CKM_GENERIC_SECRET_KEY_GEN);
                key = _session.GenerateKey(mechanism, template);
            }
            finally
            {
                DisposeAll(template);
            }
        }

        RequireProtectedKey(key, label, keyType);
        return key;
    }

    private (IObjectHandle PrivateKey, ECPoint PublicKey) FindOrGenerateKeyPair(string label, bool forSigning, bool provision)
    {
        IObjectHandle? privateKey = FindSingle(CKO.CKO_PRIVATE_KEY, label);
        IObjectHandle? publicKey = FindSingle(CKO.CKO_PUBLIC_KEY, label);
        if (privateKey is null && publicKey is null && provision)
        {
            List<IObjectAttribute> publicTemplate =
            [
                Attribute(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
                Attribute(CKA.CKA_KEY_TYPE, CKK.CKK_EC),
                Attribute(CKA.CKA_TOKEN, true),
                Attribute(CKA.CKA_PRIVATE, false),
                Attribute(CKA.CKA_EC_PARAMS, P256.NamedCurveParameters.ToArray()),
                Attribute(CKA.CKA_VERIFY, forSigning),
                Attribute(CKA.CKA_DERIVE, false),
                Attribute(CKA.CKA_LABEL, label),
            ];
            List<IObjectAttribute> privateTemplate =
            [
                Attribute(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
                Attribute(CKA.CKA_KEY_TYPE, CKK.CKK_EC),
                Attribute(CKA.CKA_TOKEN, true),
                Attribute(CKA.CKA_PRIVATE, true),
                Attribute(CKA.CKA_SENSITIVE, true),
                Attribute(CKA.CKA_EXTRACTABLE, false),
                Attribute(CKA.CKA_SIGN, forSigning),
                Attribute(CKA.CKA_DERIVE, !forSigning),
                Attribute(CKA.CKA_LABEL, label),
            ];
            try
            {
                using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_EC_KEY_PAIR_GEN);
                _session.GenerateKeyPair(mechanism, publicTemplate, privateTemplate, out IObjectHandle generatedPublic, out IObjectHandle generatedPrivate);
                publicKey = generatedPublic;
                privateKey = generatedPrivate;
            }
            finally
            {
                DisposeAll(publicTemplate);
                DisposeAll(privateTemplate);
            }
        }

        if (privateKey is null || publicKey is null)
        {
            string missing = privateKey is null ? "private" : "public";
            throw new HsmConfigurationException($"The {missing} half of key pair '{label}' is not on the token; provision the token first.");
        }

        RequireProtectedKey(privateKey, label, CKK.CKK_EC);
        List<IObjectAttribute> attributes = _session.GetAttributeValue(publicKey, [CKA.CKA_EC_PARAMS, CKA.CKA_EC_POINT]);
        try
        {
            if (!attributes[0].GetValueAsByteArray().AsSpan().SequenceEqual(P256.NamedCurveParameters))
            {
                throw new HsmConfigurationException($"Key pair '{label}' is not on the P-256 curve.");
            }

            return (privateKey, P256.DecodeEcPointAttribute(attributes[1].GetValueAsByteArray()));
        }
        finally
        {
            DisposeAll(attributes);
        }
    }

    // Fails closed: a key that could leave the token (or is of the wrong type) is never used.
    private void RequireProtectedKey(IObjectHandle key, string label, CKK expectedType)
    {
        List<IObjectAttribute> attributes = _session.GetAttributeValue(key, [CKA.CKA_KEY_TYPE, CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_TOKEN]);
        try
        {
            if (attributes[0].GetValueAsUlong() != (ulong)expectedType)
            {
                throw new HsmConfigurationException($"Key '{label}' has key type 0x{attributes[0].GetValueAsUlong():x}; expected {expectedType}.");
            }

            if (!attributes[1].GetValueAsBool() || attributes[2].GetValueAsBool() || !attributes[3].GetValueAsBool())
            {
                throw new HsmConfigurationException($"Key '{label}' must be a token object with CKA_SENSITIVE=true and CKA_EXTRACTABLE=false.");
            }
        }
        finally
        {
            DisposeAll(attributes);
        }
    }

    private byte[] DeriveSharedX(IObjectHandle privateKey, ECPoint peer)
    {
        using ICkEcdh1DeriveParams parameters = _module.Factories.MechanismParamsFactory.CreateCkEcdh1DeriveParams((ulong)CKD.CKD_NULL, null, P256.Uncompressed(peer));
        using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_ECDH1_DERIVE, parameters);

        // A short-lived session object that must be readable: the x-coordinate is the result.
        List<IObjectAttribute> template =
        [
            Attribute(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            Attribute(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
            Attribute(CKA.CKA_VALUE_LEN, (ulong)SecretKeyLength),
            Attribute(CKA.CKA_TOKEN, false),
            Attribute(CKA.CKA_SENSITIVE, false),
            Attribute(CKA.CKA_EXTRACTABLE, true),
        ];
        IObjectHandle derived;
        try
        {
            derived = _session.DeriveKey(mechanism, privateKey, template);
        }
        finally
        {
            DisposeAll(template);
        }

        try
        {
            List<IObjectAttribute> value = _session.GetAttributeValue(derived, [CKA.CKA_VALUE]);
            try
            {
                byte[] x = value[0].GetValueAsByteArray();
                if (x.Length != SecretKeyLength)
                {
                    CryptographicOperations.ZeroMemory(x);
                    throw new CryptographicException($"The token derived {x.Length} bytes; an ECDH x-coordinate is {SecretKeyLength}.");
                }

                return x;
            }
            finally
            {
                DisposeAll(value);
            }
        }
        finally
        {
            _session.DestroyObject(derived);
        }
    }

    private void LoadNvram()
    {
        var entries = new List<(IObjectHandle Handle, ulong Sequence, byte[] Content)>();
        foreach (IObjectHandle handle in FindObjects(CKO.CKO_DATA, _labels.Nvram))
        {
            List<IObjectAttribute> attributes = _session.GetAttributeValue(handle, [CKA.CKA_VALUE]);
            byte[] value;
            try
            {
                value = attributes[0].GetValueAsByteArray() ?? [];
            }
            finally
            {
                DisposeAll(attributes);
            }

            // Refuse to start rather than treat unreadable NVRAM as empty, which would undo rollback protection.
            if (value.Length < SequenceLength || value.Length - SequenceLength > NvramCapacity)
            {
                throw new HsmConfigurationException($"NVRAM object '{_labels.Nvram}' holds {value.Length} bytes; expected an 8-byte sequence number and at most {NvramCapacity} bytes of content.");
            }

            entries.Add((handle, BinaryPrimitives.ReadUInt64BigEndian(value), value[SequenceLength..]));
        }

        if (entries.Count == 0)
        {
            return;
        }

        var newest = entries.MaxBy(entry => entry.Sequence);
        if (entries.Count(entry => entry.Sequence == newest.Sequence) > 1)
        {
            throw new HsmConfigurationException($"Two NVRAM objects '{_labels.Nvram}' carry sequence number {newest.Sequence}; refusing to guess which is current.");
        }

        _nvramObject = newest.Handle;
        _nvramSequence = newest.Sequence;
        _nvramContent = newest.Content;
        foreach (var entry in entries)
        {
            if (entry.Sequence != newest.Sequence)
            {
                _staleNvramObjects.Add(entry.Handle);
            }
        }

        DestroyStaleNvramObjects();
    }

    private void DestroyStaleNvramObjects()
    {
        for (int i = _staleNvramObjects.Count - 1; i >= 0; i--)
        {
            try
            {
                _session.DestroyObject(_staleNvramObjects[i]);
                _staleNvramObjects.RemoveAt(i);
            }
            catch (Pkcs11Exception ex) when (ex.RV == CKR.CKR_OBJECT_HANDLE_INVALID)
            {
                _staleNvramObjects.RemoveAt(i);
            }
            catch (Pkcs11Exception)
            {
                // The new content is already durable and start-up picks the higher sequence; retry on the next write.
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
