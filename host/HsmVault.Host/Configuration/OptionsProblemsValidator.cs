using Microsoft.Extensions.Options;

namespace HsmVault.Host.Configuration;

/// <summary>
/// Runs an options class's own <c>Problems()</c> check inside the options framework, so
/// <c>ValidateOnStart</c> reports every bad option of every section in one go.
/// </summary>
internal sealed class OptionsProblemsValidator<T> : IValidateOptions<T>
    where T : class
{
    private readonly Func<T, IReadOnlyList<string>> _problems;

    public OptionsProblemsValidator(Func<T, IReadOnlyList<string>> problems)
    {
        _problems = problems ?? throw new ArgumentNullException(nameof(problems));
    }

    public ValidateOptionsResult Validate(string? name, T options)
    {
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<string> problems = _problems(options);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
