using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;

namespace HsmVault.Testing;

/// <summary>
/// A throw-away PostgreSQL cluster for tests: <c>initdb</c> in a temporary directory, the server on
/// 127.0.0.1 only (its socket in that directory too), password logins over TCP. As root the server
/// runs as the <c>postgres</c> OS user, since PostgreSQL refuses to run as root. Dispose stops it
/// (<c>pg_ctl stop -m fast</c>) and deletes the directory.
/// </summary>
public sealed class PostgresCluster : IDisposable
{
    /// <summary>The superuser the tests connect as.</summary>
    public const string User = "postgres";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly string _bin;
    private readonly string _dataDirectory;
    private bool _stopped;

    private PostgresCluster(string bin, string directory, int port, string password)
    {
        _bin = bin;
        Directory = directory;
        _dataDirectory = Path.Combine(directory, "data");
        Port = port;
        Password = password;
    }

    /// <summary>The temporary directory: the data directory, the socket and the server log.</summary>
    public string Directory { get; }

    /// <summary>The loopback TCP port the server listens on.</summary>
    public int Port { get; }

    /// <summary>The superuser's password (random for each cluster).</summary>
    public string Password { get; }

    /// <summary>The server log, for a failure message.</summary>
    public string Log => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "(no server log)";

    private string LogPath => Path.Combine(Directory, "server.log");

    /// <summary>Creates and starts a cluster; throws with the server log if it does not come up.</summary>
    public static PostgresCluster Start()
    {
        string bin = FindBinaries();
        string directory = System.IO.Directory.CreateTempSubdirectory("hsmvault-pg-").FullName;
        string password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var cluster = new PostgresCluster(bin, directory, Loopback.FreePort(), password);
        try
        {
            cluster.Initialize();
            cluster.Launch();
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>An Npgsql connection string for <paramref name="database"/> as the superuser, with its password.</summary>
    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Database = database,
        Username = User,
        Password = Password,
        Timeout = 10,
    }.ConnectionString;

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public string CreateDatabase(string name)
    {
        using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        connection.Open();

        // A database name cannot be a parameter; the tests' names are plain identifiers.
        if (!name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            throw new ArgumentException($"name: '{name}' must be lower-case letters, digits and _", nameof(name));
        }

        using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        command.ExecuteNonQuery();
        return ConnectionString(name);
    }

    /// <summary>Stops the server (fast shutdown: open sessions are ended); the directory stays until Dispose.</summary>
    public void Stop()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        NpgsqlConnection.ClearAllPools();
        if (File.Exists(Path.Combine(_dataDirectory, "postmaster.pid")))
        {
            Run("pg_ctl", ["stop", "-D", _dataDirectory, "-m", "fast", "-w", "-t", "60"], throwOnFailure: false);
        }
    }

    public void Dispose()
    {
        Stop();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left for the OS's temp cleaning; a test must not fail on it.
        }
    }

    private void Initialize()
    {
        string passwordFile = Path.Combine(Directory, "pwfile");
        File.WriteAllText(passwordFile, Password + "\n");
        if (IsRoot)
        {
            // The server runs as postgres: it must own the directory it creates the cluster in.
            Run("chown", ["-R", "postgres:postgres", Directory], asPostgres: false);
        }

        Run("initdb", ["-D", _dataDirectory, "-U", User, "--pwfile", passwordFile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-instructions"]);
        File.Delete(passwordFile);
    }

    private void Launch()
    {
        // Loopback only, the socket in our own directory (not /var/run/postgresql), and no fsync: a test cluster needs no durability.
        string options = $"-h 127.0.0.1 -p {Port} -k {Directory} -c fsync=off -c full_page_writes=off";
        Run("pg_ctl", ["start", "-D", _dataDirectory, "-l", LogPath, "-o", options, "-w", "-t", ((int)StartTimeout.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        // pg_ctl -w waits for the socket; also wait (bounded) for a TCP login to work, as the store will do.
        Stopwatch waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var connection = new NpgsqlConnection(ConnectionString("postgres"));
                connection.Open();
                return;
            }
            catch (NpgsqlException) when (waited.Elapsed < StartTimeout)
            {
                Thread.Sleep(100);
            }
            catch (NpgsqlException ex)
            {
                throw new InvalidOperationException($"the test PostgreSQL server on 127.0.0.1:{Port} did not accept logins within {StartTimeout}: {ex.Message}\n{Log}", ex);
            }
        }
    }

    private static bool IsRoot => OperatingSystem.IsLinux() && Environment.UserName == "root";

    private void Run(string tool, string[] arguments, bool asPostgres = true, bool throwOnFailure = true)
    {
        string file = asPostgres ? Path.Combine(_bin, tool) : tool;
        ProcessStartInfo start;
        if (asPostgres && IsRoot)
        {
            // PostgreSQL refuses to run as root.
            start = new ProcessStartInfo("runuser") { ArgumentList = { "-u", "postgres", "--", file } };
        }
        else
        {
            start = new ProcessStartInfo(file);
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;

        // The server's own output goes to its log file; pg_ctl must not hold our pipes open after it returns.
        start.RedirectStandardInput = false;
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)} did not finish within 120 s");
        }

        if (process.ExitCode != 0 && throwOnFailure)
        {
            throw new InvalidOperationException(
                $"{tool} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}: {output.Result}{error.Result}\n{(tool == "pg_ctl" ? Log : "")}");
        }
    }


    /// <summary>The directory holding initdb, pg_ctl and postgres: Debian's newest version, else the one on PATH.</summary>
    private static string FindBinaries()
    {
        List<string> candidates = [];
        if (System.IO.Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(System.IO.Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out int version) ? version : -1)
                .Select(d => Path.Combine(d, "bin")));
        }

        foreach (string entry in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string initdb = Path.Combine(entry, "initdb");
            if (File.Exists(initdb))
            {
                // /usr/local/bin/initdb may be a link into the real bin directory, where pg_ctl and postgres are.
                FileSystemInfo? target = new FileInfo(initdb).ResolveLinkTarget(returnFinalTarget: true);
                candidates.Add(Path.GetDirectoryName(target?.FullName ?? initdb)!);
            }
        }

        foreach (string candidate in candidates)
        {
            if (new[] { "initdb", "pg_ctl", "postgres" }.All(tool => File.Exists(Path.Combine(candidate, tool))))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            "The PostgreSQL server is not installed (no initdb, pg_ctl and postgres in /usr/lib/postgresql/*/bin or on PATH). " +
            "Install it with 'apt-get install postgresql' (Debian/Ubuntu), then run the tests again.");
    }
}
