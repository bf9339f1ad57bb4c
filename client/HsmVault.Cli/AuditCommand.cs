using System.CommandLine;
using System.Globalization;
using HsmVault.Client.Transparency;
using HsmVault.Client.Transparency.Audit;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Cli;

/// <summary>
/// <c>hsmvault audit --log URL-or-DIR --namespace NS --epochs 50 --witness-key VKEY --operator-key HEX</c>:
/// verifies a window of a fleet-key log (docs/AUDIT.md) and prints how the fleet keys changed from
/// epoch to epoch. Progress and failures go to stderr, the table to stdout; any failed check
/// exits with <see cref="CliExitCode.AuditFailed"/>.
/// </summary>
internal sealed class AuditCommand(CliConsole console)
{
    private const int MaxEpochs = 100_000;

    private readonly Option<string> _log = new("--log") { Description = "The witness's base URL (http://127.0.0.1:7380/) or an evidence folder written by 'hsmvault-witness export'.", HelpName = "url|dir" };
    private readonly Option<string> _namespace = new("--namespace") { Description = "The log's namespace.", HelpName = "ns" };
    private readonly Option<int> _epochs = new("--epochs") { Description = $"How many of the newest epochs to verify (1 to {MaxEpochs}).", DefaultValueFactory = _ => 50, HelpName = "n" };
    private readonly Option<string> _witnessKey = new("--witness-key") { Description = "The witness's vkey (name+keyid+key), or a file holding it.", HelpName = "vkey|path" };
    private readonly Option<string> _operatorKey = new("--operator-key") { Description = "The operator's P-256 public key in hex (65-byte SEC1 point), or a file holding it.", HelpName = "hex|path" };
    private readonly Option<string[]> _cosigners = new("--cosigner") { Description = "A further witness's cosignature vkey (type 0x04), or a file holding it. Repeatable.", HelpName = "vkey|path" };
    private readonly Option<int?> _quorum = new("--quorum") { Description = "How many of the --cosigner keys must have cosigned the latest checkpoint (default: all given).", HelpName = "k" };
    private readonly Option<string> _state = new("--state") { Description = "A state file of what the last passing audit saw (newest epoch and checkpoint): the log must be consistent with it; updated when this audit passes.", HelpName = "path" };

    public Command Build()
    {
        var command = new Command(
            "audit",
            "Verify the newest epochs of a fleet-key transparency log: each epoch's fleet-key file against its digest, the witness signature, the operator's counter-signature, inclusion in the log, " +
            "and consistency between the witness's checkpoints; then print how the fleet keys and roles changed from epoch to epoch. Exits 10 naming the epoch and the check that failed.")
        {
            _log, _namespace, _epochs, _witnessKey, _operatorKey, _cosigners, _quorum, _state,
        };
        command.SetAction(RunAsync);
        return command;
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        string log = Require(parse.GetValue(_log), "--log", "the witness URL or evidence folder");
        TransparencyTrust trust = Trust(parse);
        int epochs = parse.GetValue(_epochs);
        if (epochs is < 1 or > MaxEpochs)
        {
            throw new CliInputException($"--epochs: {epochs} is not from 1 to {MaxEpochs}");
        }

        NewestEpochFile? state = null;
        if (parse.GetValue(_state) is { } statePath)
        {
            try
            {
                state = NewestEpochFile.Open(statePath);
            }
            catch (TransparencyFormatException ex)
            {
                throw new CliInputException($"--state: '{statePath}': {ex.Message}");
            }
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        AuditReport report;
        try
        {
            ILogEvidence evidence = Uri.TryCreate(log, UriKind.Absolute, out Uri? url) && url.Scheme is "http" or "https"
                ? new HttpLogEvidence(http, url)
                : new DirectoryLogEvidence(log);
            await console.Error.WriteLineAsync($"auditing {trust.Namespace} at {evidence.Location} (the newest {epochs} epochs)").ConfigureAwait(false);
            report = await new LogAuditor(trust, evidence).AuditAsync(epochs, state, new ProgressLines(console.Error), cancellationToken).ConfigureAwait(false);
        }
        catch (LogEvidenceUnavailableException ex)
        {
            await console.Error.WriteLineAsync($"hsmvault: audit: the log cannot be read: {ex.Message}").ConfigureAwait(false);
            return CliExitCode.Unavailable;
        }

        if (report.Epochs.Count > 0)
        {
            await console.Out.WriteAsync(Table(report.Epochs, report.FleetKeysBeforeWindow)).ConfigureAwait(false);
        }

        foreach (AuditFailure failure in report.Failures)
        {
            await console.Error.WriteLineAsync($"hsmvault: audit failed: {failure.Describe()}").ConfigureAwait(false);
        }

        if (report.Passed)
        {
            await console.Error.WriteLineAsync($"audit passed: {report.Epochs.Count} epochs ({report.Epochs[0].Epoch} to {report.Epochs[^1].Epoch}) of {trust.Namespace}, checkpoint of {report.Latest!.Size} entries").ConfigureAwait(false);
            return CliExitCode.Success;
        }

        await console.Error.WriteLineAsync($"audit FAILED: {report.Failures.Count} failed check(s) in {trust.Namespace}").ConfigureAwait(false);
        return CliExitCode.AuditFailed;
    }

    /// <summary>The table of epochs and how their fleet keys changed.</summary>
    internal static string Table(IReadOnlyList<AuditedEpoch> epochs, FleetKeySet? before)
    {
        string[] header = ["EPOCH", "ENTRY", "FLEET", "DIGEST", .. Enum.GetValues<FleetKeyRole>().Select(r => FleetKeySet.RoleName(r).ToUpperInvariant()), "CHECKS", "CHANGE"];
        var rows = new List<string[]> { header };
        FleetKeySet? previous = before;
        foreach (AuditedEpoch epoch in epochs)
        {
            rows.Add(
            [
                epoch.Epoch.ToString(CultureInfo.InvariantCulture),
                epoch.Index.ToString(CultureInfo.InvariantCulture),
                epoch.FleetKeys.FleetId,
                Short(epoch.FleetKeysDigest),
                .. Enum.GetValues<FleetKeyRole>().Select(role => Short(epoch.FleetKeys.PublicKey(role))),
                epoch.Passed ? "ok" : "FAILED",
                FleetKeyChange.Describe(previous, epoch.FleetKeys),
            ]);
            previous = epoch.FleetKeys;
        }

        int[] widths = [.. Enumerable.Range(0, header.Length).Select(column => rows.Max(row => row[column].Length))];
        return string.Concat(rows.Select(row => string.Join("  ", row.Select((cell, column) => column == row.Length - 1 ? cell : cell.PadRight(widths[column]))).TrimEnd() + "\n"));
    }

    private TransparencyTrust Trust(ParseResult parse)
    {
        string ns = Require(parse.GetValue(_namespace), "--namespace", "the log's namespace");
        if (!FleetNamespace.IsValid(ns))
        {
            throw new CliInputException($"--namespace: '{ns}' is not a namespace (a-z, 0-9, '.', '-', '_', at most {FleetNamespace.MaxLength})");
        }

        NoteVerifierKey witness = VerifierKey(Require(parse.GetValue(_witnessKey), "--witness-key", "the witness's vkey"), "--witness-key");
        string operatorText = ValueOrFile(Require(parse.GetValue(_operatorKey), "--operator-key", "the operator's public key"));
        OperatorKey operatorKey;
        try
        {
            operatorKey = OperatorKey.Parse(operatorText);
        }
        catch (FormatException ex)
        {
            throw new CliInputException($"--operator-key: {ex.Message}");
        }

        NoteVerifierKey[] cosigners = [.. (parse.GetValue(_cosigners) ?? []).Select(c => VerifierKey(c, "--cosigner"))];
        int quorum = parse.GetValue(_quorum) ?? cosigners.Length;
        try
        {
            return new TransparencyTrust(ns, witness, operatorKey, cosigners, quorum);
        }
        catch (ArgumentException ex)
        {
            throw new CliInputException(ex.ParamName is "cosignerQuorum" ? $"--quorum: {quorum}, must be 0 to the number of --cosigner keys ({cosigners.Length})" : $"{(ex.ParamName == "witness" ? "--witness-key" : "--cosigner")}: {ex.Message.Split(" (Parameter", 2)[0]}");
        }
    }

    private static NoteVerifierKey VerifierKey(string value, string option)
    {
        try
        {
            return NoteVerifierKey.Parse(ValueOrFile(value));
        }
        catch (NoteFormatException ex)
        {
            throw new CliInputException($"{option}: {ex.Message}");
        }
    }

    // A value that names an existing file is read from it, so a key can be given as text or as its file.
    private static string ValueOrFile(string value)
    {
        try
        {
            return File.Exists(value) ? File.ReadAllText(value).Trim() : value.Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliInputException($"'{value}': cannot be read ({ex.Message})");
        }
    }

    private static string Require(string? value, string option, string what) =>
        string.IsNullOrWhiteSpace(value) ? throw new CliInputException($"{option}: required ({what})", isUsage: true) : value;

    private static string Short(byte[] bytes) => Convert.ToHexStringLower(bytes)[..12] + "\u2026";

    private sealed class ProgressLines(TextWriter error) : IProgress<AuditProgress>
    {
        public void Report(AuditProgress value) => error.WriteLine(value.Total == 0 || value.Done == 0 ? $"audit: {value.Step}" : $"audit: [{value.Done}/{value.Total}] {value.Step}");
    }
}
