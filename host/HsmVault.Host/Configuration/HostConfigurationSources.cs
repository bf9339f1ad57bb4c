using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace HsmVault.Host.Configuration;

/// <summary>
/// Loads the host's configuration sources (appsettings.json, <c>--config FILE</c>, <c>HSMVAULT_</c>
/// environment variables, the command line) and checks them before anything binds: an unreadable
/// or malformed file, a stray argument and every unknown key each become one plain sentence naming
/// the input, so the operator sees all of them at once instead of a crash or a silently used default.
/// </summary>
internal static class HostConfigurationSources
{
    /// <summary>The section whose keys are not checked: the logging providers own it.</summary>
    public const string LoggingSection = "Logging";

    /// <summary>The host's option sections and the options type each binds to.</summary>
    public static readonly IReadOnlyDictionary<string, Type> Sections = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase)
    {
        [ClientListenerOptions.Section] = typeof(ClientListenerOptions),
        [HsmOptions.Section] = typeof(HsmOptions),
        [StoreOptions.Section] = typeof(StoreOptions),
        [HealthOptions.Section] = typeof(HealthOptions),
        [Fleet.FleetOptions.Section] = typeof(Fleet.FleetOptions),
        [Transparency.TransparencyOptions.Section] = typeof(Transparency.TransparencyOptions),
    };

    // What a misspelling is compared with; the logging keys the docs name are included so they get suggestions too.
    private static readonly string[] KnownKeys =
    [
        .. Sections.SelectMany(s => OptionsBinder.Options(s.Value).Select(p => s.Key + ":" + p.Name)),
        "Logging:LogLevel:Default",
        "Logging:Console:FormatterName",
    ];

    /// <summary>
    /// Adds every source to <paramref name="configuration"/>, later ones winning, and returns the
    /// problems found (empty when all inputs are usable).
    /// </summary>
    public static List<string> Add(IConfigurationBuilder configuration, string[] args, string appSettingsPath, string environmentPrefix)
    {
        List<string> problems = [];
        (string? configFile, List<string> settings) = SplitArguments(args, problems);

        if (LoadJson(appSettingsPath, appSettingsPath, optional: true, problems) is { } defaults)
        {
            CheckKeys(defaults, key => $"{key} (in {appSettingsPath})", strictRoot: true, problems);
            configuration.AddConfiguration(defaults);
        }

        if (configFile is not null && LoadJson(Path.GetFullPath(configFile), "--config " + configFile, optional: false, problems) is { } file)
        {
            CheckKeys(file, key => $"{key} (in {configFile})", strictRoot: true, problems);
            configuration.AddConfiguration(file);
        }

        // Other HsmVault tools share the prefix (HSMVAULT_PKCS11_LIBRARY): only the host's own sections are checked.
        IConfigurationRoot environment = new ConfigurationBuilder().AddEnvironmentVariables(environmentPrefix).Build();
        CheckKeys(environment, key => environmentPrefix + key.Replace(":", "__", StringComparison.Ordinal), strictRoot: false, problems);
        configuration.AddConfiguration(environment);

        IConfigurationRoot commandLine = new ConfigurationBuilder().AddCommandLine([.. settings]).Build();
        CheckKeys(commandLine, key => "--" + key, strictRoot: true, problems);
        configuration.AddConfiguration(commandLine);
        return problems;
    }

    /// <summary>Separates <c>--config FILE</c> from the <c>--Section:Option=value</c> settings; anything else is a problem.</summary>
    private static (string? ConfigFile, List<string> Settings) SplitArguments(string[] args, List<string> problems)
    {
        string? configFile = null;
        List<string> settings = [];
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            bool valueFollows = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            if (arg == "--config")
            {
                if (valueFollows)
                {
                    configFile = args[++i];
                }
                else
                {
                    problems.Add("--config: give the JSON file after it, e.g. --config /etc/hsmvault/host.json");
                }
            }
            else if (arg.StartsWith("--config=", StringComparison.Ordinal))
            {
                configFile = arg["--config=".Length..];
                if (configFile.Length == 0)
                {
                    problems.Add("--config=: give the JSON file, e.g. --config=/etc/hsmvault/host.json");
                    configFile = null;
                }
            }
            else if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2 || arg[2] == '=')
            {
                problems.Add($"'{arg}': unexpected argument; settings are written --Section:Option=value (see --help)");
            }
            else if (arg.Contains('=', StringComparison.Ordinal))
            {
                settings.Add(arg);
            }
            else if (valueFollows)
            {
                settings.Add(arg);
                settings.Add(args[++i]);
            }
            else
            {
                problems.Add($"{arg}: no value; write {arg}=value");
            }
        }

        return (configFile, settings);
    }

    private static IConfigurationRoot? LoadJson(string path, string name, bool optional, List<string> problems)
    {
        if (Directory.Exists(path))
        {
            problems.Add($"{name}: is a directory, not a JSON file");
            return null;
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            if (!optional)
            {
                problems.Add($"{name}: the file does not exist");
            }

            return null;
        }
        catch (UnauthorizedAccessException)
        {
            problems.Add($"{name}: the file cannot be read (permission denied)");
            return null;
        }
        catch (IOException ex)
        {
            problems.Add($"{name}: the file cannot be read ({ex.Message})");
            return null;
        }

        try
        {
            // The same leniency as the configuration JSON provider: comments and trailing commas are fine.
            using JsonDocument document = JsonDocument.Parse(bytes, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"{name}: not a configuration file; it must hold one JSON object, e.g. {{ \"Hsm\": {{ \"Endpoint\": \"unix:/run/hsmvault/hsm.sock\" }} }}");
                return null;
            }
        }
        catch (JsonException ex)
        {
            string where = ex.LineNumber is long line ? $" at line {line + 1}, column {(ex.BytePositionInLine ?? 0) + 1}" : string.Empty;
            problems.Add($"{name}: not valid JSON{where}");
            return null;
        }

        try
        {
            return new ConfigurationBuilder().AddJsonStream(new MemoryStream(bytes)).Build();
        }
        catch (FormatException)
        {
            // Valid JSON the configuration provider still refuses: a key given twice (keys ignore case).
            problems.Add($"{name}: a key is given twice (keys ignore case)");
            return null;
        }
    }

    private static void CheckKeys(IConfiguration source, Func<string, string> display, bool strictRoot, List<string> problems)
    {
        foreach ((string key, string? value) in source.AsEnumerable())
        {
            if (value is null)
            {
                continue;
            }

            string[] parts = key.Split(':');
            if (parts[0].Equals(LoggingSection, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (Sections.TryGetValue(parts[0], out Type? options))
            {
                if (parts.Length == 1)
                {
                    problems.Add($"{display(key)}: {parts[0]} is a section, not an option; set its options, e.g. {parts[0]}:{OptionsBinder.Options(options)[0].Name}");
                }
                else if (parts.Length > 2 || !OptionsBinder.Options(options).Any(p => p.Name.Equals(parts[1], StringComparison.OrdinalIgnoreCase)))
                {
                    problems.Add($"{display(key)}: unknown option{Suggestion(key)}");
                }
            }
            else if (strictRoot)
            {
                problems.Add($"{display(key)}: unknown option{Suggestion(key)}");
            }
        }
    }

    private static string Suggestion(string key)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string known in KnownKeys)
        {
            int distance = Distance(key.ToUpperInvariant(), known.ToUpperInvariant());
            if (distance < bestDistance)
            {
                (best, bestDistance) = (known, distance);
            }
        }

        // Close enough to be a typo: two edits, or more for long keys.
        return best is not null && bestDistance <= Math.Max(2, key.Length / 5) ? $"; did you mean {best}?" : string.Empty;
    }

    // Edit distance where swapping two neighbouring letters counts as one edit (optimal string alignment).
    private static int Distance(string a, string b)
    {
        int[,] d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
