using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Hpke;
using HsmVault.Fuzz.Support;
using HsmVault.Protocol;
using HsmVault.Simulator;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// Both ends of the client-to-enclave channel on bytes the host controls. Mode byte: 0 a sealed
/// request opened with a software channel key (P256Group's point decoding), 1 the same opened by
/// the in-memory HSM's key handle (the simulator's decoding), 2 a sealed response opened by the
/// client, 3 a recovered key blob opened by the client. Requests: a user id (1-byte length), the
/// encapsulated key (1-byte length), then the ciphertext; responses and blobs: the rest.
/// </summary>
public sealed class ChannelTarget : FuzzTarget
{
    private static readonly byte[] User = "alice"u8.ToArray();
    private static readonly byte[] SessionKey = [.. Enumerable.Range(0, 32).Select(i => (byte)(0xA0 + i))];

    private P256HpkeKeyPair? _softwareKey;
    private HsmRecipientKey? _hsmKey;
    private PendingChannelResponse? _pending;
    private byte[] _sampleResponse = [];

    public override string Name => "channel";

    public override long AllocationLimitBytes => 4L << 20;

    public override string Feeds => "VaultChannel.TryOpenRequest (software and HSM channel keys), PendingChannelResponse.TryOpen, RecoveredBlobCipher.TryOpen";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Crypto", "HsmVault.Protocol", "HsmVault.Simulator"];

    public override void Prepare()
    {
        _softwareKey = P256HpkeKeyPair.Derive("HsmVault fuzz channel key"u8);
        _hsmKey = new HsmRecipientKey(new InMemoryHsmServices(VaultWorld.HsmSeed));
        _pending = VaultChannel.SealRequest(_softwareKey.PublicKey, User, "status"u8, new SeededRandom(11), out byte[] enc, out byte[] ciphertext);
        if (!VaultChannel.TryOpenRequest(_softwareKey, User, enc, ciphertext, out _, out ChannelResponder? responder))
        {
            throw new InvalidOperationException("the fixture's request does not open");
        }

        using (responder!)
        {
            _sampleResponse = responder!.Seal("an answer"u8, new SeededRandom(12));
        }
    }

    public override string Run(ReadOnlySpan<byte> input)
    {
        var fields = new FuzzInput(input);
        switch (fields.Byte() & 3)
        {
            case 0:
                return OpenRequest(_softwareKey!, ref fields, "software");
            case 1:
                return OpenRequest(_hsmKey!, ref fields, "hsm");
            case 2:
                return _pending!.TryOpen(fields.TakeRest(), out _) ? "response:opened" : "response:refused";
            default:
                return RecoveredBlobCipher.TryOpen(SessionKey, User, fields.TakeRest(), out _) ? "blob:opened" : "blob:refused";
        }
    }

    private static string OpenRequest(IHpkeRecipientKey key, ref FuzzInput fields, string which)
    {
        ReadOnlySpan<byte> userId = fields.Short();
        ReadOnlySpan<byte> enc = fields.Short();
        ReadOnlySpan<byte> ciphertext = fields.TakeRest();
        if (!VaultChannel.TryOpenRequest(key, userId, enc, ciphertext, out byte[] plaintext, out ChannelResponder? responder))
        {
            if (plaintext.Length != 0 || responder is not null)
            {
                throw new FuzzFindingException("a refused request came with a plaintext or a responder");
            }

            return $"{which}:refused";
        }

        using (responder!)
        {
            responder!.Seal(plaintext, new SeededRandom(1));
        }

        return $"{which}:opened";
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        foreach ((byte mode, IHpkeRecipientKey key) in new (byte, IHpkeRecipientKey)[] { (0, _softwareKey!), (1, _hsmKey!) })
        {
            using PendingChannelResponse pending = VaultChannel.SealRequest(key.PublicKey, User, "a vault request"u8, new SeededRandom(mode), out byte[] enc, out byte[] ciphertext);
            yield return ($"request-{mode}", new FuzzInputWriter().Byte(mode).Short(User).Short(enc).Raw(ciphertext).ToArray());
            yield return ($"request-{mode}-infinity", new FuzzInputWriter().Byte(mode).Short(User).Short([0x00]).Raw(ciphertext).ToArray());
            byte[] offCurve = [.. enc];
            offCurve[40] ^= 1;
            yield return ($"request-{mode}-off-curve", new FuzzInputWriter().Byte(mode).Short(User).Short(offCurve).Raw(ciphertext).ToArray());
        }

        yield return ("response", [2, .. _sampleResponse]);
        yield return ("blob", [3, .. RecoveredBlobCipher.Seal(SessionKey, User, "a backup key"u8)]);
    }

    /// <summary>The in-memory HSM's channel key by handle, as the enclave sees it.</summary>
    private sealed class HsmRecipientKey(InMemoryHsmServices hsm) : IHpkeRecipientKey
    {
        public byte[] PublicKey { get; } = hsm.ChannelPublicKey;

        public byte[] DiffieHellmanX(ReadOnlySpan<byte> peerPoint) => hsm.ChannelDiffieHellman(peerPoint);
    }
}
