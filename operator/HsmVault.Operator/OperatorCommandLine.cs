using System.CommandLine;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Operator;

/// <summary>
/// <c>hsmvault-operator init-token | init-key | public-key | publish | counter-sign</c>. Exit codes:
/// 0 done, 1 bad usage or input, 2 token problem, 3 witness unreachable or its answer refused by
/// the operator, 4 refused by the witness (for example an epoch that does not increase).
/// </summary>
public static class OperatorCommandLine
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var library = new Option<string>("--library") { Description = $"The PKCS#11 module (default $HSMVAULT_PKCS11_LIBRARY, else {OperatorTokenOptions.DefaultLibrary}).", HelpName = "path", Recursive = true };
        var token = new Option<string>("--token") { Description = "The label of the operator's token.", HelpName = "label", Recursive = true };
        var keyLabel = new Option<string>("--key-label") { Description = $"CKA_LABEL of the operator key (default {OperatorTokenOptions.DefaultKeyLabel}).", DefaultValueFactory = _ => OperatorTokenOptions.DefaultKeyLabel, HelpName = "label", Recursive = true };
        var pinFile = new Option<string>("--pin-file") { Description = $"A file holding the token's user PIN (default: ${OperatorTokenOptions.DefaultPinVariable}).", HelpName = "path", Recursive = true };

        var soPinFile = new Option<string>("--so-pin-file") { Description = "A file holding the security officer PIN to set.", Required = true, HelpName = "path" };
        var initToken = new Command("init-token", "Initialise a fresh SoftHSM2-style token in a free slot with a security officer PIN and the user PIN of --pin-file. (A vendor HSM partition is set up with its own tools.)") { soPinFile };
        initToken.SetAction(parse => Run(error, () =>
        {
            string soPin = File.ReadAllText(parse.GetValue(soPinFile)!).TrimEnd('\r', '\n');
            string pin = File.ReadAllText(parse.GetValue(pinFile) ?? throw new ArgumentException("--pin-file: required to set the user PIN")).TrimEnd('\r', '\n');
            OperatorToken.InitializeToken(Library(parse.GetValue(library)), RequireToken(parse.GetValue(token)), soPin, pin);
            output.WriteLine($"initialised token '{parse.GetValue(token)}'");
        }));

        var publicOut = new Option<string>("--out") { Description = "Also write the public key (hex) to this file, for the witness's --operator-key and the clients' pins.", HelpName = "path" };
        var initKey = new Command("init-key", "Generate the operator's ECDSA P-256 key pair in the token: sensitive, never extractable, sign only. Prints the public key in hex.") { publicOut };
        initKey.SetAction(parse => Run(error, () =>
        {
            using OperatorToken operatorToken = OperatorToken.Generate(TokenOptions(parse, library, token, keyLabel, pinFile));
            WritePublic(output, operatorToken.PublicKey, parse.GetValue(publicOut));
        }));

        var publicKey = new Command("public-key", "Print the operator's public key in hex (SEC1 uncompressed, 65 bytes).") { publicOut };
        publicKey.SetAction(parse => Run(error, () =>
        {
            using OperatorToken operatorToken = OperatorToken.Open(TokenOptions(parse, library, token, keyLabel, pinFile));
            WritePublic(output, operatorToken.PublicKey, parse.GetValue(publicOut));
        }));

        var witness = new Option<string>("--witness") { Description = "The witness's base URL, e.g. http://127.0.0.1:7380/.", Required = true, HelpName = "url" };
        var witnessKey = new Option<string>("--witness-key") { Description = "The witness's pinned vkey (text, or a file holding it).", Required = true, HelpName = "vkey|path" };
        var @namespace = new Option<string>("--namespace") { Description = "The log's namespace.", Required = true, HelpName = "ns" };
        var epoch = new Option<long>("--epoch") { Description = "The epoch number: above the newest one in the log.", Required = true, HelpName = "n" };
        var fleetKeys = new Option<string>("--fleet-keys") { Description = "The fleet-key file of the epoch.", Required = true, HelpName = "path" };
        var publish = new Command("publish", "Append an epoch to the witness's log (the request signed by the token), check the witness's signature of exactly this statement, counter-sign it with the token and give the witness the counter-signature.")
        {
            witness, witnessKey, @namespace, epoch, fleetKeys,
        };
        publish.SetAction((parse, ct) => RunAsync(error, async () =>
        {
            (EpochPublisher publisher, OperatorToken operatorToken, HttpClient http) = Publisher(parse, library, token, keyLabel, pinFile, witness, witnessKey);
            using (http)
            using (operatorToken)
            {
                WitnessLogEntry entry = await publisher.PublishAsync(parse.GetValue(@namespace)!, parse.GetValue(epoch), FleetKeySet.Load(parse.GetValue(fleetKeys)!), ct).ConfigureAwait(false);
                await output.WriteLineAsync($"published {entry.Statement}: entry {entry.Index}, counter-signed").ConfigureAwait(false);
            }
        }));
        var counterSign = new Command("counter-sign", "Counter-sign an epoch the witness logged earlier (a publish cut short after its append), after the same checks as publish.")
        {
            witness, witnessKey, @namespace, epoch, fleetKeys,
        };
        counterSign.SetAction((parse, ct) => RunAsync(error, async () =>
        {
            (EpochPublisher publisher, OperatorToken operatorToken, HttpClient http) = Publisher(parse, library, token, keyLabel, pinFile, witness, witnessKey);
            using (http)
            using (operatorToken)
            {
                WitnessLogEntry entry = await publisher.CounterSignExistingAsync(parse.GetValue(@namespace)!, parse.GetValue(epoch), FleetKeySet.Load(parse.GetValue(fleetKeys)!), ct).ConfigureAwait(false);
                await output.WriteLineAsync($"counter-signed {entry.Statement}: entry {entry.Index}").ConfigureAwait(false);
            }
        }));

        var root = new RootCommand("hsmvault-operator: the operator's HSM-held key for fleet-key epochs. It authorises each append to the witness's log and counter-signs the witness's signature of each epoch. The key never leaves its PKCS#11 token. See docs/TRANSPARENCY.md.")
        {
            initToken, initKey, publicKey, publish, counterSign,
        };
        foreach (Option option in new Option[] { library, token, keyLabel, pinFile })
        {
            root.Options.Add(option);
        }

        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken).ConfigureAwait(false);
    }

    private static (EpochPublisher, OperatorToken, HttpClient) Publisher(
        ParseResult parse, Option<string> library, Option<string> token, Option<string> keyLabel, Option<string> pinFile, Option<string> witness, Option<string> witnessKey)
    {
        string url = parse.GetValue(witness)!;
        if (!Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out Uri? witnessUrl) || witnessUrl.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"--witness: '{url}' is not an http(s) URL");
        }

        string vkey = parse.GetValue(witnessKey)!;
        NoteVerifierKey key = NoteVerifierKey.Parse(File.Exists(vkey) ? File.ReadAllText(vkey).Trim() : vkey);
        OperatorToken operatorToken = OperatorToken.Open(TokenOptions(parse, library, token, keyLabel, pinFile));
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        return (new EpochPublisher(http, witnessUrl, key, operatorToken), operatorToken, http);
    }

    private static OperatorTokenOptions TokenOptions(ParseResult parse, Option<string> library, Option<string> token, Option<string> keyLabel, Option<string> pinFile) =>
        new(Library(parse.GetValue(library)), RequireToken(parse.GetValue(token)), parse.GetValue(keyLabel)!, parse.GetValue(pinFile));

    private static string Library(string? given) =>
        given ?? (Environment.GetEnvironmentVariable("HSMVAULT_PKCS11_LIBRARY") is { Length: > 0 } fromEnvironment ? fromEnvironment : OperatorTokenOptions.DefaultLibrary);

    private static string RequireToken(string? label) => label ?? throw new ArgumentException("--token: required (the operator token's label)");

    private static void WritePublic(TextWriter output, OperatorKey key, string? path)
    {
        if (path is not null)
        {
            File.WriteAllText(path, key + "\n");
        }

        output.WriteLine(key.ToString());
    }

    private static int Run(TextWriter error, Action action) => RunAsync(error, () =>
    {
        action();
        return Task.CompletedTask;
    }).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(TextWriter error, Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"hsmvault-operator: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (OperatorTokenException ex)
        {
            await error.WriteLineAsync($"hsmvault-operator: token: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (WitnessAnswerException ex)
        {
            await error.WriteLineAsync($"hsmvault-operator: witness: {ex.Message}").ConfigureAwait(false);
            return 3;
        }
        catch (WitnessRefusedException ex)
        {
            await error.WriteLineAsync($"hsmvault-operator: {ex.Message}").ConfigureAwait(false);
            return 4;
        }
    }
}
