using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using HsmVault.Transparency.Epochs;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.Factories;

namespace HsmVault.Operator;

/// <summary>
/// The operator's ECDSA P-256 key in a PKCS#11 token, used only by handle: it is generated in the
/// token sensitive and non-extractable, and signs with CKM_ECDSA over a SHA-256 digest computed
/// here (every token has CKM_ECDSA; not every one has CKM_ECDSA_SHA256), so the signatures are
/// ECDSA-SHA256 in r || s form. Opening a key that could leave the token fails closed.
/// One session, logged in as the user, for the object's lifetime.
/// </summary>
public sealed class OperatorToken : IDisposable
{
    // DER of the P-256 OID 1.2.840.10045.3.1.7, the CKA_EC_PARAMS of a P-256 key.
    private static readonly byte[] P256Parameters = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

    private static readonly Lock ResolverLock = new();
    private static bool s_resolverInstalled;

    private readonly IPkcs11Library _library;
    private readonly ISession _session;
    private readonly Pkcs11InteropFactories _factories;
    private readonly IObjectHandle _privateKey;

    private OperatorToken(Pkcs11InteropFactories factories, IPkcs11Library library, ISession session, IObjectHandle privateKey, OperatorKey publicKey)
    {
        _factories = factories;
        _library = library;
        _session = session;
        _privateKey = privateKey;
        PublicKey = publicKey;
    }

    /// <summary>The public half, as clients and the witness pin it.</summary>
    public OperatorKey PublicKey { get; }

    /// <summary>Generates the operator key pair in the token; refuses if a key with the label exists.</summary>
    public static OperatorToken Generate(OperatorTokenOptions options) => Open(options, generate: true);

    /// <summary>Opens the existing operator key pair.</summary>
    public static OperatorToken Open(OperatorTokenOptions options) => Open(options, generate: false);

    /// <summary>
    /// Initialises a SoftHSM2-style token in a free slot (C_InitToken, then C_InitPIN), for a fresh
    /// test or demo setup; a vendor HSM's partition is set up with the vendor's tools instead.
    /// </summary>
    public static void InitializeToken(string libraryPath, string tokenLabel, string securityOfficerPin, string userPin)
    {
        (Pkcs11InteropFactories factories, IPkcs11Library library) = Load(libraryPath);
        using (library)
        {
            List<ISlot> slots = library.GetSlotList(SlotsType.WithTokenPresent);
            if (slots.Any(slot => slot.GetTokenInfo() is { TokenFlags.TokenInitialized: true } info && info.Label.TrimEnd(' ', '\0') == tokenLabel))
            {
                throw new OperatorTokenException($"a token labelled '{tokenLabel}' already exists");
            }

            ISlot free = slots.FirstOrDefault(slot => !slot.GetTokenInfo().TokenFlags.TokenInitialized)
                ?? throw new OperatorTokenException($"'{libraryPath}' has no free slot with an uninitialised token");
            free.InitToken(securityOfficerPin, tokenLabel);
            using ISession session = free.OpenSession(SessionType.ReadWrite);
            session.Login(CKU.CKU_SO, securityOfficerPin);
            session.InitPin(userPin);
            session.Logout();
        }
    }

    /// <summary>An ECDSA-SHA256 signature (r || s, 64 bytes) of <paramref name="message"/> by the token.</summary>
    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        byte[] digest = SHA256.HashData(message);
        using IMechanism mechanism = _factories.MechanismFactory.Create(CKM.CKM_ECDSA);
        byte[] signature;
        try
        {
            signature = _session.Sign(mechanism, _privateKey, digest);
        }
        catch (Pkcs11Exception ex)
        {
            throw new OperatorTokenException($"the token refused to sign: {ex.RV}", ex);
        }

        return signature.Length == OperatorKey.SignatureLength
            ? signature
            : throw new OperatorTokenException($"the token returned a {signature.Length}-byte ECDSA signature; r || s is 64 bytes");
    }

    /// <summary>The operator's signature of an append request for <paramref name="statement"/>.</summary>
    public byte[] SignAppendRequest(EpochStatement statement) => Sign(OperatorKey.AppendRequestMessage(statement));

    /// <summary>The counter-signature of a witness signature.</summary>
    public byte[] CounterSign(ReadOnlySpan<byte> witnessSignature) => Sign(OperatorKey.CounterSignatureMessage(witnessSignature));

    public void Dispose()
    {
        try
        {
            _session.Logout();
        }
        catch (Pkcs11Exception)
        {
        }

        _session.Dispose();
        _library.Dispose();
    }

    private static OperatorToken Open(OperatorTokenOptions options, bool generate)
    {
        (Pkcs11InteropFactories factories, IPkcs11Library library) = Load(options.LibraryPath);
        ISession? session = null;
        try
        {
            ISlot slot = FindSlot(library, options);
            session = slot.OpenSession(SessionType.ReadWrite);
            byte[] pin = options.ResolvePin();
            try
            {
                session.Login(CKU.CKU_USER, pin);
            }
            catch (Pkcs11Exception ex)
            {
                throw new OperatorTokenException($"login to token '{options.TokenLabel}' failed: {ex.RV}", ex);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(pin);
            }

            (IObjectHandle privateKey, IObjectHandle publicKey) = generate ? GenerateKeyPair(factories, session, options.KeyLabel) : FindKeyPair(factories, session, options.KeyLabel);
            RequireProtected(session, privateKey, options.KeyLabel);
            OperatorKey key = ReadPublicKey(session, publicKey, options.KeyLabel);
            return new OperatorToken(factories, library, session, privateKey, key);
        }
        catch
        {
            session?.Dispose();
            library.Dispose();
            throw;
        }
    }

    private static (IObjectHandle Private, IObjectHandle Public) GenerateKeyPair(Pkcs11InteropFactories factories, ISession session, string label)
    {
        if (Find(factories, session, CKO.CKO_PRIVATE_KEY, label).Count > 0 || Find(factories, session, CKO.CKO_PUBLIC_KEY, label).Count > 0)
        {
            throw new OperatorTokenException($"the token already holds a key labelled '{label}'; the operator key is made once");
        }

        IObjectAttributeFactory a = factories.ObjectAttributeFactory;
        List<IObjectAttribute> publicTemplate =
        [
            a.Create(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
            a.Create(CKA.CKA_KEY_TYPE, CKK.CKK_EC),
            a.Create(CKA.CKA_TOKEN, true),
            a.Create(CKA.CKA_PRIVATE, false),
            a.Create(CKA.CKA_EC_PARAMS, P256Parameters),
            a.Create(CKA.CKA_VERIFY, true),
            a.Create(CKA.CKA_LABEL, label),
        ];
        List<IObjectAttribute> privateTemplate =
        [
            a.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
            a.Create(CKA.CKA_KEY_TYPE, CKK.CKK_EC),
            a.Create(CKA.CKA_TOKEN, true),
            a.Create(CKA.CKA_PRIVATE, true),
            a.Create(CKA.CKA_SENSITIVE, true),
            a.Create(CKA.CKA_EXTRACTABLE, false),
            a.Create(CKA.CKA_SIGN, true),
            a.Create(CKA.CKA_DERIVE, false),
            a.Create(CKA.CKA_LABEL, label),
        ];
        try
        {
            using IMechanism mechanism = factories.MechanismFactory.Create(CKM.CKM_EC_KEY_PAIR_GEN);
            session.GenerateKeyPair(mechanism, publicTemplate, privateTemplate, out IObjectHandle publicKey, out IObjectHandle privateKey);
            return (privateKey, publicKey);
        }
        catch (Pkcs11Exception ex)
        {
            throw new OperatorTokenException($"generating key pair '{label}' failed: {ex.RV}", ex);
        }
        finally
        {
            publicTemplate.ForEach(attribute => attribute.Dispose());
            privateTemplate.ForEach(attribute => attribute.Dispose());
        }
    }

    private static (IObjectHandle Private, IObjectHandle Public) FindKeyPair(Pkcs11InteropFactories factories, ISession session, string label)
    {
        List<IObjectHandle> privateKeys = Find(factories, session, CKO.CKO_PRIVATE_KEY, label);
        List<IObjectHandle> publicKeys = Find(factories, session, CKO.CKO_PUBLIC_KEY, label);
        if (privateKeys.Count != 1 || publicKeys.Count != 1)
        {
            throw new OperatorTokenException($"expected one key pair labelled '{label}' in the token, found {privateKeys.Count} private and {publicKeys.Count} public keys; run 'hsmvault-operator init-key' once");
        }

        return (privateKeys[0], publicKeys[0]);
    }

    private static List<IObjectHandle> Find(Pkcs11InteropFactories factories, ISession session, CKO kind, string label)
    {
        List<IObjectAttribute> template = [factories.ObjectAttributeFactory.Create(CKA.CKA_CLASS, kind), factories.ObjectAttributeFactory.Create(CKA.CKA_LABEL, label)];
        try
        {
            return session.FindAllObjects(template);
        }
        finally
        {
            template.ForEach(attribute => attribute.Dispose());
        }
    }

    // Fails closed: a key that could leave the token is not the operator's key, whatever its label.
    private static void RequireProtected(ISession session, IObjectHandle key, string label)
    {
        List<IObjectAttribute> attributes = session.GetAttributeValue(key, [CKA.CKA_KEY_TYPE, CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_TOKEN, CKA.CKA_NEVER_EXTRACTABLE]);
        try
        {
            if (attributes[0].GetValueAsUlong() != (ulong)CKK.CKK_EC || !attributes[1].GetValueAsBool() || attributes[2].GetValueAsBool()
                || !attributes[3].GetValueAsBool() || !attributes[4].GetValueAsBool())
            {
                throw new OperatorTokenException($"key '{label}' must be an EC token key that is sensitive and was never extractable; refusing to use it");
            }
        }
        finally
        {
            attributes.ForEach(attribute => attribute.Dispose());
        }
    }

    private static OperatorKey ReadPublicKey(ISession session, IObjectHandle key, string label)
    {
        List<IObjectAttribute> attributes = session.GetAttributeValue(key, [CKA.CKA_EC_PARAMS, CKA.CKA_EC_POINT]);
        try
        {
            if (!attributes[0].GetValueAsByteArray().AsSpan().SequenceEqual(P256Parameters))
            {
                throw new OperatorTokenException($"key '{label}' is not on P-256");
            }

            // CKA_EC_POINT is a DER OCTET STRING around the SEC1 point; some tokens give it bare.
            byte[] point = attributes[1].GetValueAsByteArray();
            if (point.Length == OperatorKey.PublicKeyLength + 2 && point[0] == 0x04 && point[1] == OperatorKey.PublicKeyLength)
            {
                point = point[2..];
            }

            return OperatorKey.FromPublicKey(point);
        }
        finally
        {
            attributes.ForEach(attribute => attribute.Dispose());
        }
    }

    private static ISlot FindSlot(IPkcs11Library library, OperatorTokenOptions options)
    {
        List<ISlot> matches = [.. library.GetSlotList(SlotsType.WithTokenPresent)
            .Where(slot => slot.GetTokenInfo() is { TokenFlags.TokenInitialized: true } info && info.Label.TrimEnd(' ', '\0') == options.TokenLabel)];
        return matches.Count == 1
            ? matches[0]
            : throw new OperatorTokenException($"{(matches.Count == 0 ? "no" : matches.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))} initialised token labelled '{options.TokenLabel}' in '{options.LibraryPath}'");
    }

    private static (Pkcs11InteropFactories, IPkcs11Library) Load(string libraryPath)
    {
        InstallResolver();
        var factories = new Pkcs11InteropFactories();
        try
        {
            return (factories, factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, libraryPath, AppType.MultiThreaded));
        }
        catch (Exception ex) when (ex is Pkcs11Exception or UnmanagedException or DllNotFoundException)
        {
            throw new OperatorTokenException($"the PKCS#11 library '{libraryPath}' cannot be loaded: {ex.Message}", ex);
        }
    }

    // Pkcs11Interop 5.3.0 calls dlopen through DllImport("libdl"); current glibc ships only libdl.so.2.
    private static void InstallResolver()
    {
        lock (ResolverLock)
        {
            if (s_resolverInstalled || !OperatingSystem.IsLinux())
            {
                return;
            }

            try
            {
                NativeLibrary.SetDllImportResolver(typeof(Pkcs11InteropFactories).Assembly, ResolveLibdl);
            }
            catch (InvalidOperationException)
            {
                // Another component of this process installed one already; keep it.
            }

            s_resolverInstalled = true;
        }
    }

    private static IntPtr ResolveLibdl(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == "libdl" && NativeLibrary.TryLoad("libdl.so.2", out IntPtr handle) ? handle : IntPtr.Zero;
}
