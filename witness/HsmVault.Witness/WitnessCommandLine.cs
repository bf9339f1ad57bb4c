using System.CommandLine;
using HsmVault.Transparency;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Witness;

/// <summary>
/// <c>hsmvault-witness serve | export | vkey</c>. Exit codes: 0 done, 1 bad usage or input,
/// 2 the state folder or store cannot be used, 3 the port cannot be bound.
/// </summary>
internal static class WitnessCommandLine
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var state = new Option<string>("--state") { Description = "State folder: witness.key (0600), witness.vkey, witness.db, cosigner.key.", Required = true, HelpName = "dir", Recursive = true };
        var name = new Option<string>("--name") { Description = $"The witness's key name; each log's origin is NAME/namespace (default {WitnessOptions.DefaultName}).", DefaultValueFactory = _ => WitnessOptions.DefaultName, HelpName = "name", Recursive = true };

        var port = new Option<int>("--port") { Description = $"Loopback port (default {WitnessOptions.DefaultPort}; 0 picks a free one).", DefaultValueFactory = _ => WitnessOptions.DefaultPort };
        var operatorKey = new Option<string>("--operator-key") { Description = "The operator's P-256 public key (hex of the 65-byte SEC1 point, or a file holding it). Needed on first start; bound to the store.", HelpName = "hex|path" };
        var cosigners = new Option<string[]>("--cosigner") { Description = "A further witness to ask for cosignatures of each new checkpoint: VKEY@URL (type 0x04 vkey, add-checkpoint URL prefix). Repeatable.", HelpName = "vkey@url" };
        var cosignLogs = new Option<string[]>("--cosign-log") { Description = "A log this witness cosigns (c2sp.org/tlog-witness add-checkpoint): ORIGIN=VKEY. Repeatable.", HelpName = "origin=vkey" };
        var serve = new Command("serve", "Run the witness: its HTTP API on loopback, until Ctrl+C or SIGTERM.") { port, operatorKey, cosigners, cosignLogs };
        serve.SetAction(async (parse, token) =>
        {
            WitnessOptions options;
            try
            {
                options = new WitnessOptions(Full(parse.GetValue(state)!), parse.GetValue(name)!, ReadOperatorKey(parse.GetValue(operatorKey)))
                {
                    Port = parse.GetValue(port),
                    Cosigners = [.. (parse.GetValue(cosigners) ?? []).Select(CosignerEndpoint.Parse)],
                    CosignedLogs = (parse.GetValue(cosignLogs) ?? []).Select(ParseCosignedLog).ToDictionary(p => p.Origin, p => p.Key, StringComparer.Ordinal),
                };
                NoteKeyName.Check(options.Name, "--name");
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or IOException)
            {
                await error.WriteLineAsync($"hsmvault-witness: {ex.Message}").ConfigureAwait(false);
                return 1;
            }

            WitnessServer server;
            try
            {
                server = await WitnessServer.StartAsync(options, token).ConfigureAwait(false);
            }
            catch (WitnessStoreException ex)
            {
                await error.WriteLineAsync($"hsmvault-witness: {ex.Message}").ConfigureAwait(false);
                return 2;
            }
            catch (IOException ex)
            {
                await error.WriteLineAsync($"hsmvault-witness: cannot listen on 127.0.0.1:{options.Port}: {ex.Message}").ConfigureAwait(false);
                return 3;
            }

            await using (server.ConfigureAwait(false))
            {
                await output.WriteLineAsync($"hsmvault-witness: listening on {server.Address} as {server.Log.VerifierKey}").ConfigureAwait(false);
                if (server.Cosigner is { } cosigner)
                {
                    await output.WriteLineAsync($"hsmvault-witness: cosigning as {cosigner.VerifierKey}").ConfigureAwait(false);
                }

                await output.FlushAsync(token).ConfigureAwait(false);
                try
                {
                    await server.WaitForShutdownAsync(token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }

            return 0;
        });

        var @namespace = new Option<string>("--namespace") { Description = "The namespace to export.", Required = true, HelpName = "ns" };
        var epochs = new Option<int>("--epochs") { Description = "How many of the newest epochs (default 50).", DefaultValueFactory = _ => 50, HelpName = "n" };
        var outDir = new Option<string>("--out") { Description = "The evidence folder to write (the same tree as the HTTP API, under v1/log/NS/).", Required = true, HelpName = "dir" };
        var export = new Command("export", "Write a window of a namespace's log as an evidence folder for 'hsmvault audit --log DIR'. Run it while the witness is stopped, or on a copy.") { @namespace, epochs, outDir };
        export.SetAction(parse =>
        {
            try
            {
                string directory = Full(parse.GetValue(state)!);
                string ns = FleetNamespace.Check(parse.GetValue(@namespace)!, "--namespace");
                using NoteSigningKey key = WitnessKeyFile.LoadOrCreateExisting(Path.Combine(directory, "witness.key"), parse.GetValue(name)!);
                using WitnessStore store = WitnessStore.Open(Path.Combine(directory, "witness.db"));
                using WitnessLog log = WitnessLog.Open(store, key, null);
                int files = 0;
                if (!log.Read(ns, l => files = LogEvidence.WriteFolder(l, Math.Max(1, parse.GetValue(epochs)), Full(parse.GetValue(outDir)!))))
                {
                    error.WriteLine($"hsmvault-witness: namespace {ns} has no entry");
                    return 1;
                }

                output.WriteLine($"hsmvault-witness: wrote {files} files of {ns} to {parse.GetValue(outDir)}");
                return 0;
            }
            catch (WitnessStoreException ex)
            {
                error.WriteLine($"hsmvault-witness: {ex.Message}");
                return 2;
            }
            catch (ArgumentException ex)
            {
                error.WriteLine($"hsmvault-witness: {ex.Message}");
                return 1;
            }
        });

        var vkey = new Command("vkey", "Print the witness's verifier key (creating the key on first use), and its cosigner key if it has one.");
        vkey.SetAction(parse =>
        {
            string directory = Full(parse.GetValue(state)!);
            Directory.CreateDirectory(directory);
            using NoteSigningKey key = WitnessKeyFile.LoadOrCreate(Path.Combine(directory, "witness.key"), parse.GetValue(name)!, NoteSignatureType.Ed25519);
            output.WriteLine(key.Verifier.ToString());
            return 0;
        });

        var root = new RootCommand("hsmvault-witness: the independent witness of fleet-key epochs. It logs (namespace, epoch, fleet-key digest) in an append-only RFC 6962 log per namespace, signs each statement and checkpoint with its Ed25519 key (C2SP signed-note / tlog-checkpoint), and serves checkpoints, entries, proofs and validation bundles on loopback. See docs/TRANSPARENCY.md.")
        {
            serve, export, vkey,
        };
        root.Options.Add(state);
        root.Options.Add(name);
        ParseResult parsed = root.Parse(args);
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken).ConfigureAwait(false);
    }

    private static string Full(string path) => Path.GetFullPath(path);

    private static OperatorKey? ReadOperatorKey(string? value)
    {
        if (value is null)
        {
            return null;
        }

        return OperatorKey.Parse(File.Exists(value) ? File.ReadAllText(value) : value);
    }

    private static (string Origin, NoteVerifierKey Key) ParseCosignedLog(string text)
    {
        int equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw new FormatException($"--cosign-log '{text}': expected ORIGIN=VKEY");
        }

        NoteVerifierKey key = NoteVerifierKey.Parse(text[(equals + 1)..]);
        if (key.Type != NoteSignatureType.Ed25519)
        {
            throw new FormatException($"--cosign-log '{text}': the log key must be an Ed25519 note key (type 0x01)");
        }

        return (text[..equals], key);
    }
}
