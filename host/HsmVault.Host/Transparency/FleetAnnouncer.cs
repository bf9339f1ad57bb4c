using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using HsmVault.Host.Bridge;
using HsmVault.Host.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Transparency;
using HsmVault.Transparency.Epochs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HsmVault.Host.Transparency;

/// <summary>
/// Keeps the <see cref="FleetAnnouncement"/> this host gives clients: the channel key its HSM reports
/// and the newest validation bundle of its namespace, fetched from the witness (or a file) at start
/// and every <see cref="TransparencyOptions.RefreshInterval"/>. The host is not trusted with any of
/// it: a client checks the bundle against its own pins and seals to the bundle's channel key. The
/// host only refuses to relay what is not a bundle at all, and warns when the log's newest fleet
/// is not the one its HSM belongs to (clients that follow the log will then refuse this host).
/// </summary>
public sealed partial class FleetAnnouncer : BackgroundService
{
    private readonly TransparencyOptions _options;
    private readonly IHsmBridge _bridge;
    private readonly bool _fleetMember;
    private readonly ILogger<FleetAnnouncer> _logger;
    private readonly HttpClient? _http;
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);

    private FleetAnnouncement? _current;
    private string? _lastProblem;

    public FleetAnnouncer(TransparencyOptions options, IHsmBridge bridge, FleetOptions fleet, ILogger<FleetAnnouncer> logger)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _bridge = bridge ?? throw new ArgumentNullException(nameof(bridge));
        _fleetMember = (fleet ?? throw new ArgumentNullException(nameof(fleet))).Enabled;
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        if (!string.IsNullOrWhiteSpace(options.Witness))
        {
            _http = new HttpClient { Timeout = options.FetchTimeout, MaxResponseContentBufferSize = ValidationBundle.MaxBytes };
            _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        }
    }

    /// <summary>What the host announces now, or null before the first bundle was fetched.</summary>
    public FleetAnnouncement? Current => Volatile.Read(ref _current);

    /// <summary>Fetches the bundle and the HSM's channel key once; true when the announcement is current.</summary>
    public async Task<bool> RefreshAsync(CancellationToken cancellationToken)
    {
        string? problem;
        FleetAnnouncement? next = null;
        string? epoch = null;
        try
        {
            string json = await FetchBundleAsync(cancellationToken).ConfigureAwait(false);
            ValidationBundle bundle = ValidationBundle.Parse(json);
            byte[] channel = await ReadChannelKeyAsync(cancellationToken).ConfigureAwait(false);
            next = new FleetAnnouncement { ChannelPublicKey = ByteString.CopyFrom(channel), ValidationBundle = json };
            epoch = $"epoch {bundle.Entry.Statement.Epoch} of {bundle.Entry.Statement.Namespace}, fleet {bundle.Entry.FleetKeys.FleetId}";
            problem = CryptographicOperations.FixedTimeEquals(bundle.Entry.FleetKeys.ChannelPublicKey, channel)
                ? null
                : $"the newest bundle (epoch {bundle.Entry.Statement.Epoch}, fleet {bundle.Entry.FleetKeys.FleetId}) names another channel key than this host's HSM; clients that follow the log will refuse this host";
        }
        catch (TransparencyFormatException ex)
        {
            problem = $"the bundle is not one: {ex.Message}; keeping the last good one";
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or UnauthorizedAccessException or TaskCanceledException or HsmUnavailableException or AnnouncerException)
        {
            problem = $"{ex.Message}; keeping the last good one";
        }

        if (next is not null)
        {
            FleetAnnouncement? previous = Interlocked.Exchange(ref _current, next);
            if (previous is null || previous.ValidationBundle != next.ValidationBundle)
            {
                LogAnnouncing(epoch!);
            }
        }

        if (problem != _lastProblem)
        {
            _lastProblem = problem;
            if (problem is not null)
            {
                LogProblem(problem);
            }
        }

        return next is not null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            bool current = await RefreshAsync(stoppingToken).ConfigureAwait(false);

            // Until the first announcement (the HSM still starting, the witness not yet up), try
            // again soon; after it, a failed refresh keeps the last good one until the next round.
            TimeSpan wait = current || Current is not null ? _options.RefreshInterval : Min(_options.RefreshInterval, FirstRetry);
            try
            {
                await Task.Delay(wait, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public override void Dispose()
    {
        _http?.Dispose();
        base.Dispose();
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private async Task<string> FetchBundleAsync(CancellationToken cancellationToken)
    {
        if (_http is null)
        {
            var file = new FileInfo(_options.BundleFile);
            if (file.Exists && file.Length > ValidationBundle.MaxBytes)
            {
                throw new AnnouncerException($"Transparency:BundleFile {_options.BundleFile}: more than {ValidationBundle.MaxBytes} bytes");
            }

            return await File.ReadAllTextAsync(_options.BundleFile, Encoding.UTF8, cancellationToken).ConfigureAwait(false);
        }

        Uri url = _options.BundleUrl();
        using HttpResponseMessage response = await _http.GetAsync(url, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new AnnouncerException($"the witness answered {(int)response.StatusCode} for {url}");
        }

        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<byte[]> ReadChannelKeyAsync(CancellationToken cancellationToken)
    {
        EnclaveRequest request = _fleetMember
            ? new EnclaveRequest { FleetState = new FleetStateQuery() }
            : new EnclaveRequest { State = new StateQuery() };
        EnclaveResponse response = await _bridge.SendAsync(request, cancellationToken).ConfigureAwait(false);
        ByteString key = response.KindCase switch
        {
            EnclaveResponse.KindOneofCase.State => response.State.ChannelPublicKey,
            EnclaveResponse.KindOneofCase.FleetState => response.FleetState.ChannelPublicKey,
            _ => ByteString.Empty,
        };
        return key.Length == 65 ? key.ToByteArray() : throw new AnnouncerException($"the HSM did not report its channel key ({response.KindCase})");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Announcing the validation bundle of {Epoch}")]
    private partial void LogAnnouncing(string epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fleet announcement: {Problem}")]
    private partial void LogProblem(string problem);

    private sealed class AnnouncerException(string message) : Exception(message);
}
