using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using HsmVault.Crypto.Xaes;
using HsmVault.Enclave;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.MechanismParams;
using ECPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// <see cref="IHsmServices"/> over a PKCS#11 token (SoftHSM2 in tests, a vendor HSM by configuration).
/// Every key is generated inside the token as sensitive and non-extractable (the fleet keys of a deployment
/// ceremony: extractable only under a trusted key, <see cref="Pkcs11FleetKeyProtection"/>) and is found by label;
/// the services keep one logged-in session and serialise all calls on it. A lost session is reopened,
/// logged in again and the keys found again by label (<see cref="Pkcs11Session"/>); a failure the token
/// cannot recover from throws <see cref="HsmUnavailableException"/>. Seals are XAES-256-GCM with the per-seal
/// key derived inside the token from the derive-only record key (<see cref="Pkcs11XaesRecordKey"/>,
/// docs/CRYPTO.md). docs/HSM-VENDORS.md says what a token must offer.
/// </summary>
public sealed class Pkcs11HsmServices : IHsmServices, IDisposable
{
    /// <summary>Bytes of NVRAM content the services accept.</summary>
    public const int DefaultNvramCapacity = 4096;

    private const int SecretKeyLength = 32;
    private const int SequenceLength = 8;

    private readonly Lock _gate = new();
    private readonly Pkcs11Module _module;
    private readonly Pkcs11Session _session;
    private readonly Pkcs11KeyLabels _labels;
    private readonly Pkcs11Hooks? _hooks;
    private readonly Pkcs11FleetKeyProtection _fleetKeyProtection;
    private readonly AesGcmIvStrategy _ivStrategy;
    private readonly List<(string Label, IObjectHandle Handle)> _createdThisRun = [];
    private readonly Dictionary<HsmHmacKey, IObjectHandle> _hmacKeys = [];

    // Not readonly: a reopened session finds the keys again and some tokens hand out new handles.
    private IObjectHandle _recordKey;
    private Pkcs11XaesRecordKey _recordDerivation;
    private IObjectHandle _identityKey;
    private IObjectHandle _akeKey;
    private readonly ECPoint _akePublicPoint;
    private readonly byte[] _identityPublicKey;
    private readonly byte[] _akePublicKey;
    private IObjectHandle _channelKey;
    private readonly byte[] _channelPublicKey;
    private readonly IMechanism _hmacMechanism;
    private readonly IMechanism _ecdsaMechanism;
    private readonly List<IObjectHandle> _staleNvramObjects = [];
    private IObjectHandle? _nvramObject;
    private ulong _nvramSequence;
    private byte[] _nvramContent = [];
    private bool _disposed;

    private Pkcs11HsmServices(Pkcs11Options options, bool provisionMissingKeys, Pkcs11Hooks? hooks = null)
    {
        options.Validate();
        _labels = new Pkcs11KeyLabels(options.KeyLabelPrefix);
        _hooks = hooks;
        _fleetKeyProtection = options.FleetKeyProtection;
        _ivStrategy = AesGcmIvStrategy.For(options.GcmIvMode);
        _module = Pkcs11Module.Acquire(options.LibraryPath);
        Pkcs11Session? session = null;
        try
        {
            session = Pkcs11Session.Open(_module, options.TokenLabel, opened => LogIn(opened, options), options.SessionReopened, hooks);
            _session = session;

            // Before anything is created: a token that could not finish provisioning must not start it.
            Pkcs11MechanismCheck.Require(session.Slot, options.TokenLabel);

            Pkcs11KeyHandles keys = FindOrProvisionKeys(provisionMissingKeys);
            AttachKeys(keys);
            _recordDerivation = AttachRecordDerivation();
            _akePublicPoint = keys.PublicKey(_labels.AkeKey);
            _identityPublicKey = P256.Compress(keys.PublicKey(_labels.IdentityKey));
            _akePublicKey = P256.Compress(_akePublicPoint);
            _channelPublicKey = P256.Uncompressed(keys.PublicKey(_labels.ChannelKey));
            _hmacMechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_SHA256_HMAC);
            _ecdsaMechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_ECDSA);
            LoadNvram();
            session.AfterReopen = ReattachAfterReopen;
            session.RecycleAfterCalls = options.RecycleAfterCalls;
        }
        catch (Exception ex)
        {
            // A failed run leaves the token as it found it: what this run generated is destroyed first.
            string? rollBack = session is null ? null : RollBackCreatedKeys();

            // Fields assigned before the failure are released here; the rest are still null.
            _recordDerivation?.Dispose();
            _hmacMechanism?.Dispose();
            _ecdsaMechanism?.Dispose();
            session?.Dispose();
            _module.Release();
            if (rollBack is null)
            {
                throw;
            }

            string message = $"{ex.Message} {rollBack}";
            throw ex is HsmUnavailableException ? new HsmUnavailableException(message, ex) : new HsmConfigurationException(message, ex);
        }

        _createdThisRun.Clear();
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

    /// <summary>How many times the PKCS#11 library was finalised and initialised again (<see cref="Pkcs11Options.RecycleAfterCalls"/>).</summary>
    internal int LibraryRecycles
    {
        get
        {
            lock (_gate)
            {
                return _session.Recycles;
            }
        }
    }

    /// <summary>How many times the services' session was lost and reopened.</summary>
    internal int SessionReopens
    {
        get
        {
            lock (_gate)
            {
                return _session.Reopens;
            }
        }
    }

    /// <summary><see cref="Open(Pkcs11Options)"/> with test seams.</summary>
    internal static Pkcs11HsmServices Open(Pkcs11Options options, Pkcs11Hooks hooks) => new(options, provisionMissingKeys: false, hooks);

    /// <summary><see cref="OpenOrProvision(Pkcs11Options)"/> with test seams.</summary>
    internal static Pkcs11HsmServices OpenOrProvision(Pkcs11Options options, Pkcs11Hooks hooks) => new(options, provisionMissingKeys: true, hooks);

    /// <inheritdoc />
    public void GetRandom(Span<byte> destination)
    {
        if (destination.IsEmpty)
        {
            return;
        }

        byte[] random;
        int length = destination.Length;
        lock (_gate)
        {
            BeginOperation(nameof(GetRandom));
            random = _session.Run(nameof(GetRandom), session => session.GenerateRandom(length));
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
                BeginOperation(nameof(Seal));
                return _session.Run(nameof(Seal), session =>
                {
                    // N[0:12] picks the derived key; N[12:24] is the GCM IV, which the IV strategy has drawn here or
                    // the token generates (Pkcs11Options.GcmIvMode). Either way the IV meets a key made for this seal.
                    Func<int, byte[]> random = _hooks?.SealRandom ?? session.GenerateRandom;
                    byte[] derivationNonce = random(XaesKeyDerivation.DerivationNonceLength);
                    if (derivationNonce.Length != XaesKeyDerivation.DerivationNonceLength)
                    {
                        throw new CryptographicException($"The token's RNG returned {derivationNonce.Length} bytes for a {XaesKeyDerivation.DerivationNonceLength}-byte nonce half.");
                    }

                    byte[] ivCiphertextAndTag = WithMessageKey(session, derivationNonce, messageKey =>
                    {
                        IAesGcmTokenEncryption token = new Pkcs11AesGcmEncryption(_module.Factories, session, messageKey);
                        if (_hooks?.WrapGcmEncryption is { } wrap)
                        {
                            token = wrap(token);
                        }

                        return _ivStrategy.Seal(token, random, input, aad);
                    });
                    byte[] sealedBytes = [SealedFormat.XaesVersion, .. derivationNonce, .. ivCiphertextAndTag];
                    return sealedBytes;
                });
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
        if (!SealedFormat.TryParse(sealedData, out ReadOnlySpan<byte> nonce, out ReadOnlySpan<byte> ciphertext, out ReadOnlySpan<byte> tag))
        {
            return false;
        }

        byte[] derivationNonce = nonce[..XaesKeyDerivation.DerivationNonceLength].ToArray();
        byte[] iv = nonce[XaesKeyDerivation.DerivationNonceLength..].ToArray();
        byte[] ciphertextAndTag = [.. ciphertext, .. tag];
        byte[]? aad = associatedData.IsEmpty ? null : associatedData.ToArray();
        byte[] opened;
        lock (_gate)
        {
            BeginOperation(nameof(TryUnseal));
            try
            {
                opened = _session.Run(nameof(TryUnseal), session => WithMessageKey(session, derivationNonce, messageKey =>
                {
                    using ICkGcmParams parameters = _module.Factories.MechanismParamsFactory.CreateCkGcmParams(iv, (ulong)iv.Length * 8, aad, SealedFormat.TagLength * 8);
                    using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_AES_GCM, parameters);
                    return session.Decrypt(mechanism, messageKey, ciphertextAndTag);
                }));
            }
            catch (Pkcs11Exception ex) when (IsAuthenticationFailure(ex.RV))
            {
                return false;
            }
            catch (Pkcs11Exception ex)
            {
                // Not a verdict on the record: the token could not decide. Answering "does not unseal" here
                // would have the enclave report an honest record as tampered; failing closed is the safe answer.
                throw new HsmUnavailableException($"TryUnseal failed with {ex.RV}, which is not an authentication failure; the record was not judged.", ex);
            }
        }

        plaintext = opened;
        return true;
    }

    /// <inheritdoc />
    public byte[] Hmac(HsmHmacKey key, ReadOnlySpan<byte> data)
    {
        if (!Enum.IsDefined(key))
        {
            throw new ArgumentOutOfRangeException(nameof(key), key, "Unknown HMAC key role.");
        }

        byte[] input = data.ToArray();
        lock (_gate)
        {
            BeginOperation(nameof(Hmac));

            // The handle is looked up inside the call: a reopened session may have moved it.
            return _session.Run(nameof(Hmac), session => session.Sign(_hmacMechanism, _hmacKeys[key], input));
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
            BeginOperation(nameof(Sign));
            signature = _session.Run(nameof(Sign), session => session.Sign(_ecdsaMechanism, _identityKey, digest));
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
            BeginOperation(nameof(AkeDiffieHellman));
            x = DeriveSharedX(() => _akeKey, peer);
            shiftedX = DeriveSharedX(() => _akeKey, shifted);
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
            BeginOperation(nameof(ChannelDiffieHellman));
            return DeriveSharedX(() => _channelKey, peer);
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
            BeginOperation(nameof(WriteNvram));
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
            bool retry = false;
            try
            {
                created = _session.Run(nameof(WriteNvram), session =>
                {
                    // A retry after a lost session: the first attempt may have reached the token before the loss.
                    if (retry && FindNvramEntry(session, sequence, value) is { } written)
                    {
                        return written;
                    }

                    retry = true;
                    return session.CreateObject(template);
                });
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
            _recordDerivation.Dispose();
            _hmacMechanism.Dispose();
            _ecdsaMechanism.Dispose();

            // No C_Logout: login state is shared by every session of this process on the token.
            _session.Dispose();
            _module.Release();
        }
    }

    // Only what a token returns for a wrong tag, wrong associated data or a cut-short ciphertext; SoftHSM2
    // reports a tag mismatch as CKR_GENERAL_ERROR. Anything else is the token failing, not the record.
    private static bool IsAuthenticationFailure(CKR rv) =>
        rv is CKR.CKR_GENERAL_ERROR or CKR.CKR_ENCRYPTED_DATA_INVALID or CKR.CKR_ENCRYPTED_DATA_LEN_RANGE or CKR.CKR_SIGNATURE_INVALID
        || (ulong)rv == 0x35; // CKR_AEAD_DECRYPT_FAILED (PKCS#11 3.0)

    private static bool HasX(ECPoint point, byte[] x)
    {
        ECPoint normalized = point.Normalize();
        return !normalized.IsInfinity && CryptographicOperations.FixedTimeEquals(normalized.AffineXCoord.GetEncoded(), x);
    }

    /// <summary>Logs <paramref name="session"/> in as the user with the PIN of <paramref name="options"/> (an existing login of this process is shared).</summary>
    internal static void LogIn(ISession session, Pkcs11Options options)
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
            return _session.Run($"find '{label}'", session => session.FindAllObjects(query));
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

    private IObjectHandle FindOrGenerateSecretKey(string label, CKK keyType, bool sharedByFleet, bool provision)
    {
        IObjectHandle? key = FindSingle(CKO.CKO_SECRET_KEY, label);
        if (key is null)
        {
            if (!provision)
            {
                throw new HsmConfigurationException($"Secret key '{label}' is not on the token; provision the token first.");
            }

            bool isAes = keyType == CKK.CKK_AES;
            List<IObjectAttribute> template = Pkcs11KeyTemplates.SecretKey(_module.Factories.ObjectAttributeFactory, label, keyType, WrappableUnderTrusted(sharedByFleet));
            try
            {
                _hooks?.BeforeKeyGenerated?.Invoke(label);
                using IMechanism mechanism = _module.Factories.MechanismFactory.Create(isAes ? CKM.CKM_AES_KEY_GEN : CKM.CKM_GENERIC_SECRET_KEY_GEN);
                IObjectHandle generated = _session.Run($"generate '{label}'", session => session.GenerateKey(mechanism, template));
                _createdThisRun.Add((label, generated));
                key = generated;
            }
            catch (Pkcs11Exception ex)
            {
                throw new HsmConfigurationException($"Generating secret key '{label}' on the token failed: {ex.RV}.", ex);
            }
            finally
            {
                DisposeAll(template);
            }
        }

        RequireProtectedKey(key, label, keyType, sharedByFleet);
        return key;
    }

    private (IObjectHandle PrivateKey, ECPoint PublicKey) FindOrGenerateKeyPair(string label, bool forSigning, bool sharedByFleet, bool provision)
    {
        IObjectHandle? privateKey = FindSingle(CKO.CKO_PRIVATE_KEY, label);
        IObjectHandle? publicKey = FindSingle(CKO.CKO_PUBLIC_KEY, label);
        if (privateKey is null && publicKey is null && provision)
        {
            List<IObjectAttribute> publicTemplate = Pkcs11KeyTemplates.EcPublicKey(_module.Factories.ObjectAttributeFactory, label, forSigning);
            List<IObjectAttribute> privateTemplate = Pkcs11KeyTemplates.EcPrivateKey(_module.Factories.ObjectAttributeFactory, label, forSigning, WrappableUnderTrusted(sharedByFleet));
            try
            {
                _hooks?.BeforeKeyGenerated?.Invoke(label);
                using IMechanism mechanism = _module.Factories.MechanismFactory.Create(CKM.CKM_EC_KEY_PAIR_GEN);
                (IObjectHandle generatedPublic, IObjectHandle generatedPrivate) = _session.Run($"generate '{label}'", session =>
                {
                    session.GenerateKeyPair(mechanism, publicTemplate, privateTemplate, out IObjectHandle pub, out IObjectHandle priv);
                    return (pub, priv);
                });
                _createdThisRun.Add((label, generatedPrivate));
                _createdThisRun.Add((label, generatedPublic));
                publicKey = generatedPublic;
                privateKey = generatedPrivate;
            }
            catch (Pkcs11Exception ex)
            {
                throw new HsmConfigurationException($"Generating key pair '{label}' on the token failed: {ex.RV}.", ex);
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

        RequireProtectedKey(privateKey, label, CKK.CKK_EC, sharedByFleet);
        List<IObjectAttribute> attributes = _session.Run($"read '{label}'", session => session.GetAttributeValue(publicKey, [CKA.CKA_EC_PARAMS, CKA.CKA_EC_POINT]));
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

    // Fails closed: a key that could leave the token (or is of the wrong type) is never used. A fleet key may be
    // extractable only with CKA_WRAP_WITH_TRUSTED (the deployment ceremony's keys); the identity key never.
    private void RequireProtectedKey(IObjectHandle key, string label, CKK expectedType, bool sharedByFleet)
    {
        List<IObjectAttribute> attributes = _session.Run($"read '{label}'", session => session.GetAttributeValue(key, [CKA.CKA_KEY_TYPE, CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_TOKEN, CKA.CKA_WRAP_WITH_TRUSTED, CKA.CKA_DERIVE]));
        try
        {
            if (attributes[0].GetValueAsUlong() != (ulong)expectedType)
            {
                throw new HsmConfigurationException($"Key '{label}' has key type 0x{attributes[0].GetValueAsUlong():x}; expected {expectedType}.");
            }

            // A token that does not know CKA_WRAP_WITH_TRUSTED reports it unreadable: then the key is not limited to trusted keys.
            bool wrapWithTrustedOnly = !attributes[4].CannotBeRead && attributes[4].GetValueAsBool();
            bool extractable = attributes[2].GetValueAsBool();
            if (!attributes[1].GetValueAsBool() || !attributes[3].GetValueAsBool() || (extractable && !(sharedByFleet && wrapWithTrustedOnly)))
            {
                throw new HsmConfigurationException(sharedByFleet
                    ? $"Key '{label}' must be a token object with CKA_SENSITIVE=true and CKA_EXTRACTABLE=false (or, as a deployment ceremony leaves fleet keys, CKA_EXTRACTABLE=true only with CKA_WRAP_WITH_TRUSTED=true)."
                    : $"Key '{label}' must be a token object with CKA_SENSITIVE=true and CKA_EXTRACTABLE=false: an HSM's identity key never leaves it.");
            }

            if (expectedType == CKK.CKK_AES && !attributes[5].GetValueAsBool())
            {
                throw new HsmConfigurationException(
                    $"Record key '{label}' has CKA_DERIVE=false: XAES-256-GCM derives each seal's key from it inside the token (CKM_AES_ECB_ENCRYPT_DATA). " +
                    "A token provisioned before XAES-256-GCM needs its record key provisioned again (docs/CRYPTO.md).");
            }
        }
        finally
        {
            DisposeAll(attributes);
        }
    }

    private bool WrappableUnderTrusted(bool sharedByFleet) => sharedByFleet && _fleetKeyProtection == Pkcs11FleetKeyProtection.WrapWithTrustedOnly;

    // The key is read inside the call unit: after a reopen the handle may be a new one.
    private byte[] DeriveSharedX(Func<IObjectHandle> privateKey, ECPoint peer)
    {
        // One call unit: the derived key is a session object, so after a lost session the whole derive is redone.
        return _session.Run(nameof(DeriveSharedX), session =>
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
                derived = session.DeriveKey(mechanism, privateKey(), template);
            }
            finally
            {
                DisposeAll(template);
            }

            try
            {
                List<IObjectAttribute> value = session.GetAttributeValue(derived, [CKA.CKA_VALUE]);
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
                session.DestroyObject(derived);
            }
        });
    }

    private void LoadNvram()
    {
        List<(IObjectHandle Handle, ulong Sequence, byte[] Content)> entries = _session.Run(nameof(LoadNvram), ReadNvramEntries);
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
            IObjectHandle stale = _staleNvramObjects[i];
            try
            {
                _session.Run(nameof(WriteNvram), session => session.DestroyObject(stale));
                _staleNvramObjects.RemoveAt(i);
            }
            catch (Pkcs11Exception ex) when (ex.RV == CKR.CKR_OBJECT_HANDLE_INVALID)
            {
                _staleNvramObjects.RemoveAt(i);
            }
            catch (Exception ex) when (ex is Pkcs11Exception or HsmUnavailableException)
            {
                // The new content is already durable and start-up picks the higher sequence; retry on the next write.
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    // The start of every public operation that reaches the token (under _gate): no handle is held yet,
    // so this is where the library may be recycled (Pkcs11Options.RecycleAfterCalls).
    private void BeginOperation(string operation)
    {
        ThrowIfDisposed();
        _session.RecycleIfDue(operation);
    }

    // K1 of the record key, for this session (handles are read inside the call unit: a reopen may move them).
    private Pkcs11XaesRecordKey AttachRecordDerivation() =>
        _session.Run("derive the XAES-256-GCM subkey", session => Pkcs11XaesRecordKey.Attach(_module.Factories, session, _recordKey));

    // One call unit: the message key is a session object, made, used once and destroyed, so none outlives the call
    // (and after a lost session the retry derives it again).
    private T WithMessageKey<T>(ISession session, byte[] derivationNonce, Func<IObjectHandle, T> use)
    {
        IObjectHandle messageKey;
        try
        {
            messageKey = _recordDerivation.DeriveMessageKey(session, _recordKey, derivationNonce);
        }
        catch (Pkcs11Exception ex) when (IsAuthenticationFailure(ex.RV))
        {
            // A code that from the decrypt would mean "wrong tag" means, from the derive, the token failing.
            throw new HsmUnavailableException($"Deriving the message key from the record key failed with {ex.RV}.", ex);
        }

        try
        {
            return use(messageKey);
        }
        finally
        {
            session.DestroyObject(messageKey);
        }
    }

    // Generic over the key set: a new key role is one more entry in Pkcs11KeySet, not more code here.
    private Pkcs11KeyHandles FindOrProvisionKeys(bool provision)
    {
        var keys = new Pkcs11KeyHandles();
        foreach (Pkcs11KeySpec key in Pkcs11KeySet.For(_labels))
        {
            switch (key.Kind)
            {
                case Pkcs11KeyKind.AesKey:
                    keys.Add(key.Label, FindOrGenerateSecretKey(key.Label, CKK.CKK_AES, key.SharedByFleet, provision));
                    break;
                case Pkcs11KeyKind.HmacKey:
                    keys.Add(key.Label, FindOrGenerateSecretKey(key.Label, CKK.CKK_GENERIC_SECRET, key.SharedByFleet, provision));
                    break;
                default:
                    (IObjectHandle privateKey, ECPoint publicKey) = FindOrGenerateKeyPair(key.Label, forSigning: key.Kind == Pkcs11KeyKind.SigningKeyPair, key.SharedByFleet, provision);
                    keys.Add(key.Label, privateKey, publicKey);
                    break;
            }
        }

        return keys;
    }

    [MemberNotNull(nameof(_recordKey), nameof(_identityKey), nameof(_akeKey), nameof(_channelKey))]
    private void AttachKeys(Pkcs11KeyHandles keys)
    {
        _recordKey = keys.Handle(_labels.RecordKey);
        foreach (HsmHmacKey role in Enum.GetValues<HsmHmacKey>())
        {
            _hmacKeys[role] = keys.Handle(_labels.Hmac(role));
        }

        _identityKey = keys.Handle(_labels.IdentityKey);
        _akeKey = keys.Handle(_labels.AkeKey);
        _channelKey = keys.Handle(_labels.ChannelKey);
    }

    // After a reopen (inside Pkcs11Session.Run, under _gate): handles may have changed, so every key is found
    // again by label; the key pairs must still be the ones the services started with, or nothing continues.
    private void ReattachAfterReopen()
    {
        Pkcs11KeyHandles keys = FindOrProvisionKeys(provision: false);
        if (!P256.Compress(keys.PublicKey(_labels.IdentityKey)).AsSpan().SequenceEqual(_identityPublicKey)
            || !P256.Compress(keys.PublicKey(_labels.AkeKey)).AsSpan().SequenceEqual(_akePublicKey)
            || !P256.Uncompressed(keys.PublicKey(_labels.ChannelKey)).AsSpan().SequenceEqual(_channelPublicKey))
        {
            throw new HsmConfigurationException($"After the session was reopened, the key pairs labelled '{_labels.Prefix}-*' are not the ones the services started with.");
        }

        AttachKeys(keys);
        Pkcs11XaesRecordKey previous = _recordDerivation;
        _recordDerivation = AttachRecordDerivation();
        previous.Dispose();
        _nvramObject = null;
        _staleNvramObjects.Clear();
        foreach (var entry in _session.Run(nameof(LoadNvram), ReadNvramEntries))
        {
            if (entry.Sequence == _nvramSequence)
            {
                _nvramObject = entry.Handle;
            }
            else if (entry.Sequence < _nvramSequence)
            {
                _staleNvramObjects.Add(entry.Handle);
            }
        }

        if (_nvramSequence != 0 && _nvramObject is null)
        {
            throw new HsmConfigurationException($"After the session was reopened, NVRAM object '{_labels.Nvram}' with sequence {_nvramSequence} is gone.");
        }
    }

    private List<(IObjectHandle Handle, ulong Sequence, byte[] Content)> ReadNvramEntries(ISession session)
    {
        var entries = new List<(IObjectHandle Handle, ulong Sequence, byte[] Content)>();
        List<IObjectAttribute> query = [Attribute(CKA.CKA_CLASS, CKO.CKO_DATA), Attribute(CKA.CKA_LABEL, _labels.Nvram)];
        List<IObjectHandle> handles;
        try
        {
            handles = session.FindAllObjects(query);
        }
        finally
        {
            DisposeAll(query);
        }

        foreach (IObjectHandle handle in handles)
        {
            List<IObjectAttribute> attributes = session.GetAttributeValue(handle, [CKA.CKA_VALUE]);
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

        return entries;
    }

    // The object a write that was cut short by a lost session may already have created; another object
    // at that sequence is not ours, and writing a second one would make the NVRAM ambiguous.
    private IObjectHandle? FindNvramEntry(ISession session, ulong sequence, byte[] value)
    {
        foreach (var entry in ReadNvramEntries(session))
        {
            if (entry.Sequence < sequence)
            {
                continue;
            }

            if (entry.Sequence == sequence && entry.Content.AsSpan().SequenceEqual(value.AsSpan(SequenceLength)))
            {
                return entry.Handle;
            }

            throw new HsmConfigurationException($"NVRAM object '{_labels.Nvram}' with sequence {entry.Sequence} appeared that these services did not write; refusing to write.");
        }

        return null;
    }

    private string? RollBackCreatedKeys()
    {
        if (_createdThisRun.Count == 0)
        {
            return null;
        }

        var left = new List<string>();
        int destroyed = 0;
        for (int i = _createdThisRun.Count - 1; i >= 0; i--)
        {
            (string label, IObjectHandle handle) = _createdThisRun[i];
            try
            {
                _session.Run("roll back provisioning", session => session.DestroyObject(handle));
                destroyed++;
            }
            catch (Exception ex) when (ex is Pkcs11Exception or HsmUnavailableException)
            {
                left.Add($"'{label}'");
            }
        }

        _createdThisRun.Clear();
        return left.Count == 0
            ? $"Provisioning was rolled back: the {destroyed} objects it had generated were destroyed."
            : $"Provisioning was rolled back only in part: {string.Join(", ", left.Distinct())} could not be destroyed; remove them before provisioning again.";
    }
}
