using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace HsmVault.Host.Configuration;

/// <summary>
/// Binds one configuration section onto an options object, property by property, and collects a
/// plain sentence for every value that does not convert (naming the key and the value) instead of
/// stopping at the first one with the configuration binder's .NET exception text.
/// </summary>
internal static class OptionsBinder
{
    /// <summary>The settable properties of <paramref name="type"/>: the option names of its section.</summary>
    public static IReadOnlyList<PropertyInfo> Options(Type type) =>
        [.. type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite && p.SetMethod!.IsPublic)];

    /// <summary>Sets every option of <paramref name="target"/> that <paramref name="section"/> gives; adds a problem for each value that does not convert.</summary>
    public static void Bind(IConfigurationSection section, object target, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(target);
        foreach (PropertyInfo property in Options(target.GetType()))
        {
            string? text = section[property.Name];
            if (text is null)
            {
                continue;
            }

            string key = section.Path + ":" + property.Name;
            if (TryConvert(text, property.PropertyType, out object? value, out string? expected))
            {
                property.SetValue(target, value);
            }
            else
            {
                problems.Add($"{key}: '{text}' is not {expected}");
            }
        }
    }

    private static bool TryConvert(string text, Type type, out object? value, out string? expected)
    {
        Type target = Nullable.GetUnderlyingType(type) ?? type;
        value = null;
        expected = null;
        if (target == typeof(string))
        {
            value = text;
            return true;
        }

        string trimmed = text.Trim();
        if (target == typeof(int))
        {
            if (int.TryParse(trimmed, NumberStyles.Integer, CultureInfo.InvariantCulture, out int number))
            {
                value = number;
                return true;
            }

            expected = long.TryParse(trimmed, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                ? $"a usable number (the largest is {int.MaxValue})"
                : "a whole number";
            return false;
        }

        if (target == typeof(bool))
        {
            if (bool.TryParse(trimmed, out bool flag))
            {
                value = flag;
                return true;
            }

            expected = "true or false";
            return false;
        }

        if (target == typeof(TimeSpan))
        {
            // The same invariant hh:mm:ss[.fff] form the configuration binder reads.
            if (TimeSpan.TryParse(trimmed, CultureInfo.InvariantCulture, out TimeSpan duration))
            {
                value = duration;
                return true;
            }

            expected = "a duration; write hh:mm:ss, e.g. 00:00:10 or 00:00:00.250";
            return false;
        }

        // Every option type is listed above; a new one must be added here, not silently skipped.
        throw new NotSupportedException($"{type.Name} options are not supported by {nameof(OptionsBinder)}");
    }
}
