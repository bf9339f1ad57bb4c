namespace HsmVault.Fuzz;

/// <summary>
/// One fuzz target: a function from bytes to "a typed error or a valid answer". <see cref="Run"/>
/// returns a short label of what the input ended in (for example <c>frame:Truncated</c> or
/// <c>enclave:ok</c>); every documented refusal is caught inside and becomes a label. Anything else
/// escapes as an exception and is a finding: an untyped exception from the code under test, or a
/// <see cref="FuzzFindingException"/> the harness throws when an answer breaks an invariant (an
/// enclave's catch-all answer, a forged Merkle proof that was believed, a round trip that differs).
/// </summary>
public abstract class FuzzTarget
{
    /// <summary>The name on the command line and the corpus folder: fuzz/corpus/&lt;name&gt;.</summary>
    public abstract string Name { get; }

    /// <summary>One line: what the input is fed to.</summary>
    public abstract string Feeds { get; }

    /// <summary>The assemblies (file names without .dll) whose code afl-fuzz should see as coverage.</summary>
    public virtual IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Protocol", "Google.Protobuf"];

    /// <summary>Most bytes one input may allocate on its thread (the replay test enforces it).</summary>
    public virtual long AllocationLimitBytes => 16L << 20;

    /// <summary>Longest one input may take in the replay test, on a loaded 2-core machine.</summary>
    public virtual TimeSpan TimeLimit => TimeSpan.FromSeconds(2);

    /// <summary>Builds what every input shares (keys, a registered user, a formed fleet); called once, not timed.</summary>
    public virtual void Prepare()
    {
    }

    /// <summary>Runs one input; returns the outcome label, throws on a finding.</summary>
    public abstract string Run(ReadOnlySpan<byte> input);

    /// <summary>Hand-made and protocol-made starting inputs for afl-fuzz, by file name.</summary>
    public abstract IEnumerable<(string Name, byte[] Data)> Seeds();
}

/// <summary>An answer that is typed but wrong: an invariant the harness checks did not hold.</summary>
public sealed class FuzzFindingException(string message) : Exception(message);
