namespace HsmVault.Host;

/// <summary>The text <c>--help</c> prints.</summary>
public static class HostUsage
{
    public const string Text = """
        hsmvault-host: the HsmVault host daemon. It relays client requests to the HSM in batches,
        keeps the sealed records, Merkle nodes and log in its store, and never sees a password,
        the backup key or a session key.

        Usage:
          dotnet HsmVault.Host.dll [--config FILE.json] [--Section:Option=value ...]

        Settings come from appsettings.json beside the binary, then --config FILE.json, then
        environment variables HSMVAULT_<Section>__<Option> (e.g. HSMVAULT_Hsm__Endpoint), then the
        command line (--Section:Option=value or --Section:Option value); later sources win.
        Durations are hh:mm:ss.

        Client listener (Host:)
          --Host:ListenAddress=IP            address to bind (default 127.0.0.1)
          --Host:Port=N                      TCP port (default 7300; 0 = any free port)
          --Host:MaxFrameBytes=N             largest request frame (default 16384) -> TOO_LARGE
          --Host:MaxUserIdBytes=N            longest user id (default 256)
          --Host:ReadTimeout=hh:mm:ss        a started frame / TLS handshake must finish within (default 00:00:10)
          --Host:IdleTimeout=hh:mm:ss        close a connection idle this long (default 00:01:00)
          --Host:WriteTimeout=hh:mm:ss       drop a client that does not read its response (default 00:00:10)
          --Host:MaxConnections=N            open connections; more get BUSY (default 1000)
          --Host:MaxInFlightRequests=N       requests in the pipeline; more get BUSY (default 256)
          --Host:DrainTimeout=hh:mm:ss       shutdown waits this long for in-flight requests (default 00:00:15)
          --Host:TlsCertificatePath=FILE     enable TLS: .pfx/.p12, or PEM certificate
          --Host:TlsKeyPath=FILE             PEM private key (when not inside the certificate file)
          --Host:TlsCertificatePassword=PW   PFX or encrypted-PEM password (prefer the environment variable)

        HSM bridge (Hsm:)
          --Hsm:Endpoint=unix:/path | tcp:host:port   the simulator / HSM bridge (required)
          --Hsm:ConnectTimeout=hh:mm:ss      (default 00:00:05)
          --Hsm:RequestTimeout=hh:mm:ss      one batch round trip (default 00:00:15)
          --Hsm:ReconnectDelay=hh:mm:ss      first pause between attempts while the HSM is down; later ones
                                             grow exponentially, with jitter (default 00:00:00.500)
          --Hsm:MaxReconnectDelay=hh:mm:ss   longest pause between attempts (default 00:00:05)
          --Hsm:MaxBatchOperations=N         operations per batch (default 64)
          --Hsm:MaxFrameBytes=N              largest bridge frame; batches are cut to fit (default 65536)
          --Hsm:BatchWindow=hh:mm:ss         extra wait to fill a batch (default 0)

        Store (Store:)
          --Store:Kind=sqlite|postgres       the store (default sqlite: one file on this machine)
          --Store:Path=FILE                  SQLite database (default hsmvault-host.db)
          --Store:ConnectionString=TEXT      PostgreSQL (or CockroachDB/YugabyteDB) database, e.g.
                                             Host=db1;Database=hsmvault;Username=hsmvault; the password
                                             here or in PGPASSWORD, never logged

        Health and metrics (Health:)
          --Health:Enabled=true|false        (default true)
          --Health:ListenAddress=IP          loopback only (default 127.0.0.1)
          --Health:Port=N                    HTTP port (default 7390): GET /health/live, /health/ready (and
                                             /health, the same) as JSON, /metrics in the Prometheus text format
          --Health:ProbeInterval=hh:mm:ss    an idle host checks the HSM and the store this often (default 00:00:02)
          --Health:ProbeTimeout=hh:mm:ss     a probe's HSM answer must arrive within (default 00:00:05)

        Logging
          --Logging:LogLevel:Default=Debug|Information|Warning
          --Logging:Console:FormatterName=json   structured JSON log lines

        Unknown options are refused (with a suggestion for a likely misspelling), and every problem
        with the settings is listed at once.

        Exit codes:
          0  clean shutdown (or --help)
          1  start-up failure: the store cannot be opened or is not a host store, a port is already
             in use, the TLS certificate cannot be loaded
          2  invalid configuration: a missing or malformed --config file, an unknown option, a value
             of the wrong type, an option out of range (restarting will not help: fix the settings)
        """;
}
