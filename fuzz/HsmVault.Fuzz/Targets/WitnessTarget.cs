using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Hpke;
using HsmVault.Fuzz.Support;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;
using HsmVault.Witness;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// The witness's HTTP API as the operator and other logs reach it: the real <c>hsmvault-witness</c>
/// server (Kestrel on loopback, its SQLite state, a software operator key) receives one request
/// per input: an append, a counter-signature, an add-checkpoint for a log it cosigns, or any GET
/// or POST path. No answer may be a 500 (an exception the witness did not type), and the log may
/// only ever hold epochs the operator signed: the harness signs a few, which the seeds carry.
/// Input: a request selector, a namespace selector (or the namespace), an index, then the body.
/// </summary>
public sealed class WitnessTarget : FuzzTarget, IDisposable
{
    private const string Namespace = "fuzz";
    private const string CosignedOrigin = "log.fuzz.example/checkpoints";

    private readonly HashSet<(string Namespace, long Epoch, string Digest)> _signed = [];
    private readonly List<(string Name, byte[] Data)> _seeds = [];
    private ECDsa? _operator;
    private NoteSigningKey? _logKey;
    private WitnessServer? _server;
    private HttpClient? _http;
    private string _state = "";
    private long _entries;

    public override string Name => "witness";

    public override string Feeds => "hsmvault-witness's HTTP API over loopback: append, counter-signature, add-checkpoint, every GET; no 500, and only operator-signed epochs in the log";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["hsmvault-witness", "HsmVault.Transparency"];

    public override TimeSpan TimeLimit => TimeSpan.FromSeconds(5);

    public override void Prepare()
    {
        if (_server is not null)
        {
            return;
        }

        // Every key is fixed, so that a seed or a kept input signed in one process still verifies in the next.
        _state = Directory.CreateTempSubdirectory("hsmvault-fuzz-witness-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteState();
        using (NoteSigningKey witnessKey = NoteSigningKey.FromSeed(WitnessOptions.DefaultName, NoteSignatureType.Ed25519, SHA256.HashData("HsmVault fuzz witness key"u8)))
        {
            string path = Path.Combine(_state, "witness.key");
            File.WriteAllText(path, witnessKey.ToSecretString() + "\n", Encoding.ASCII);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        _operator = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = SHA256.HashData("HsmVault fuzz operator key"u8) });
        _logKey = NoteSigningKey.FromSeed(CosignedOrigin, NoteSignatureType.Ed25519, SHA256.HashData("HsmVault fuzz cosigned log key"u8));
        ECParameters point = _operator.ExportParameters(false);
        OperatorKey operatorKey = OperatorKey.FromPublicKey([0x04, .. point.Q.X!, .. point.Q.Y!]);
        var options = new WitnessOptions(_state, WitnessOptions.DefaultName, operatorKey)
        {
            Port = 0,
            CosignedLogs = new Dictionary<string, NoteVerifierKey> { [CosignedOrigin] = _logKey.Verifier },
        };
        _server = WitnessServer.StartAsync(options, CancellationToken.None).GetAwaiter().GetResult();
        _http = new HttpClient { BaseAddress = _server.Address, Timeout = TimeSpan.FromSeconds(4) };

        // Epoch 1 is published and counter-signed; epochs 2 to 4 are signed for the seeds only.
        for (long epoch = 1; epoch <= 4; epoch++)
        {
            FleetKeySet fleet = Fleet(epoch);
            _signed.Add((Namespace, epoch, Convert.ToHexString(fleet.Digest)));
            byte[] body = Encoding.UTF8.GetBytes(AppendBody(epoch, fleet, SignAppend(Namespace, epoch, fleet)));
            if (epoch == 1)
            {
                (HttpStatusCode status, string answer) = Send(HttpMethod.Post, $"{LogPaths.Namespace(Namespace)}/append", body);
                if (status != HttpStatusCode.Created)
                {
                    throw new InvalidOperationException($"witness: the set-up append answered {(int)status}: {answer}");
                }

                using JsonDocument appended = JsonDocument.Parse(answer);
                WitnessLogEntry entry = WitnessLogEntry.FromJson(appended.RootElement.GetProperty("entry"), "entry");
                byte[] counter = _operator.SignData(OperatorKey.CounterSignatureMessage(entry.WitnessSignature), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
                _seeds.Add(("counter-signature", Input(1, 0, 0, Encoding.UTF8.GetBytes(Convert.ToBase64String(counter)))));
                _seeds.Add(("append-replayed", Input(0, 0, 0, body)));
            }
            else
            {
                _seeds.Add(($"append-epoch-{epoch}", Input(0, 0, 0, body)));
            }
        }

        _entries = TotalEntries();
        string checkpoint = SignedNote.Sign(new Checkpoint(CosignedOrigin, 1, SHA256.HashData("leaf"u8)).ToText(), _logKey).ToString();
        _seeds.Add(("add-checkpoint", Input(2, 0, 0, Encoding.UTF8.GetBytes($"old 0\n\n{checkpoint}"))));
        _seeds.Add(("get-bundle", Input(3, 0, 0, "bundle"u8.ToArray())));
        _seeds.Add(("get-inclusion", Input(3, 0, 0, "proof/inclusion/0/1"u8.ToArray())));
        _seeds.Add(("get-unknown-namespace", Input(3, 1, 0, "checkpoint"u8.ToArray())));
        _seeds.Add(("append-not-json", Input(0, 0, 0, "{\"epoch\": 5, "u8.ToArray())));
        _seeds.Add(("post-raw", Input(4, 0, 0, [.. new FuzzInputWriter().Short("/v1/log/fuzz/cosign"u8).ToArray()])));
    }

    public override string Run(ReadOnlySpan<byte> input)
    {
        var fields = new FuzzInput(input);
        int request = fields.Byte() % 6;
        byte nsSelector = fields.Byte();
        string ns = nsSelector switch
        {
            0 => Namespace,
            1 => "other",
            _ => Escape(fields.Short()),
        };
        int index = fields.Byte();
        (HttpMethod method, string path, byte[] body) = request switch
        {
            0 => (HttpMethod.Post, $"v1/log/{ns}/append", fields.TakeRest().ToArray()),
            1 => (HttpMethod.Post, $"v1/log/{ns}/entries/{index}/counter-signature", fields.TakeRest().ToArray()),
            2 => (HttpMethod.Post, "add-checkpoint", fields.TakeRest().ToArray()),
            3 => (HttpMethod.Get, $"v1/log/{ns}/{Escape(fields.TakeRest())}", []),
            4 => (HttpMethod.Post, Escape(fields.Short()).TrimStart('/'), fields.TakeRest().ToArray()),
            _ => (HttpMethod.Get, Escape(fields.TakeRest()).TrimStart('/'), []),
        };

        (HttpStatusCode status, string answer) = Send(method, path, body);
        if ((int)status >= 500)
        {
            throw new FuzzFindingException($"{method} /{path} answered {(int)status}: {answer[..Math.Min(answer.Length, 200)]}");
        }

        long entries = TotalEntries();
        if (entries != _entries)
        {
            _entries = entries;
            CheckEveryEntryWasSigned();
        }

        return $"{method.Method.ToLowerInvariant()}:{request}:{(int)status}";
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        return _seeds;
    }

    public void Dispose()
    {
        _http?.Dispose();
        _server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _operator?.Dispose();
        _logKey?.Dispose();
        DeleteState();
    }

    private void DeleteState()
    {
        try
        {
            Directory.Delete(_state, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Best effort: a temp folder left behind.
        }
    }

    private static byte[] Input(byte request, byte ns, byte index, byte[] body) =>
        new FuzzInputWriter().Byte(request).Byte(ns).Byte(index).Raw(body).ToArray();

    private static FleetKeySet Fleet(long epoch) =>
        FleetKeySet.Create($"fleet-{epoch}", P256HpkeKeyPair.Derive(SHA256.HashData(BitConverter.GetBytes(epoch))).PublicKey, P256Group.Generator);

    private byte[] SignAppend(string ns, long epoch, FleetKeySet fleet) =>
        _operator!.SignData(OperatorKey.AppendRequestMessage(new EpochStatement(ns, epoch, fleet.Digest)), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    private static string AppendBody(long epoch, FleetKeySet fleet, byte[] authorization) => Json.Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteNumber("epoch", epoch);
        writer.WritePropertyName("fleet_keys");
        using (var file = JsonDocument.Parse(fleet.ToCanonicalJson()))
        {
            file.RootElement.WriteTo(writer);
        }

        writer.WriteString("authorization", Convert.ToBase64String(authorization));
        writer.WriteEndObject();
    });

    // Printable ASCII as is (but '%', '?' and '#', which would change what the path means), the rest percent-encoded.
    private static string Escape(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
        {
            text.Append(b is > 0x20 and < 0x7f and not (byte)'%' and not (byte)'?' and not (byte)'#' ? (char)b : $"%{b:X2}");
        }

        return text.ToString();
    }

    private (HttpStatusCode Status, string Body) Send(HttpMethod method, string path, byte[] body)
    {
        // Rooted, so that no fuzzed path reads as an absolute URI with a scheme of its own.
        using var message = new HttpRequestMessage(method, "/" + path.TrimStart('/'));
        if (method == HttpMethod.Post)
        {
            message.Content = new ByteArrayContent(body);
        }

        try
        {
            using HttpResponseMessage response = _http!.Send(message);
            using var reader = new StreamReader(response.Content.ReadAsStream());
            return (response.StatusCode, reader.ReadToEnd());
        }
        catch (Exception ex) when (ex is UriFormatException or InvalidOperationException or NotSupportedException)
        {
            // A path HttpClient itself will not send is not the witness's input.
            return (0, "");
        }
    }

    private long TotalEntries()
    {
        long total = 0;
        foreach (string ns in _server!.Log.Namespaces)
        {
            _server.Log.Read(ns, l => total += l.Size);
        }

        return total;
    }

    private void CheckEveryEntryWasSigned()
    {
        foreach (string ns in _server!.Log.Namespaces)
        {
            WitnessLogEntry[] entries = _server.Log.Read(ns, l => Enumerable.Range(0, (int)l.Size).Select(i => l.Entry(i)).ToArray()) ?? [];
            foreach (WitnessLogEntry entry in entries)
            {
                if (!_signed.Contains((ns, entry.Statement.Epoch, Convert.ToHexString(entry.FleetKeys.Digest))) || !entry.DigestMatches)
                {
                    throw new FuzzFindingException($"the witness logged epoch {entry.Statement.Epoch} of {ns}, which the operator never signed");
                }
            }
        }
    }
}
