using System.Text;
using HsmVault.Transparency.Checkpoints;

namespace HsmVault.Transparency.Epochs;

/// <summary>
/// Builds validation bundles from a log, and writes a window of a log as an evidence folder in
/// the <see cref="LogPaths"/> tree: what <c>hsmvault audit --log DIR</c> reads.
/// </summary>
public static class LogEvidence
{
    /// <summary>The bundle of the entry at <paramref name="index"/>, proven against the latest checkpoint.</summary>
    public static ValidationBundle Bundle(ILogSnapshot log, long index)
    {
        ArgumentNullException.ThrowIfNull(log);
        return new ValidationBundle(log.Entry(index), new TlogProof(index, log.InclusionProof(index, log.Size), log.CheckpointAt(log.Size)));
    }

    /// <summary>
    /// Writes the last <paramref name="epochs"/> entries of <paramref name="log"/> under
    /// <paramref name="directory"/>: the latest checkpoint and bundle; each entry of the window and
    /// the one before it; each checkpoint from the one before the window to the latest; an
    /// inclusion proof of each entry in the latest tree; and the consistency proof between each
    /// two successive checkpoints. Returns the number of files written.
    /// </summary>
    public static int WriteFolder(ILogSnapshot log, int epochs, string directory)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epochs);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        long size = log.Size;
        if (size == 0)
        {
            throw new InvalidOperationException($"namespace {log.Namespace}: the log has no entry yet");
        }

        string ns = log.Namespace;
        long first = Math.Max(0, size - epochs);
        int files = 0;
        void Write(string path, string content)
        {
            string full = Path.Combine(directory, path.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, content, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            files++;
        }

        Write(LogPaths.Checkpoint(ns), log.CheckpointAt(size).ToString());
        Write(LogPaths.Bundle(ns), Bundle(log, size - 1).ToJson());
        for (long index = Math.Max(0, first - 1); index < size; index++)
        {
            Write(LogPaths.Entry(ns, index), log.Entry(index).ToJson());
        }

        for (long index = first; index < size; index++)
        {
            Write(LogPaths.InclusionProof(ns, index, size), LogPaths.FormatProof(log.InclusionProof(index, size)));
        }

        for (long at = Math.Max(1, first); at <= size; at++)
        {
            Write(LogPaths.CheckpointAt(ns, at), log.CheckpointAt(at).ToString());
            if (at < size)
            {
                Write(LogPaths.ConsistencyProof(ns, at, at + 1), LogPaths.FormatProof(log.ConsistencyProof(at, at + 1)));
            }
        }

        return files;
    }
}
