using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HsmVault.Transparency;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;

namespace HsmVault.Witness;

/// <summary>
/// The witness as a cosigner of other logs, c2sp.org/tlog-witness <c>add-checkpoint</c>: for each
/// log it is configured with (origin and log key) it keeps the latest checkpoint it cosigned and
/// cosigns a new one only if it is signed by that log's key and proven consistent with the last.
/// The check of the old size and the write of the new checkpoint are one step, so two concurrent
/// requests cannot roll its view back. Its cosigning key (type 0x04) is not the log key.
/// </summary>
internal sealed class CheckpointCosigner
{
    private readonly Lock _lock = new();
    private readonly WitnessStore _store;
    private readonly NoteSigningKey _key;
    private readonly IReadOnlyDictionary<string, NoteVerifierKey> _logs;
    private readonly TimeProvider _clock;

    public CheckpointCosigner(WitnessStore store, NoteSigningKey key, IReadOnlyDictionary<string, NoteVerifierKey> logs, TimeProvider clock)
    {
        _store = store;
        _key = key;
        _logs = logs;
        _clock = clock;
    }

    /// <summary>The cosigner's public key (type 0x04).</summary>
    public NoteVerifierKey VerifierKey => _key.Verifier;

    /// <summary>Answers one add-checkpoint request body with the status, body and content type the specification gives.</summary>
    public (int Status, string Body, string ContentType) AddCheckpoint(string body)
    {
        const string Text = "text/plain; charset=utf-8";
        if (!TryReadRequest(body, out long oldSize, out List<byte[]> proof, out SignedNote? note, out string? problem))
        {
            return (400, problem + "\n", Text);
        }

        Checkpoint checkpoint;
        try
        {
            checkpoint = Checkpoint.Parse(note.Text);
        }
        catch (NoteFormatException ex)
        {
            return (400, ex.Message + "\n", Text);
        }

        if (!_logs.TryGetValue(checkpoint.Origin, out NoteVerifierKey? logKey))
        {
            return (404, $"unknown origin {checkpoint.Origin}\n", Text);
        }

        try
        {
            note.Verify([logKey]);
        }
        catch (NoteVerificationException ex)
        {
            return (403, ex.Message + "\n", Text);
        }

        if (oldSize > checkpoint.Size)
        {
            return (400, $"old size {oldSize} is above the checkpoint size {checkpoint.Size}\n", Text);
        }

        lock (_lock)
        {
            (long Size, string Note)? latest = _store.Cosigned(checkpoint.Origin);
            long latestSize = latest?.Size ?? 0;
            if (oldSize != latestSize)
            {
                return (409, latestSize.ToString(CultureInfo.InvariantCulture) + "\n", "text/x.tlog.size");
            }

            if (checkpoint.Size == 0 && !checkpoint.RootHash.AsSpan().SequenceEqual(Rfc6962.EmptyRoot))
            {
                return (422, "a checkpoint of size 0 must have the empty tree's root\n", Text);
            }

            byte[] oldRoot = latest is { } known ? Checkpoint.Parse(SignedNote.Parse(known.Note).Text).RootHash : Rfc6962.EmptyRoot.ToArray();
            bool consistent = oldSize == 0
                ? proof.Count == 0
                : Rfc6962.VerifyConsistency(oldSize, checkpoint.Size, proof, oldRoot, checkpoint.RootHash);
            if (!consistent)
            {
                return (422, $"the checkpoint of size {checkpoint.Size} is not proven consistent with the cosigned size {oldSize}\n", Text);
            }

            ulong now = (ulong)_clock.GetUtcNow().ToUnixTimeSeconds();
            NoteSignature cosignature = Cosignature.Sign(_key, now, note.Text);
            SignedNote kept = note.WithSignatures([cosignature]);
            if (!_store.ReplaceCosigned(checkpoint.Origin, latestSize, checkpoint.Size, kept.ToString()))
            {
                return (409, _store.Cosigned(checkpoint.Origin)!.Value.Size.ToString(CultureInfo.InvariantCulture) + "\n", "text/x.tlog.size");
            }

            return (200, cosignature.ToLine(), Text);
        }
    }

    /// <summary>The latest checkpoint cosigned for the log whose origin hashes to <paramref name="originHash"/> (lower-case hex), or null.</summary>
    public string? LatestCosigned(string originHash)
    {
        foreach (string origin in _logs.Keys)
        {
            if (Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(origin))) == originHash)
            {
                return _store.Cosigned(origin)?.Note;
            }
        }

        return null;
    }

    private static bool TryReadRequest(string body, out long oldSize, out List<byte[]> proof, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SignedNote? note, out string? problem)
    {
        oldSize = 0;
        proof = [];
        note = null;
        problem = null;
        int end = body.IndexOf('\n', StringComparison.Ordinal);
        string first = end < 0 ? body : body[..end];
        string number = first.StartsWith("old ", StringComparison.Ordinal) ? first[4..] : string.Empty;
        if (number.Length == 0 || !number.All(char.IsAsciiDigit) || (number.Length > 1 && number[0] == '0')
            || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out oldSize))
        {
            problem = "the first line must be 'old N'";
            return false;
        }

        int position = end + 1;
        var lines = new StringBuilder();
        while (true)
        {
            int next = body.IndexOf('\n', position);
            if (next < 0)
            {
                problem = "the request ends before the checkpoint";
                return false;
            }

            string line = body[position..next];
            position = next + 1;
            if (line.Length == 0)
            {
                break;
            }

            lines.Append(line).Append('\n');
        }

        try
        {
            proof = [.. LogPaths.ParseProof(lines.ToString(), "consistency proof")];
        }
        catch (TransparencyFormatException ex)
        {
            problem = ex.Message;
            return false;
        }

        try
        {
            note = SignedNote.Parse(body[position..]);
            return true;
        }
        catch (NoteFormatException ex)
        {
            problem = ex.Message;
            return false;
        }
    }
}
