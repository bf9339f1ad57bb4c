using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Notes;

namespace HsmVault.Client.Transparency;

/// <summary>
/// The checks a checkpoint note must pass before anything is proven against it, shared by the
/// bundle verifier and the auditor: the pinned witness signed it, its origin is the pinned
/// namespace's, and at least the quorum of pinned cosigners cosigned it (a known cosigner whose
/// line does not verify fails it, as signed-note asks).
/// </summary>
internal static class CheckpointVerification
{
    /// <summary>The outcome: <see cref="Checkpoint"/> is set when the witness part passed; <see cref="CosignerProblem"/> is null when the quorum is met.</summary>
    internal sealed record Outcome(Checkpoint? Checkpoint, string? WitnessProblem, IReadOnlyList<string> Cosigners, string? CosignerProblem);

    public static Outcome Check(TransparencyTrust trust, SignedNote note)
    {
        Checkpoint checkpoint;
        try
        {
            checkpoint = Checkpoint.Parse(note.Text);
        }
        catch (NoteFormatException ex)
        {
            return new Outcome(null, ex.Message, [], null);
        }

        try
        {
            note.Verify([trust.Witness]);
        }
        catch (NoteVerificationException ex)
        {
            return new Outcome(null, $"not signed by the pinned witness {trust.Witness.Name} ({ex.Message})", [], null);
        }

        if (checkpoint.Origin != trust.Origin)
        {
            return new Outcome(null, $"origin '{checkpoint.Origin}' is not the pinned log's '{trust.Origin}'", [], null);
        }

        var valid = new List<string>();
        string? problem = null;
        byte[] text = note.TextBytes;
        foreach (NoteVerifierKey cosigner in trust.Cosigners)
        {
            NoteSignature? line = note.Signatures.FirstOrDefault(s => s.Name == cosigner.Name && s.KeyId == cosigner.KeyId);
            if (line is null)
            {
                continue;
            }

            if (cosigner.Verify(text, line.Signature))
            {
                valid.Add(cosigner.Name);
            }
            else
            {
                problem = $"the cosignature of {cosigner.Name} does not verify";
            }
        }

        if (problem is null && valid.Count < trust.CosignerQuorum)
        {
            problem = $"pinned cosigners: {string.Join(", ", trust.Cosigners.Select(c => c.Name))}";
        }

        return new Outcome(checkpoint, null, valid, problem);
    }
}
