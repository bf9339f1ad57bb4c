#!/usr/bin/env pwsh

<#
.SYNOPSIS
    The one entry point for building, testing, benchmarking and running HsmVault.

.DESCRIPTION
    Run it through the PowerShell .NET local tool, so only the .NET SDK is needed:

        dotnet tool restore
        dotnet pwsh build.ps1 <target> [arguments]

    Targets:
        build            restore and build the whole solution (Release)
        test             check prerequisites (SoftHSM2, spin), run every test project, print
                         "tests: N passed, M failed" from the real results; non-zero exit
                         on any failure or when no test ran
        bench [what]     run a benchmark suite: crypto (default), enclave, e2e, fleet, ct, seal, scale; options
                         --quick (every suite shorter), --million (enclave: grow to 10^6
                         records), --clients N,N (e2e, fleet). e2e starts a simulator and a host as
                         real processes and drives 1, 8 and 64 concurrent clients (about 2
                         minutes); fleet measures, in one run, the single-HSM vault, a fleet of 1
                         and a fleet of 5 at 1, 8 and 64 clients, and the fleet of 5 without
                         batching (about 4 minutes). scale [--records 1000,100000,1000000]
                         [--store sqlite|postgres|both]: recovery latency through the host at each
                         vault size, seeded through the enclave (docs/PERFORMANCE.md, "Growth").
                         ct: the dudect constant-time test; seal: the XAES-256-GCM record seal
                         against plain GCM on the same token, in one run (docs/CRYPTO.md).
                         An unknown suite or option stops with exit 2
        fuzz --target T --minutes N
                         coverage-guided fuzzing of one decoder with SharpFuzz and AFL++ (installed
                         when missing and run as root); new corpus entries go to fuzz/corpus/T, which
                         a CI test replays. fuzz --list names the targets (docs/RELIABILITY.md)
        crash [opts]     the crash-consistency run: a fleet of 5 real processes, SIGKILLs of hosts
                         and simulators at seeded random moments and at the hosts' crash points
                         (after a batch, mid store transaction, after the store commit, after the
                         HSM's release); after each round every acknowledged registration must
                         recover and no acknowledged guess may be lost. --rounds N (default 5),
                         --ops N per round (default 40), --seed S (default: new, printed),
                         --store sqlite|postgres. Non-zero exit on any violation
        load [opts]      a load generator against a local fleet of real processes (simulators on
                         SoftHSM2 tokens, one host each): --clients N (default 16), --seconds S
                         (default 60), --warmup S (default 5), --fleet 1|3|5|7 (default 5), --store
                         sqlite|postgres, --mix recover|register|mixed|guess (default recover; guess:
                         brute force, --users N attacked by --clients guessers, every count checked
                         against what clients were told afterwards), --via all|leader, --reference
                         (the same load against a fleet of 1 first, and the ratios), --seed S. A live
                         line each second (ok/s, p50/p99 of that second, errors by type), then
                         throughput, p50/p99/p999, errors by type and CPU ms per ok operation of every
                         simulator and host (/proc/PID/stat). load --help explains each option. Exit 1
                         on a wrong answer, 2 on a bad option
        soak [opts]      load --soak: the load (default mix mixed) for --minutes M (default 10),
                         sampling every process's RSS and GC heap every --sample-seconds S (default
                         10) into a CSV (--csv PATH; default artifacts/load/), then each process's
                         RSS and GC-heap slope over the second half (MB/min) and the error rate of
                         the first window against the last. Takes load's other options
        demo [--fleet N] the main job: a local fleet of N simulated HSMs (default 5, each a SoftHSM2
                         token), one host per HSM, all real processes: it registers a user,
                         recovers, kills (N-1)/2 HSMs and recovers, kills one more and shows the
                         vault refusing, restarts them and recovers again; one line per step, non-zero
                         exit when a step does not behave as expected. N is 1 or an odd number from 3
                         to 7 (anything else stops with exit 2). --fleet 1 is the single-HSM demo:
                         a registration, wrong guesses, a recovery and the reset counter
        model [options]  check the fleet protocol's spin model (model/fleet.pml) exhaustively and
                         print "model: states=N depth=D errors=E"; non-zero exit on any error.
                         --bug quorum|capture runs a seeded bug (exit 0 when spin finds it),
                         --define NAME[=VALUE] passes a model switch (see model/README.md)
        simulate [opts]  run the fleet's deterministic simulation (hostile host and network, crashes,
                         NVRAM loss, partitions, leader changes) over more seeds than CI does:
                         --seeds N (default 100), --steps M (default 400), --first-seed S; prints
                         steps/s and, on a violation, the seed that replays it
        serve [--port N] [--health-port N] [--fleet N] [--peer-port N]
                         start a simulator and a host on loopback and leave them running:
                         client port 7300 and health port 7390 by default, as in the docs.
                         State and logs live in .demo/serve/; the previous run's logs move to
                         .demo/serve/logs/<time>/. When a child exits, it says which and why.
                         With --fleet N (3, 5 or 7): the local fleet instead, member i on client
                         port --port + i, health port --health-port + i and peer port
                         --peer-port + i (default 7400 + i), state and per-process logs in
                         .demo/serve-fleet-N/ (kept: the next serve opens the same fleet); a child
                         that exits is named and the rest serve on; Ctrl+C stops them all
        clean            remove build output and test results
        help             this text
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [string] $Target = 'help',

    [Parameter(Position = 1, ValueFromRemainingArguments = $true)]
    [string[]] $Rest = @()
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = $PSScriptRoot
$Solution = Join-Path $Root 'HsmVault.sln'
$Configuration = 'Release'

function Write-Step([string] $Message) {
    Write-Host "==> $Message" -ForegroundColor Cyan
}

# Runs a native command with its output sent to the console, never into the caller's return
# value: a function that returns a path must return only that path.
function Invoke-Native([string] $File, [string[]] $Arguments) {
    & $File @Arguments | Out-Host
    if ($LASTEXITCODE -ne 0) {
        throw "'$File $($Arguments -join ' ')' failed with exit code $LASTEXITCODE"
    }
}

function Test-IsRoot {
    if ($IsWindows) { return $false }
    return ((& id -u) -eq '0')
}

function Find-SoftHsmLibrary {
    $candidates = @(
        $env:HSMVAULT_PKCS11_LIBRARY,
        '/usr/lib/softhsm/libsofthsm2.so',
        '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
        '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
        '/usr/local/lib/softhsm/libsofthsm2.so'
    )
    foreach ($candidate in $candidates) {
        if ($candidate -and (Test-Path $candidate)) { return $candidate }
    }
    return $null
}

# What the scripts need from the OS comes from its packages; only root may install them.
function Install-OsPackage([string] $What, [string] $Package) {
    Write-Step "$What is missing: installing it from the OS packages (apt-get install $Package)"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    Invoke-Native 'apt-get' @('update', '-qq')
    Invoke-Native 'apt-get' @('install', '-y', '-qq', $Package)
}

# SoftHSM2 is the simulator's key store: the tests and the demo run against the real thing.
function Assert-SoftHsm {
    $library = Find-SoftHsmLibrary
    if ($library) { return $library }
    if (Test-IsRoot) {
        Install-OsPackage 'SoftHSM2' 'softhsm2'
        $library = Find-SoftHsmLibrary
        if ($library) { return $library }
    }
    throw ("SoftHSM2 is not installed (no libsofthsm2.so found). Install it with 'sudo apt-get install softhsm2' " +
        "(Debian/Ubuntu) or set HSMVAULT_PKCS11_LIBRARY to the path of a PKCS#11 library, then run again.")
}

function Find-Tool([string] $Name) {
    $command = Get-Command $Name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($command) { return $command.Source }
    return $null
}

# spin checks the fleet protocol model (model/fleet.pml); the test run includes that check.
function Assert-Spin {
    $spin = Find-Tool 'spin'
    if ($spin) { return $spin }
    if (Test-IsRoot) {
        Install-OsPackage 'spin' 'spin'
        $spin = Find-Tool 'spin'
        if ($spin) { return $spin }
    }
    throw "spin is not installed. Install it with 'sudo apt-get install spin' (Debian/Ubuntu), then run again."
}

# gcc compiles the verifier spin generates.
function Assert-Gcc {
    $gcc = Find-Tool 'gcc'
    if ($gcc) { return $gcc }
    throw "gcc is not installed; spin needs it to compile its verifier. Install it with 'sudo apt-get install gcc', then run again."
}

function Find-PostgresBin {
    $candidates = @(Get-ChildItem -Path '/usr/lib/postgresql/*/bin/postgres' -ErrorAction SilentlyContinue |
        Sort-Object { [int] $_.Directory.Parent.Name } -Descending | ForEach-Object { $_.DirectoryName })
    $initdb = Get-Command 'initdb' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($initdb) { $candidates += Split-Path -Parent ((Get-Item $initdb.Source).ResolvedTarget ?? $initdb.Source) }
    foreach ($candidate in $candidates) {
        if ((Test-Path (Join-Path $candidate 'initdb')) -and (Test-Path (Join-Path $candidate 'pg_ctl')) -and (Test-Path (Join-Path $candidate 'postgres'))) {
            return $candidate
        }
    }
    return $null
}

# The PostgreSQL store's tests start a throw-away cluster from the OS's PostgreSQL server binaries.
function Assert-Postgres {
    $bin = Find-PostgresBin
    if ($bin) { return $bin }
    if (Test-IsRoot) {
        Install-OsPackage 'PostgreSQL' 'postgresql'
        $bin = Find-PostgresBin
        if ($bin) { return $bin }
    }
    throw ("PostgreSQL is not installed (no initdb, pg_ctl and postgres found). Install it with 'sudo apt-get install postgresql' " +
        "(Debian/Ubuntu), then run again.")
}

function Invoke-Build {
    Write-Step "Building $Solution ($Configuration)"
    Invoke-Native 'dotnet' @('restore', $Solution, '-nologo', '-v', 'minimal')
    Invoke-Native 'dotnet' @('build', $Solution, '-c', $Configuration, '--no-restore', '-nologo', '-v', 'minimal')
}

# Sums the counters of every TRX file the run wrote; these are the real results, not a re-count.
function Get-TrxTotals([string] $Directory) {
    $totals = [ordered]@{ passed = 0; failed = 0; skipped = 0; files = 0 }
    foreach ($file in Get-ChildItem -Path $Directory -Filter '*.trx' -Recurse -ErrorAction SilentlyContinue) {
        [xml] $trx = Get-Content -Raw -Path $file.FullName
        $counters = $trx.TestRun.ResultSummary.Counters
        $count = { param([string] $name) [int] ('0' + $counters.GetAttribute($name)) }
        $totals.passed += & $count 'passed'
        $totals.failed += (& $count 'failed') + (& $count 'error') + (& $count 'timeout') + (& $count 'aborted')
        $totals.skipped += & $count 'notExecuted'
        $totals.files += 1
    }
    return $totals
}

function Invoke-Test {
    $library = Assert-SoftHsm
    Write-Host "SoftHSM2: $library"
    $env:HSMVAULT_PKCS11_LIBRARY = $library
    $spin = Assert-Spin
    Write-Host "spin: $spin"
    $postgres = Assert-Postgres
    Write-Host "PostgreSQL: $postgres"
    $results = Join-Path $Root 'TestResults'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }

    try {
        Invoke-Build
    }
    catch {
        Write-Host "The build failed, so no test ran: $($_.Exception.Message)" -ForegroundColor Red
        Write-Host 'tests: 0 passed, 0 failed'
        exit 1
    }
    # One run per test project, each writing its own TRX file, so no result file can overwrite another.
    $exitCode = 0
    $projects = Get-ChildItem -Path (Join-Path $Root 'tests') -Filter '*.Tests.csproj' -Recurse | Sort-Object Name
    foreach ($project in $projects) {
        Write-Step "Testing $($project.BaseName)"
        $arguments = @('test', $project.FullName, '-c', $Configuration, '--no-build', '-nologo',
            '--logger', "trx;LogFileName=$($project.BaseName).trx", '--logger', 'console;verbosity=normal',
            '--results-directory', $results,
            '--blame-hang-timeout', '10m')
        & dotnet @arguments
        if ($LASTEXITCODE -ne 0) { $exitCode = $LASTEXITCODE }
    }

    $totals = Get-TrxTotals $results
    if ($totals.skipped -gt 0) {
        Write-Host "$($totals.skipped) test(s) were not executed." -ForegroundColor Yellow
    }
    if ($totals.files -eq 0) {
        Write-Host 'No test results were written: the build or the test host failed before any test ran.' -ForegroundColor Red
    }
    Write-Host "tests: $($totals.passed) passed, $($totals.failed) failed"
    if ($exitCode -ne 0 -or $totals.failed -gt 0 -or $totals.passed -eq 0) {
        exit 1
    }
}

# The benchmark suites and the options they read (tests/HsmVault.Benchmarks). The selector is
# checked here, before a build, so a typo stops at once instead of running nothing and passing.
$BenchSuites = @('crypto', 'enclave', 'e2e', 'fleet', 'ct', 'scale', 'seal')
$BenchFlags = @('--quick', '--million')
$BenchValued = @('--clients', '--records', '--store')

function Stop-Usage([string] $Message) {
    Write-Host $Message -ForegroundColor Red
    exit 2
}

function Assert-BenchArguments([string[]] $What) {
    for ($i = 0; $i -lt $What.Count; $i++) {
        $argument = $What[$i]
        if ($argument -in $BenchValued) {
            if ($i + 1 -ge $What.Count -or $What[$i + 1].StartsWith('--')) {
                Stop-Usage "bench: $argument needs a value (for example $argument 1,8,64)"
            }
            $i++
        }
        elseif ($argument.StartsWith('-')) {
            if ($argument -notin $BenchFlags) {
                Stop-Usage "bench: unknown option '$argument'; options: $(($BenchFlags + ($BenchValued | ForEach-Object { "$_ N" })) -join ', ')"
            }
        }
        elseif ($argument.ToLowerInvariant() -notin $BenchSuites) {
            Stop-Usage "bench: unknown suite '$argument'; valid suites: $($BenchSuites -join ', ')"
        }
    }
}

function Invoke-Bench([string[]] $What) {
    if (-not $What -or $What.Count -eq 0) { $What = @('crypto') }
    Assert-BenchArguments $What
    $project = Join-Path $Root 'tests/HsmVault.Benchmarks/HsmVault.Benchmarks.csproj'
    Write-Step "Benchmark: $($What -join ' ')"
    Invoke-Native 'dotnet' (@('run', '-c', $Configuration, '--project', $project, '--') + $What)
}

function Get-ArtifactsBin {
    $base = if ($env:HSMVAULT_ARTIFACTS) { $env:HSMVAULT_ARTIFACTS } else { Join-Path $Root 'artifacts' }
    return Join-Path $base 'bin'
}

function Get-FreeTcpPort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    $port = $listener.LocalEndpoint.Port
    $listener.Stop()
    return $port
}

# A child process started with its output redirected to <State>/<log name>.out and .err ($Name
# unless $LogName says otherwise). Start-Process returns a Process whose ExitCode stays empty unless
# its handle was taken while it ran. Stopped is set when the script ends it on purpose.
function Start-Child([string] $Name, [string] $State, [string[]] $Arguments, [string] $LogName = $Name) {
    $out = Join-Path $State "$LogName.out"
    $err = Join-Path $State "$LogName.err"
    $process = Start-Process -FilePath 'dotnet' -PassThru -NoNewWindow -ArgumentList $Arguments `
        -RedirectStandardOutput $out -RedirectStandardError $err
    $null = $process.Handle
    return [pscustomobject]@{ Name = $Name; Process = $process; Out = $out; Err = $err; Stopped = $false }
}

# Says which child died, its exit code and the end of its stderr (its stdout when stderr is empty).
function Get-ChildDeath([object] $Child, [int] $Lines = 15) {
    $Child.Process.WaitForExit(5000) | Out-Null
    $code = $Child.Process.ExitCode
    $signal = if (-not $IsWindows -and $code -gt 128 -and $code -lt 160) { " (killed by signal $($code - 128))" } else { '' }
    $text = "the $($Child.Name) (pid $($Child.Process.Id)) exited with code $code$signal"
    $log = if ((Test-Path $Child.Err) -and (Get-Item $Child.Err).Length -gt 0) { $Child.Err } elseif (Test-Path $Child.Out) { $Child.Out } else { $null }
    if ($log) {
        $tail = @(Get-Content -Path $log -Tail $Lines)
        $text += "; last lines of $($log):`n    " + ($tail -join "`n    ")
    }
    return $text
}

function Wait-ForLog([object] $Child, [string] $Pattern, [int] $Seconds = 60) {
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        if (Test-Path $Child.Out) {
            $match = Select-String -Path $Child.Out -Pattern $Pattern | Select-Object -First 1
            if ($match) { return $match.Matches[0] }
        }
        if ($Child.Process.HasExited) { throw "while starting: $(Get-ChildDeath $Child)" }
        Start-Sleep -Milliseconds 200
    }
    throw "the $($Child.Name) did not write /$Pattern/ to $($Child.Out) within $Seconds s"
}

function Wait-ForTcp([int] $Port, [object] $Child, [int] $Seconds = 60) {
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        if ($Child.Process.HasExited) { throw "while starting: $(Get-ChildDeath $Child)" }
        $client = [System.Net.Sockets.TcpClient]::new()
        try { $client.Connect('127.0.0.1', $Port); return } catch { Start-Sleep -Milliseconds 200 } finally { $client.Dispose() }
    }
    throw "the $($Child.Name) did not open port $Port within $Seconds s (see $($Child.Err))"
}

function Test-PortFree([int] $Port) {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $Port)
    try { $listener.Start(); return $true } catch { return $false } finally { $listener.Stop() }
}

function Stop-Child([object] $Child) {
    $Process = if ($Child) { $Child.Process } else { $null }
    if ($Process -and -not $Process.HasExited) {
        & kill -TERM $Process.Id 2>$null
        if (-not $Process.WaitForExit(15000)) { $Process.Kill($true) }
    }
}

# Starts a simulator on a SoftHSM2 token in $State and a host on loopback (port 0: any free
# port). Returns what the caller needs.
function Start-LocalVault([string] $State, [int] $Port = 0, [int] $HealthPort = 0) {
    $bin = Get-ArtifactsBin
    $simulator = Join-Path $bin "HsmVault.Simulator/$($Configuration.ToLowerInvariant())/HsmVault.Simulator.dll"
    $hostDll = Join-Path $bin "HsmVault.Host/$($Configuration.ToLowerInvariant())/HsmVault.Host.dll"
    New-Item -ItemType Directory -Force -Path $State | Out-Null
    # SoftHSM2 reads SOFTHSM2_CONF when it loads; the simulator writes this file before it loads the library.
    $env:SOFTHSM2_CONF = Join-Path $State 'hsm/softhsm2.conf'
    $socket = Join-Path $State 'hsm.sock'
    Write-Step "Starting the simulated HSM (SoftHSM2 token in $State/hsm)"
    $sim = Start-Child 'simulator' $State @($simulator, 'serve', '--listen', "unix:$socket", '--state-dir', (Join-Path $State 'hsm'), '--token-label', 'hsmvault-demo')
    $null = Wait-ForLog $sim 'listening on .*fleet keys in '
    $fleetKey = Join-Path $State 'hsm/fleet-keys.json'
    $digest = (Select-String -Path (Join-Path $State 'simulator.out') -Pattern 'fleet-key set sha256 ([0-9a-f]{64})' | Select-Object -First 1).Matches[0].Groups[1].Value
    Write-Host "    fleet-key set (pinned by the client): $fleetKey (sha256 $($digest.Substring(0, 16))...)"

    $port = if ($Port -gt 0) { $Port } else { Get-FreeTcpPort }
    $healthPort = if ($HealthPort -gt 0) { $HealthPort } else { Get-FreeTcpPort }
    Write-Step "Starting the host on 127.0.0.1:$port (health: $healthPort)"
    $vaultHost = $null
    try {
        $vaultHost = Start-Child 'host' $State @($hostDll, "--Host:ListenAddress=127.0.0.1", "--Host:Port=$port", "--Hsm:Endpoint=unix:$socket",
            "--Store:Path=$(Join-Path $State 'host.db')", "--Health:Port=$healthPort")
        Wait-ForTcp $port $vaultHost
    }
    catch {
        Stop-Child $vaultHost
        Stop-Child $sim
        throw
    }
    return [pscustomobject]@{ Simulator = $sim; Host = $vaultHost; Port = $port; HealthPort = $healthPort; FleetKey = $fleetKey }
}

# Runs hsmvault against the local vault; with a password, it goes in on stdin. Returns the exit
# code and what went to stdout (shown as well); stderr goes straight to the console.
function Invoke-Hsmvault([object] $Vault, [string] $Password, [string[]] $Arguments) {
    $cli = Join-Path (Get-ArtifactsBin) "HsmVault.Cli/$($Configuration.ToLowerInvariant())/hsmvault.dll"
    $all = @($cli) + $Arguments + @('--endpoint', "127.0.0.1:$($Vault.Port)", '--fleet-key', $Vault.FleetKey)
    Write-Host "    > hsmvault $($Arguments -join ' ')" -ForegroundColor DarkGray
    if ($Password) {
        $output = @($Password | & dotnet @all '--password-stdin')
    }
    else {
        $output = @(& dotnet @all)
    }
    $code = $LASTEXITCODE
    $output | Out-Host
    return [pscustomobject]@{ Code = $code; Out = ($output -join "`n").Trim() }
}

function Assert-Status([object] $Vault, [string] $User, [string] $Expected) {
    $status = Invoke-Hsmvault $Vault $null @('status', '--user', $User)
    if ($status.Code -ne 0) { throw "status failed with exit code $($status.Code)" }
    if ($status.Out -ne $Expected) { throw "expected '$Expected' from status, got '$($status.Out)'" }
}

# The single-HSM demo (demo --fleet 1): one simulator, one host.
function Invoke-SingleDemo {
    $null = Assert-SoftHsm
    Invoke-Build
    $state = Join-Path $Root ".demo/$([DateTime]::UtcNow.ToString('yyyyMMdd-HHmmss'))"
    $vault = $null
    try {
        $vault = Start-LocalVault $state
        $user = 'demo-user'
        $password = 'correct horse battery staple'
        $keyFile = Join-Path $state 'backup.key'
        $recoveredFile = Join-Path $state 'recovered.key'

        Write-Step "Registering a generated backup key for '$user'"
        if ((Invoke-Hsmvault $vault $password @('register', '--user', $user, '--generate-key', '--out', $keyFile)).Code -ne 0) { throw 'register failed' }

        foreach ($guess in 'wrong guess one', 'wrong guess two') {
            Write-Step "Recovering with a wrong password ('$guess')"
            $code = (Invoke-Hsmvault $vault $guess @('recover', '--user', $user)).Code
            if ($code -ne 3) { throw "expected exit code 3 (wrong password), got $code" }
        }

        Write-Step 'The vault counted both guesses'
        Assert-Status $vault $user 'attempts left: 8 of 10'

        Write-Step 'Recovering with the right password'
        if ((Invoke-Hsmvault $vault $password @('recover', '--user', $user, '--out', $recoveredFile)).Code -ne 0) { throw 'recover failed' }
        $registered = (Get-Content -Raw $keyFile).Trim()
        $recovered = (Get-Content -Raw $recoveredFile).Trim()
        if ($registered -ne $recovered) { throw 'the recovered key differs from the registered one' }

        Write-Step 'The successful recovery reset the counter'
        Assert-Status $vault $user 'attempts left: 10 of 10'
        Write-Host "demo: the recovered key matches the registered one ($($registered.Substring(0, 8))...); wrong guesses were counted (8 of 10 left) and reset (10 of 10)." -ForegroundColor Green
    }
    finally {
        if ($vault) {
            # A step that failed because a child died says so, with that child's last words.
            foreach ($child in @($vault.Host, $vault.Simulator)) {
                if ($child.Process.HasExited) { Write-Host "demo: $(Get-ChildDeath $child)" -ForegroundColor Red }
            }
            Stop-Child $vault.Host
            Stop-Child $vault.Simulator
        }
    }
}

# ---- the local fleet (demo and serve with --fleet N) ------------------------------------------
# --fleet 1 is the single-HSM vault. An odd N from 3 to 7 starts N simulated HSMs (FleetEnclave
# members, each on a SoftHSM2 token of its own) and one host per HSM, all real processes, the hosts
# sharing one SQLite store and talking to each other over their peer ports. Odd, because the fleet
# commits at a majority and so survives (N-1)/2 lost HSMs; an even size survives no more than the
# odd size below it.
$FleetSizes = @(1, 3, 5, 7)
$FleetSizesText = '1 (a single HSM) or an odd number of HSMs from 3 to 7'

function Read-FleetSize([string] $Target, [object] $Value) {
    $size = 0
    if ($null -ne $Value -and [int]::TryParse("$Value", [System.Globalization.NumberStyles]::None, [System.Globalization.CultureInfo]::InvariantCulture, [ref] $size) -and $size -in $FleetSizes) {
        return $size
    }
    Stop-Usage "${Target}: --fleet takes $FleetSizesText, got '$Value'"
}

# Reads demo's one option, --fleet N (default 5).
function Read-DemoOptions([string[]] $Arguments) {
    $options = @{ Fleet = 5 }
    $given = $false
    for ($i = 0; $i -lt $Arguments.Count; $i++) {
        $name = $Arguments[$i]
        if ($name -ne '--fleet') {
            Stop-Usage "demo: unknown option '$name'; demo takes only --fleet N (1, 3, 5 or 7 HSMs; default 5)"
        }
        if ($given) { Stop-Usage 'demo: --fleet is given twice; give it once' }
        $given = $true
        $value = if ($i + 1 -lt $Arguments.Count) { $Arguments[$i + 1] } else { $null }
        $options.Fleet = Read-FleetSize 'demo' $value
        $i++
    }
    return $options
}

function Format-Invariant([string] $Format, [object[]] $Values) {
    return [string]::Format([System.Globalization.CultureInfo]::InvariantCulture, $Format, $Values)
}

function Format-Seconds([System.Diagnostics.Stopwatch] $Clock) {
    return Format-Invariant '{0:F1} s' @($Clock.Elapsed.TotalSeconds)
}

function Format-Hsms([object[]] $Members) {
    if (@($Members).Count -eq 1) { return "the HSM of $(Format-Members $Members)" }
    return "the HSMs of $(Format-Members $Members)"
}

function Format-Members([object[]] $Members) {
    $indexes = @($Members | ForEach-Object { $_.Index } | Sort-Object)
    if ($indexes.Count -eq 1) { return "member $($indexes[0])" }
    return "members $(($indexes[0..($indexes.Count - 2)]) -join ', ') and $($indexes[-1])"
}

# A local fleet's plan: member i keeps its HSM's token in <State>/hsm-i, its bridge socket is
# <State>/sim-i.sock, its host has a client, a health and a peer port; the hosts share <State>/fleet.db.
function New-LocalFleet([string] $State, [int] $Size, [int[]] $Ports, [int[]] $HealthPorts, [int[]] $PeerPorts, [string] $FleetId = 'hsmvault-local') {
    $bin = Get-ArtifactsBin
    $flavour = $Configuration.ToLowerInvariant()
    $members = @(for ($i = 0; $i -lt $Size; $i++) {
            [pscustomobject]@{
                Index = $i; StateDir = Join-Path $State "hsm-$i"; Socket = Join-Path $State "sim-$i.sock"
                Port = $Ports[$i]; HealthPort = $HealthPorts[$i]; PeerPort = $PeerPorts[$i]
                Simulator = $null; VaultHost = $null; Starts = 0
            }
        })
    return [pscustomobject]@{
        State = $State; Size = $Size; Members = $members
        SimulatorDll = Join-Path $bin "HsmVault.Simulator/$flavour/HsmVault.Simulator.dll"
        HostDll = Join-Path $bin "HsmVault.Host/$flavour/HsmVault.Host.dll"
        Store = Join-Path $State 'fleet.db'
        FleetKey = Join-Path $State 'hsm-0/fleet-keys.json'
        Peers = @($members | ForEach-Object { "tcp:127.0.0.1:$($_.PeerPort)" }) -join ','
        FleetId = $FleetId
        Evidence = $null
        # When set (URL, namespace): the hosts announce the namespace's newest validation bundle to clients.
        Witness = $null; Namespace = $null
        # The provisioning run and the clones: children that are meant to exit.
        Others = [System.Collections.Generic.List[object]]::new()
    }
}

function Get-FleetChildren([object] $Fleet) {
    return @(@($Fleet.Members | ForEach-Object { $_.VaultHost; $_.Simulator }) + @($Fleet.Others) | Where-Object { $_ })
}

# Throws, naming the child, its exit code and its last lines, when a child the script did not end has exited.
function Assert-FleetAlive([object] $Fleet) {
    foreach ($child in Get-FleetChildren $Fleet) {
        if (-not $child.Stopped -and $child.Process.HasExited) {
            $child.Stopped = $true
            throw (Get-ChildDeath $child)
        }
    }
}

# Ends children together: SIGTERM to all (hosts hand their lease back and drain), then waits up to 15 s.
function Stop-Children([object[]] $Children) {
    $alive = @($Children | Where-Object { $_ -and -not $_.Process.HasExited })
    foreach ($child in $alive) {
        $child.Stopped = $true
        & kill -TERM $child.Process.Id 2>$null
    }
    $deadline = [DateTime]::UtcNow.AddSeconds(15)
    foreach ($child in $alive) {
        $left = [Math]::Max(0, [int] ($deadline - [DateTime]::UtcNow).TotalMilliseconds)
        if (-not $child.Process.WaitForExit($left)) { $child.Process.Kill($true) }
    }
}

# Says which children died unasked (exit code, last lines), then stops the hosts, then the simulators.
function Stop-LocalFleet([object] $Fleet, [string] $Target) {
    foreach ($child in Get-FleetChildren $Fleet) {
        if (-not $child.Stopped -and $child.Process.HasExited) {
            Write-Host "${Target}: $(Get-ChildDeath $child)" -ForegroundColor Red
            $child.Stopped = $true
        }
    }
    Stop-Children @($Fleet.Members | ForEach-Object { $_.VaultHost })
    Stop-Children @($Fleet.Members | ForEach-Object { $_.Simulator })
    Stop-Children @($Fleet.Others)
}

# The label of the token in a member's state directory (a clone keeps its source's label).
function Get-TokenLabel([object] $Member) {
    $marker = Join-Path $Member.StateDir 'token-initialized'
    if (Test-Path $marker) { return (Get-Content -Raw $marker).Trim() }
    return "hsmvault-$($Member.Index)"
}

function Start-FleetSimulator([object] $Fleet, [object] $Member) {
    $Member.Starts++
    $log = if ($Member.Starts -eq 1) { "simulator-$($Member.Index)" } else { "simulator-$($Member.Index)-start$($Member.Starts)" }
    # SoftHSM2 reads SOFTHSM2_CONF when it loads: each simulator gets its own token store's.
    $env:SOFTHSM2_CONF = Join-Path $Member.StateDir 'softhsm2.conf'
    $Member.Simulator = Start-Child "simulator of HSM $($Member.Index)" $Fleet.State @($Fleet.SimulatorDll, 'serve', '--fleet',
        '--listen', "unix:$($Member.Socket)", '--state-dir', $Member.StateDir, '--token-label', (Get-TokenLabel $Member)) $log
}

# Waits for a simulator's "listening on" line; returns its fleet member id.
function Wait-FleetSimulator([object] $Member) {
    $match = Wait-ForLog $Member.Simulator 'listening on \S+ \(fleet member ([0-9a-f]+).*fleet keys in ' 120
    return $match.Groups[1].Value
}

function Start-FleetHost([object] $Fleet, [object] $Member) {
    $i = $Member.Index
    $Member.VaultHost = Start-Child "host of member $i" $Fleet.State (@($Fleet.HostDll, '--Host:ListenAddress=127.0.0.1', "--Host:Port=$($Member.Port)",
        "--Hsm:Endpoint=unix:$($Member.Socket)", "--Store:Path=$($Fleet.Store)", "--Health:Port=$($Member.HealthPort)",
        "--Fleet:Peers=$($Fleet.Peers)", "--Fleet:Self=$i", '--Fleet:AttemptLimit=10') + (Get-TransparencyArguments $Fleet)) "host-$i"
}

# The hosts' Transparency options: fetch the namespace's newest bundle from the witness every 2 s.
function Get-TransparencyArguments([object] $Fleet) {
    if (-not $Fleet.Witness) { return @() }
    return @("--Transparency:Witness=$($Fleet.Witness)", "--Transparency:Namespace=$($Fleet.Namespace)", '--Transparency:RefreshInterval=00:00:02')
}

# A host's /health/ready: the HTTP code (0: no answer), the status and the detail the host gives.
function Get-HostHealth([object] $Member) {
    if (-not (Get-Variable -Name HealthClient -Scope Script -ErrorAction SilentlyContinue)) {
        $script:HealthClient = [System.Net.Http.HttpClient]::new()
        $script:HealthClient.Timeout = [TimeSpan]::FromSeconds(2)
    }
    try {
        $response = $script:HealthClient.GetAsync("http://127.0.0.1:$($Member.HealthPort)/health/ready").GetAwaiter().GetResult()
        $json = $response.Content.ReadAsStringAsync().GetAwaiter().GetResult() | ConvertFrom-Json
        return [pscustomobject]@{ Code = [int] $response.StatusCode; Status = "$($json.status)"; Detail = "$($json.detail)" }
    }
    catch {
        return [pscustomobject]@{ Code = 0; Status = 'no answer'; Detail = "nothing answers on health port $($Member.HealthPort)" }
    }
}

function Get-FleetHealth([object] $Fleet) {
    return @($Fleet.Members | ForEach-Object { Get-HostHealth $_ })
}

# The member whose host says it leads and commits ("leading the fleet; ..."), or -1.
function Find-FleetLeader([object[]] $Health) {
    for ($i = 0; $i -lt $Health.Count; $i++) {
        if ($Health[$i].Code -eq 200 -and $Health[$i].Detail.StartsWith('leading the fleet')) { return $i }
    }
    return -1
}

# Waits until every host answers /health/ready with 200 and one of them leads. Unless -Quiet, prints
# each host's status as it changes (a fleet takes a few seconds per process to come up). Throws when
# a child dies (which, its exit code, its last lines) or after $Seconds.
function Wait-FleetReady([object] $Fleet, [int] $Seconds = 180, [switch] $Quiet, [System.Diagnostics.Stopwatch] $Clock = $null, [int[]] $Only = $null) {
    $needed = if ($null -ne $Only) { $Only } else { @(0..($Fleet.Size - 1)) }
    $clock = if ($Clock) { $Clock } else { [System.Diagnostics.Stopwatch]::StartNew() }
    $deadline = $clock.Elapsed.TotalSeconds + $Seconds
    $seen = @{}
    $beat = $clock.Elapsed.TotalSeconds + 10
    while ($true) {
        Assert-FleetAlive $Fleet
        $health = Get-FleetHealth $Fleet
        if (-not $Quiet) {
            for ($i = 0; $i -lt $health.Count; $i++) {
                $now = "$($health[$i].Status): $($health[$i].Detail)"
                if ($seen[$i] -ne $health[$i].Status) {
                    Write-Host "      host ${i}: $now ($(Format-Seconds $clock))" -ForegroundColor DarkGray
                    $seen[$i] = $health[$i].Status
                }
            }
        }
        $leader = Find-FleetLeader $health
        if ($leader -ge 0 -and @($needed | Where-Object { $health[$_].Code -ne 200 }).Count -eq 0) {
            return [pscustomobject]@{ Leader = $leader; Health = $health }
        }
        $waiting = @(for ($i = 0; $i -lt $health.Count; $i++) { if (($i -in $needed -and $health[$i].Code -ne 200) -or ($leader -lt 0 -and $health[$i].Code -eq 200)) { "host ${i}: $($health[$i].Status) ($($health[$i].Detail))" } })
        if ($clock.Elapsed.TotalSeconds -gt $deadline) {
            throw "the fleet was not ready within $Seconds s: $($waiting -join '; ')"
        }
        if (-not $Quiet -and $clock.Elapsed.TotalSeconds -ge $beat) {
            Write-Host "      still waiting after $(Format-Seconds $clock): $($waiting -join '; ')" -ForegroundColor DarkGray
            $beat += 15
        }
        Start-Sleep -Milliseconds 250
    }
}

# Provisions (once) and starts the fleet: the deployment ceremony (fleet-init; the TEST-ONLY clone
# of member 0's token when a token cannot do it), N simulators, N hosts; returns once every host is ready, with the leader's index.
function Start-LocalFleet([object] $Fleet) {
    $total = [System.Diagnostics.Stopwatch]::StartNew()
    $size = $Fleet.Size
    New-Item -ItemType Directory -Force -Path $Fleet.State | Out-Null
    Write-Step "Starting a local fleet: $size simulated HSMs (one SoftHSM2 token each) and $size hosts sharing $($Fleet.Store)"
    $first = $Fleet.Members[0]
    $fresh = @($Fleet.Members | Where-Object { -not (Test-Path (Join-Path $_.StateDir 'token-initialized')) })
    $deployed = $false
    if ($fresh.Count -eq $size) {
        # The deployment ceremony: the fleet keys made in HSM 0's token and moved into the others by
        # key wrap, each HSM signing the manifest (docs/DEPLOYMENT.md). A token that cannot do it
        # (exit 3) falls back to the TEST-ONLY clone below.
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $evidence = Join-Path $Fleet.State 'evidence'
        $members = ($Fleet.Members | ForEach-Object { $_.StateDir }) -join ','
        Write-Host "    the deployment ceremony (fleet-init): fleet keys made in HSM 0's token, moved into the other $($size - 1) by PKCS#11 key wrap, every HSM signs the manifest ..."
        $init = Start-Child 'deployment ceremony (fleet-init)' $Fleet.State @($Fleet.SimulatorDll, 'fleet-init', '--members', $members, '--out', $evidence, '--token-label', 'hsmvault-fleet', '--fleet-id', $Fleet.FleetId) 'fleet-init'
        $Fleet.Others.Add($init)
        $init.Stopped = $true
        if (-not $init.Process.WaitForExit(300000)) { $init.Process.Kill($true); throw 'the deployment ceremony did not finish within 300 s' }
        if ($init.Process.ExitCode -eq 0) {
            $deployed = $true
            $Fleet.Evidence = $evidence
            Write-Host "    deployed by key wrap: the same fleet keys in all $size tokens, an identity key each; evidence (manifest, signatures, log) in $evidence; check it with: hsmvault audit --deployment $evidence ($(Format-Seconds $clock))"
        }
        elseif ($init.Process.ExitCode -ne 3) { throw "the deployment ceremony failed: $(Get-ChildDeath $init)" }
        else { Write-Host '    a token cannot do the ceremony (exit 3): falling back to the TEST-ONLY clone' -ForegroundColor Yellow }
    }
    if (-not $deployed -and -not (Test-Path (Join-Path $first.StateDir 'token-initialized'))) {
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $env:SOFTHSM2_CONF = Join-Path $first.StateDir 'softhsm2.conf'
        $provision = Start-Child 'simulator provisioning HSM 0' $Fleet.State @($Fleet.SimulatorDll, 'serve', '--fleet', '--listen', "unix:$($first.Socket)",
            '--state-dir', $first.StateDir, '--token-label', 'hsmvault-0') 'provision-0'
        $Fleet.Others.Add($provision)
        $null = Wait-ForLog $provision 'listening on .*fleet keys in ' 120
        Stop-Children @($provision)
        Write-Host "    HSM 0: provisioned token 'hsmvault-0' in $($first.StateDir): the fleet keys and its identity key ($(Format-Seconds $clock))"
    }
    $clones = @($Fleet.Members | Select-Object -Skip 1 | Where-Object { -not (Test-Path (Join-Path $_.StateDir 'token-initialized')) })
    if ($clones.Count -gt 0) {
        $others = if ($size -eq 3) { 'HSMs 1 and 2 are clones' } else { "HSMs 1 to $($size - 1) are clones" }
        Write-Host "    TEST ONLY: $others of HSM 0's SoftHSM2 token files (the same fleet keys, a new identity key each, no NVRAM); a real fleet moves its keys by key wrap (docs/DEPLOYMENT.md)" -ForegroundColor Yellow
    }
    foreach ($member in $clones) {
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $i = $member.Index
        $env:SOFTHSM2_CONF = Join-Path $member.StateDir 'softhsm2.conf'
        $clone = Start-Child "clone of HSM 0 into HSM $i" $Fleet.State @($Fleet.SimulatorDll, 'clone', '--from', $first.StateDir, '--to', $member.StateDir) "clone-$i"
        $Fleet.Others.Add($clone)
        $clone.Stopped = $true
        if (-not $clone.Process.WaitForExit(120000)) { $clone.Process.Kill($true); throw "the clone of HSM 0 into HSM $i did not finish within 120 s" }
        if ($clone.Process.ExitCode -ne 0) { throw "cloning failed: $(Get-ChildDeath $clone)" }
        $id = (Select-String -Path $clone.Out -Pattern 'fleet member ([0-9a-f]+)' | Select-Object -First 1).Matches[0].Groups[1].Value
        Write-Host "    HSM ${i}: cloned from HSM 0 (fleet member $($id.Substring(0, 8))...) ($(Format-Seconds $clock))"
    }

    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    Write-Host "    starting $size simulators (serve --fleet) ..."
    foreach ($member in $Fleet.Members) { Start-FleetSimulator $Fleet $member }
    foreach ($member in $Fleet.Members) {
        $id = Wait-FleetSimulator $member
        Write-Host "    HSM $($member.Index): listening on unix:$($member.Socket) (fleet member $($id.Substring(0, 8))..., pid $($member.Simulator.Process.Id)) ($(Format-Seconds $clock))"
    }
    $digest = (Select-String -Path $Fleet.Members[0].Simulator.Out -Pattern 'fleet-key set sha256 ([0-9a-f]{64})' | Select-Object -First 1).Matches[0].Groups[1].Value
    Write-Host "    fleet-key set (pinned by the client): $($Fleet.FleetKey) (sha256 $($digest.Substring(0, 16))...)"

    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    Write-Host "    starting $size hosts ..."
    foreach ($member in $Fleet.Members) { Start-FleetHost $Fleet $member }
    foreach ($member in $Fleet.Members) {
        Wait-ForTcp $member.Port $member.VaultHost 120
        Write-Host "    host $($member.Index): clients on 127.0.0.1:$($member.Port), health on $($member.HealthPort), peers on $($member.PeerPort) (pid $($member.VaultHost.Process.Id)) ($(Format-Seconds $clock))"
    }
    Write-Host '    the hosts form the fleet (host 0 runs the genesis once every HSM answers, the others join), then one takes the leader lease:'
    $ready = Wait-FleetReady $Fleet -Clock $clock
    $followers = @($Fleet.Members | Where-Object { $_.Index -ne $ready.Leader })
    Write-Host "    fleet ready after $(Format-Seconds $total): member $($ready.Leader) leads, $(Format-Members $followers) follow" -ForegroundColor Green
    return $ready.Leader
}

# Runs a .NET tool of this repository with its output captured, not shown: Code, Out, Err, Why (the
# tool's last "name: ..." line on stderr, which says why it failed), Seconds.
function Invoke-ToolQuiet([string] $State, [string] $Dll, [string[]] $Arguments, [string] $Stdin = $null) {
    $errors = Join-Path $State 'tool.err'
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    if ($Stdin) {
        $output = @($Stdin | & dotnet $Dll @Arguments 2> $errors)
    }
    else {
        $output = @(& dotnet $Dll @Arguments 2> $errors)
    }
    $code = $LASTEXITCODE
    $clock.Stop()
    # stderr has progress lines ("connecting to ...") and, on a failure, the one line that says why.
    $err = @()
    if (Test-Path $errors) { $err = @(Get-Content -Path $errors | Where-Object { $_.Trim() }) }
    $tool = [System.IO.Path]::GetFileNameWithoutExtension($Dll)
    $why = @($err | Where-Object { $_ -like "${tool}:*" -or $_ -like 'hsmvault:*' } | Select-Object -Last 1)
    return [pscustomobject]@{
        Code = $code; Out = ($output -join ' ').Trim(); Err = ($err -join ' / '); Lines = $output; ErrLines = $err
        Why = $(if ($why.Count -gt 0) { $why[0] } else { '' }); Seconds = $clock.Elapsed.TotalSeconds
    }
}

function Get-ToolDll([string] $Project, [string] $Assembly) {
    return Join-Path (Get-ArtifactsBin) "$Project/$($Configuration.ToLowerInvariant())/$Assembly.dll"
}

# Runs hsmvault through member $Via's host, its output captured, not shown: Code, Out, Err, Seconds.
# $Trust: the client's pins for over-the-air fleets (TrustFile, StateFile) instead of, or with, the fleet-key file.
# $Endpoint: the --endpoint value instead of $Via's host (a list of hosts, for failover).
function Invoke-HsmvaultQuiet([object] $Fleet, [object] $Via, [string] $Password, [string[]] $Arguments, [object] $Trust = $null, [switch] $NoPin, [string] $Endpoint = $null) {
    $all = $Arguments + @('--endpoint', $(if ($Endpoint) { $Endpoint } else { "127.0.0.1:$($Via.Port)" }))
    if (-not $NoPin) { $all += @('--fleet-key', $Fleet.FleetKey) }
    if ($Trust) { $all += @('--trust', $Trust.TrustFile, '--trust-state', $Trust.StateFile) }
    if ($Password) { $all += '--password-stdin' }
    return Invoke-ToolQuiet $Fleet.State (Get-ToolDll 'HsmVault.Cli' 'hsmvault') $all $Password
}

# One demo step on one line: number, what was done, what came of it, how long it took.
function Write-DemoStep([object] $Demo, [string] $What, [string] $Outcome, [double] $Seconds) {
    $Demo.Step++
    Write-Host (Format-Invariant '{0,3}. {1,-66} {2} ({3:F1} s)' @($Demo.Step, $What, $Outcome, $Seconds)) -ForegroundColor Green
}

# Runs one hsmvault command and checks its exit code; throws with what the command said otherwise.
function Invoke-DemoCli([object] $Demo, [string] $What, [int] $Expected, [string] $Password, [string[]] $Arguments) {
    Assert-FleetAlive $Demo.Fleet
    if ($Expected -eq 0) {
        # The client's host serves and some host leads (the hosts of dead HSMs need not be ready).
        $null = Wait-FleetReady $Demo.Fleet -Quiet -Seconds 60 -Only @($Demo.Via.Index)
    }
    $result = Invoke-HsmvaultQuiet $Demo.Fleet $Demo.Via $Password $Arguments
    if ($result.Code -ne $Expected) {
        $said = @($result.Out, $result.Err) | Where-Object { $_ }
        throw "step $($Demo.Step + 1) ($What): hsmvault $($Arguments[0]) exited with $($result.Code), expected $Expected; it said: $($said -join ' / ')"
    }
    return $result
}

function Invoke-DemoRecover([object] $Demo, [string] $What) {
    $Demo.Recoveries++
    $file = Join-Path $Demo.Fleet.State "recovered-$($Demo.Recoveries).key"
    $result = Invoke-DemoCli $Demo $What 0 $Demo.Password @('recover', '--user', $Demo.User, '--out', $file)
    $recovered = (Get-Content -Raw $file).Trim()
    if ($recovered -ne $Demo.Key) { throw "step $($Demo.Step + 1) ($What): the recovered key differs from the registered one" }
    Write-DemoStep $Demo $What "ok: the registered key ($($recovered.Substring(0, 8))...)" $result.Seconds
}

function Invoke-DemoStatus([object] $Demo, [string] $What, [string] $Expected, [string] $Why) {
    $result = Invoke-DemoCli $Demo $What 0 $null @('status', '--user', $Demo.User)
    if ($result.Out -ne $Expected) { throw "step $($Demo.Step + 1) ($What): expected '$Expected' from status, got '$($result.Out)'" }
    Write-DemoStep $Demo $What "$($result.Out)$Why" $result.Seconds
}

# Kills simulators as a crash would (SIGKILL): their tokens (keys, NVRAM) stay on disk.
function Stop-Hsm([object[]] $Members) {
    foreach ($member in $Members) {
        $member.Simulator.Stopped = $true
        $member.Simulator.Process.Kill()
    }
    foreach ($member in $Members) { $member.Simulator.Process.WaitForExit() }
}

# A file of random hex (a PIN), readable by its owner only.
function New-SecretFile([string] $Path) {
    $bytes = [System.Security.Cryptography.RandomNumberGenerator]::GetBytes(16)
    Set-Content -Path $Path -Value ([Convert]::ToHexString($bytes).ToLowerInvariant()) -NoNewline
    if (-not $IsWindows) { & chmod 600 $Path }
}

# Runs a tool for a demo step and throws with what it said unless it exited with $Expected.
function Invoke-DemoTool([object] $Demo, [string] $What, [string] $Dll, [string[]] $Arguments, [int] $Expected = 0) {
    $result = Invoke-ToolQuiet $Demo.Fleet.State $Dll $Arguments
    if ($result.Code -ne $Expected) {
        $said = @($result.Out, $result.Err) | Where-Object { $_ }
        throw "step $($Demo.Step + 1) ($What): $([System.IO.Path]::GetFileNameWithoutExtension($Dll)) exited with $($result.Code), expected $Expected; it said: $($said -join ' / ')"
    }
    return $result
}

# The operator's token (SoftHSM2, a store of its own), its counter-signing key, and the witness.
function Start-Transparency([object] $Demo, [string] $State, [int] $WitnessPort) {
    $operatorDll = Get-ToolDll 'HsmVault.Operator' 'hsmvault-operator'
    $tokens = Join-Path $State 'operator/tokens'
    New-Item -ItemType Directory -Force -Path $tokens | Out-Null
    $conf = Join-Path $State 'operator/softhsm2.conf'
    Set-Content -Path $conf -Value "directories.tokendir = $tokens`nobjectstore.backend = file`nlog.level = ERROR`n"
    $env:SOFTHSM2_CONF = $conf
    $pin = Join-Path $State 'operator/pin'
    $soPin = Join-Path $State 'operator/so-pin'
    New-SecretFile $pin
    New-SecretFile $soPin
    $operatorKey = Join-Path $State 'operator.pub'
    $token = @('--token', 'hsmvault-operator', '--pin-file', $pin)
    $what = "operator: a token of its own and a P-256 key made in it (never extractable)"
    $made = Invoke-DemoTool $Demo $what $operatorDll (@('init-token', '--so-pin-file', $soPin) + $token)
    $key = Invoke-DemoTool $Demo $what $operatorDll (@('init-key', '--out', $operatorKey) + $token)
    Write-DemoStep $Demo $what "ok: $((Get-Content -Raw $operatorKey).Trim().Substring(0, 16))..." ($made.Seconds + $key.Seconds)

    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $witnessState = Join-Path $State 'witness'
    $witness = Start-Child 'witness' $Demo.Fleet.State @((Get-ToolDll 'HsmVault.Witness' 'hsmvault-witness'), '--state', $witnessState, 'serve',
        '--port', "$WitnessPort", '--operator-key', $operatorKey) 'witness'
    $Demo.Others.Add($witness)
    $listening = Wait-ForLog $witness 'listening on (\S+) as (\S+)' 60
    Write-DemoStep $Demo 'witness: its own process and Ed25519 key, an append-only log' "listening on $($listening.Groups[1].Value)" $clock.Elapsed.TotalSeconds
    return [pscustomobject]@{
        Url = "http://127.0.0.1:$WitnessPort/"; Vkey = Join-Path $witnessState 'witness.vkey'; OperatorKey = $operatorKey
        OperatorDll = $operatorDll; Token = $token; Conf = $conf; Witness = $witness
    }
}

# The operator publishes an epoch: the witness logs and signs it, the operator's token counter-signs.
function Publish-Epoch([object] $Demo, [object] $Log, [int] $Epoch, [object] $Fleet) {
    $env:SOFTHSM2_CONF = $Log.Conf
    $keys = if ($Fleet.Evidence) { Join-Path $Fleet.Evidence 'fleet-keys.json' } else { $Fleet.FleetKey }
    $what = "publish epoch ${Epoch}: fleet $($Fleet.FleetId)'s key file, logged, signed, counter-signed"
    $result = Invoke-DemoTool $Demo $what $Log.OperatorDll (@('publish', '--witness', $Log.Url, '--witness-key', $Log.Vkey, '--namespace', $Demo.Namespace,
            '--epoch', "$Epoch", '--fleet-keys', $keys) + $Log.Token)
    Write-DemoStep $Demo $what 'ok' $result.Seconds
}

# Waits until a host announces the bundle of $Epoch (its announcer refreshes every 2 s).
function Wait-Announced([object] $Member, [int] $Epoch) {
    $null = Wait-ForLog $Member.VaultHost "Announcing the validation bundle of epoch $Epoch " 60
}

# Runs hsmvault over the air and checks its exit code; returns the result and the line that says which fleet it accepted.
function Invoke-DemoOverTheAir([object] $Demo, [object] $Fleet, [string] $What, [int] $Expected, [string] $Password, [string[]] $Arguments) {
    $result = Invoke-HsmvaultQuiet $Fleet $Fleet.Members[0] $Password $Arguments -Trust $Demo.Trust -NoPin
    if ($result.Code -ne $Expected) {
        $said = @($result.Out, $result.Err) | Where-Object { $_ }
        throw "step $($Demo.Step + 1) ($What): hsmvault $($Arguments[0]) exited with $($result.Code), expected $Expected; it said: $($said -join ' / ')"
    }
    $accepted = @($result.ErrLines | Where-Object { $_ -like '*accepted over the air*' } | Select-Object -First 1)
    $result | Add-Member -NotePropertyName Accepted -NotePropertyValue $(if ($accepted.Count -gt 0) { $accepted[0] -replace '^hsmvault: ', '' } else { '' })
    return $result
}

# The second half of the demo: fleet A goes into the transparency log, a second fleet B is deployed
# and published, the client moves to B through the bundle B's host attaches, the retired fleet is
# refused, and both deployments and the log are audited.
function Invoke-OverTheAirDemo([object] $Demo, [int] $SizeB) {
    $fleetA = $Demo.Fleet
    $state = Join-Path $fleetA.State 'over-the-air'
    New-Item -ItemType Directory -Force -Path $state | Out-Null
    Write-Step "Over the air: a witness logs fleet A, a second fleet B is deployed, and the client moves to it through a validation bundle"
    $log = Start-Transparency $Demo $state $Demo.WitnessPort
    $Demo.Trust = [pscustomobject]@{ TrustFile = Join-Path $state 'trust.json'; StateFile = Join-Path $state 'client-newest-epochs.json' }
    $vkey = (Get-Content -Raw $log.Vkey).Trim()
    $operatorHex = (Get-Content -Raw $log.OperatorKey).Trim()
    $trust = [ordered]@{ format = 'hsmvault-transparency-trust/v1'; namespace = $Demo.Namespace; witness = $vkey; operator_key = $operatorHex; cosigners = @(); cosigner_quorum = 0 }
    Set-Content -Path $Demo.Trust.TrustFile -Value ($trust | ConvertTo-Json -Compress)
    Write-Host "       the client pins only the witness's and the operator's keys: $($Demo.Trust.TrustFile)" -ForegroundColor DarkGray

    Publish-Epoch $Demo $log 1 $fleetA
    Wait-Announced $fleetA.Members[0] 1
    $what = "recover via fleet A's host with no fleet key pinned (--trust only)"
    $result = Invoke-DemoOverTheAir $Demo $fleetA $what 0 $Demo.Password @('recover', '--user', $Demo.User, '--out', (Join-Path $state 'recovered-ota.key'))
    if ((Get-Content -Raw (Join-Path $state 'recovered-ota.key')).Trim() -ne $Demo.Key) { throw "step $($Demo.Step + 1) ($what): the recovered key differs from the registered one" }
    Write-DemoStep $Demo $what "ok: $($result.Accepted)" $result.Seconds

    # Fleet B: its own ceremony, tokens, store and hosts; the hosts announce the log's newest bundle.
    $ports = [System.Collections.Generic.HashSet[int]]::new()
    while ($ports.Count -lt 3 * $SizeB) { $null = $ports.Add((Get-FreeTcpPort)) }
    $ports = @($ports)
    $fleetB = New-LocalFleet (Join-Path $state 'fleet-b') $SizeB $ports[0..($SizeB - 1)] $ports[$SizeB..(2 * $SizeB - 1)] $ports[(2 * $SizeB)..(3 * $SizeB - 1)] 'hsmvault-local-b'
    $fleetB.Witness = $log.Url
    $fleetB.Namespace = $Demo.Namespace
    $Demo.FleetB = $fleetB
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $null = Start-LocalFleet $fleetB
    Write-DemoStep $Demo "deploy fleet B: $SizeB more HSMs by the ceremony, hosts that follow the log" "ready" $clock.Elapsed.TotalSeconds

    Publish-Epoch $Demo $log 2 $fleetB
    Wait-Announced $fleetB.Members[0] 2
    $keyB = Join-Path $state 'backup-b.key'
    $what = "register 'user-b' via fleet B's host, the app still pinned to fleet A"
    $result = Invoke-DemoOverTheAir $Demo $fleetB $what 0 $Demo.Password @('register', '--user', 'user-b', '--generate-key', '--out', $keyB, '--fleet-key', $fleetA.FleetKey)
    if (-not $result.Accepted) { throw "step $($Demo.Step + 1) ($what): the client did not say it moved to fleet B" }
    Write-DemoStep $Demo $what "ok: $($result.Accepted)" $result.Seconds

    $what = "recover 'user-b' via fleet B (--trust only)"
    $recovered = Join-Path $state 'recovered-b.key'
    $result = Invoke-DemoOverTheAir $Demo $fleetB $what 0 $Demo.Password @('recover', '--user', 'user-b', '--out', $recovered)
    if ((Get-Content -Raw $recovered).Trim() -ne (Get-Content -Raw $keyB).Trim()) { throw "step $($Demo.Step + 1) ($what): the recovered key differs from the registered one" }
    Write-DemoStep $Demo $what "ok: the registered key" $result.Seconds

    Wait-Announced $fleetA.Members[0] 2
    $what = "status via fleet A's host, now retired: the client must refuse it"
    $result = Invoke-DemoOverTheAir $Demo $fleetA $what 5 $null @('status', '--user', $Demo.User)
    Write-DemoStep $Demo $what "refused as expected, exit 5: $($result.Why -replace '^hsmvault: ', '')" $result.Seconds

    $cli = Get-ToolDll 'HsmVault.Cli' 'hsmvault'
    foreach ($fleet in @($fleetA, $fleetB)) {
        if (-not $fleet.Evidence) { Write-Host "       fleet $($fleet.FleetId) was cloned (TEST ONLY), not deployed: no evidence to audit" -ForegroundColor Yellow; continue }
        # The code hash against the enclave this tree builds (reproducibly: docs/DEPLOYMENT.md).
        $what = "audit fleet $($fleet.FleetId)'s deployment evidence against this build"
        $audit = Invoke-DemoTool $Demo $what $cli @('audit', '--deployment', $fleet.Evidence, '--enclave-assembly', (Get-ToolDll 'HsmVault.Enclave' 'HsmVault.Enclave'))
        Write-DemoStep $Demo $what "ok: $(@($audit.Lines | Select-Object -Last 1))" $audit.Seconds
    }
    $what = "audit the log: the last 50 epochs, signatures, inclusion, consistency"
    $audit = Invoke-DemoTool $Demo $what $cli @('audit', '--log', $log.Url, '--namespace', $Demo.Namespace, '--epochs', '50', '--witness-key', $log.Vkey, '--operator-key', $log.OperatorKey)
    $epochs = @($audit.Lines | Where-Object { $_ -match '^\s*\d+\s+\d+\s' }).Count
    Write-DemoStep $Demo $what "ok: $epochs epochs verified, the table below" $audit.Seconds
    foreach ($line in $audit.Lines) { Write-Host "       $line" -ForegroundColor DarkGray }
}

# The fleet demo: a registration and recoveries through one follower's host while HSMs die and return.
# A site's host goes away: the client's host is killed, and the client, given every host's address,
# skips it and recovers through the next one (nothing was sent to the dead host). Then the host returns.
function Invoke-HostFailoverDemo([object] $Demo) {
    $fleet = $Demo.Fleet
    $via = $Demo.Via
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $via.VaultHost.Stopped = $true
    $via.VaultHost.Process.Kill()
    $via.VaultHost.Process.WaitForExit()
    Write-DemoStep $Demo "kill host $($via.Index), the client's (SIGKILL; its HSM stays up)" 'its port refuses connections' $clock.Elapsed.TotalSeconds

    $endpoints = (@($via) + @($fleet.Members | Where-Object { $_.Index -ne $via.Index })) | ForEach-Object { "127.0.0.1:$($_.Port)" }
    $what = "recover, given every host (host $($via.Index) first)"
    $Demo.Recoveries++
    $file = Join-Path $fleet.State "recovered-$($Demo.Recoveries).key"
    $result = Invoke-HsmvaultQuiet $fleet $via $Demo.Password @('recover', '--user', $Demo.User, '--out', $file) -Endpoint ($endpoints -join ',')
    if ($result.Code -ne 0) { throw "step $($Demo.Step + 1) ($what): hsmvault recover exited with $($result.Code); it said: $($result.Err)" }
    if ((Get-Content -Raw $file).Trim() -ne $Demo.Key) { throw "step $($Demo.Step + 1) ($what): the recovered key differs from the registered one" }
    if ($result.Err -notmatch 'trying the next one') { throw "step $($Demo.Step + 1) ($what): the client did not say it skipped host $($via.Index); it said: $($result.Err)" }
    Write-DemoStep $Demo $what "ok: host $($via.Index) skipped, the registered key from the next" $result.Seconds

    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    Start-FleetHost $fleet $via
    $null = Wait-FleetReady $fleet -Quiet -Only @($via.Index)
    Write-DemoStep $Demo "restart host $($via.Index)" 'ready' $clock.Elapsed.TotalSeconds
}

function Invoke-FleetDemo([int] $Size) {
    $null = Assert-SoftHsm
    Invoke-Build
    $state = Join-Path $Root ".demo/$([DateTime]::UtcNow.ToString('yyyyMMdd-HHmmss'))-fleet$Size"
    $ports = [System.Collections.Generic.HashSet[int]]::new()
    while ($ports.Count -lt 3 * $Size) { $null = $ports.Add((Get-FreeTcpPort)) }
    $ports = @($ports)
    $fleet = New-LocalFleet $state $Size $ports[0..($Size - 1)] $ports[$Size..(2 * $Size - 1)] $ports[(2 * $Size)..(3 * $Size - 1)]
    $tolerated = [int] (($Size - 1) / 2)
    $demo = [pscustomobject]@{
        Fleet = $fleet; Via = $null; Step = 0; Recoveries = 0; Key = $null
        User = 'demo-user'; Password = 'correct horse battery staple'
        # Over the air: the witness's port and namespace, the client's pins, fleet B, the witness process.
        WitnessPort = (Get-FreeTcpPort); Namespace = 'hsmvault-demo'; Trust = $null; FleetB = $null
        Others = [System.Collections.Generic.List[object]]::new()
    }
    # Fleet A's hosts follow the log from the start; they announce once the witness holds epoch 1.
    $fleet.Witness = "http://127.0.0.1:$($demo.WitnessPort)/"
    $fleet.Namespace = $demo.Namespace
    $failed = $false
    $whole = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        $leader = Start-LocalFleet $fleet
        # The client talks to a follower's host, which forwards to the leader's.
        $demo.Via = @($fleet.Members | Where-Object { $_.Index -ne $leader })[0]
        $via = $demo.Via.Index
        Write-Step "The demo: one client, through host $via (a follower: it forwards to the leader's host, member $leader's)"

        $keyFile = Join-Path $state 'backup.key'
        $what = "register '$($demo.User)' with a generated backup key via host $via"
        $result = Invoke-DemoCli $demo $what 0 $demo.Password @('register', '--user', $demo.User, '--generate-key', '--out', $keyFile)
        $demo.Key = (Get-Content -Raw $keyFile).Trim()
        Write-DemoStep $demo $what "ok: registered (key $($demo.Key.Substring(0, 8))...)" $result.Seconds

        Invoke-DemoRecover $demo "recover with the password, all $Size HSMs up"

        # Kill HSMs that are neither the leader's nor the client's host's while there are such.
        $leader = Find-FleetLeader (Get-FleetHealth $fleet)
        if ($leader -lt 0) { $leader = (Wait-FleetReady $fleet -Quiet).Leader }
        $order = @($fleet.Members | Where-Object { $_.Index -ne $leader -and $_.Index -ne $via } | Sort-Object Index -Descending) + @($demo.Via)
        $first = @($order[0..($tolerated - 1)])
        Assert-FleetAlive $fleet
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        Stop-Hsm $first
        Write-DemoStep $demo "kill $(Format-Hsms $first) (SIGKILL; member $leader leads)" "$($Size - $tolerated) of $Size HSMs left: a majority" $clock.Elapsed.TotalSeconds

        Invoke-DemoRecover $demo "recover with $($Size - $tolerated) of $Size HSMs"

        $third = $order[$tolerated]
        Assert-FleetAlive $fleet
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        Stop-Hsm @($third)
        $whose = if ($third -eq $demo.Via) { ", the client's host's (the host stays up)" } else { ' too' }
        Write-DemoStep $demo "kill the HSM of member $($third.Index)$whose (SIGKILL)" "$($Size - $tolerated - 1) of $Size HSMs left: no majority" $clock.Elapsed.TotalSeconds

        $what = "recover with $($Size - $tolerated - 1) of $Size HSMs: the vault must refuse"
        $refused = Invoke-DemoCli $demo $what 2 $demo.Password @('recover', '--user', $demo.User)
        Write-DemoStep $demo $what "refused as expected, exit 2: $($refused.Why)" $refused.Seconds
        $leaderHealth = Get-HostHealth $fleet.Members[$leader]
        Write-Host "       the leader's host says: $($leaderHealth.Code) $($leaderHealth.Status): $($leaderHealth.Detail)" -ForegroundColor DarkGray

        $back = @($first) + @($third)
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        foreach ($member in $back) { Start-FleetSimulator $fleet $member }
        foreach ($member in $back) { $null = Wait-FleetSimulator $member }
        $ready = Wait-FleetReady $fleet -Quiet
        Write-DemoStep $demo "restart $(Format-Hsms $back) (tokens and NVRAM kept)" "all $Size hosts ready, member $($ready.Leader) leads" $clock.Elapsed.TotalSeconds

        # recover asks for the status before it guesses; refused there, it made no guess.
        Invoke-DemoStatus $demo 'status after the outage' 'attempts left: 10 of 10' ' (the refused recovery stopped before its guess)'
        Invoke-DemoRecover $demo "recover with all $Size HSMs back"
        Invoke-HostFailoverDemo $demo

        $sizeB = [Math]::Min($Size, 3)
        Invoke-OverTheAirDemo $demo $sizeB
        Write-Host "demo: a fleet of $Size HSMs served with $tolerated of them down, refused with $($tolerated + 1) down, and served again when they came back; with its host killed, the client skipped it and recovered through the next; a second fleet of $sizeB was deployed over the air, the client moved to it through a validation bundle and refused the retired one, and both deployments and the log passed the audit; every step behaved as expected ($(Format-Seconds $whole) in all)." -ForegroundColor Green
    }
    catch {
        Write-Host "demo: $($_.Exception.Message)" -ForegroundColor Red
        Write-Host "demo: logs of every process are in $state" -ForegroundColor Red
        $failed = $true
    }
    finally {
        if ($demo.FleetB) { Stop-LocalFleet $demo.FleetB 'demo' }
        Stop-LocalFleet $fleet 'demo'
        Stop-Children @($demo.Others)
    }
    if ($failed) { exit 1 }
}

function Invoke-Demo([string[]] $Arguments) {
    $options = Read-DemoOptions $Arguments
    if ($options.Fleet -eq 1) {
        Invoke-SingleDemo
    }
    else {
        Invoke-FleetDemo $options.Fleet
    }
}

# Reads serve's options: --port, --health-port and --peer-port, each a port number (with --fleet N,
# the first of N consecutive ports), and --fleet N.
function Read-ServeOptions([string[]] $Arguments) {
    $options = @{ Port = 7300; HealthPort = 7390; PeerPort = 7400; Fleet = 1 }
    $names = @{ '--port' = 'Port'; '--health-port' = 'HealthPort'; '--peer-port' = 'PeerPort'; '--fleet' = 'Fleet' }
    $given = @{}
    for ($i = 0; $i -lt $Arguments.Count; $i++) {
        $name = $Arguments[$i]
        if (-not $names.ContainsKey($name)) {
            Stop-Usage "serve: unknown option '$name'; options: --port N (client, default 7300), --health-port N (default 7390), --fleet N (1, 3, 5 or 7 HSMs; default 1), --peer-port N (fleet only, default 7400)"
        }
        $value = if ($i + 1 -lt $Arguments.Count) { $Arguments[$i + 1] } else { $null }
        if ($name -eq '--fleet') {
            $options.Fleet = Read-FleetSize 'serve' $value
        }
        else {
            $number = 0
            if (-not [int]::TryParse("$value", [ref] $number) -or $number -lt 1 -or $number -gt 65535) {
                Stop-Usage "serve: $name needs a port number from 1 to 65535, got '$value'"
            }
            $options[$names[$name]] = $number
        }
        $given[$name] = $true
        $i++
    }
    $size = $options.Fleet
    if ($size -eq 1) {
        if ($given.ContainsKey('--peer-port')) {
            Stop-Usage 'serve: --peer-port is for a fleet (--fleet 3, 5 or 7); a single HSM has no peers'
        }
        if ($options.Port -eq $options.HealthPort) {
            Stop-Usage "serve: --port and --health-port are both $($options.Port); they must differ"
        }
        return $options
    }
    # Member i uses the ports first + i: the three ranges must fit and must not overlap.
    $ranges = @(
        @{ Option = '--port'; What = 'client'; First = $options.Port },
        @{ Option = '--health-port'; What = 'health'; First = $options.HealthPort },
        @{ Option = '--peer-port'; What = 'peer'; First = $options.PeerPort })
    foreach ($range in $ranges) {
        if ($range.First + $size - 1 -gt 65535) {
            Stop-Usage "serve: $($range.Option) $($range.First): a fleet of $size needs the ports $($range.First) to $($range.First + $size - 1), past 65535"
        }
    }
    for ($a = 0; $a -lt $ranges.Count; $a++) {
        for ($b = $a + 1; $b -lt $ranges.Count; $b++) {
            $x = $ranges[$a]; $y = $ranges[$b]
            if ($x.First -lt $y.First + $size -and $y.First -lt $x.First + $size) {
                Stop-Usage ("serve: with --fleet $size the $($x.What) ports ($($x.Option)) $($x.First)-$($x.First + $size - 1) and the " +
                    "$($y.What) ports ($($y.Option)) $($y.First)-$($y.First + $size - 1) overlap; each needs $size ports of its own")
            }
        }
    }
    return $options
}

# Keeps earlier runs' logs: the previous run's *.out/*.err move to logs/<its start time>/, so a
# crash can still be read after a restart. The state (token, store, fleet keys) stays in place.
function Move-PreviousLogs([string] $State) {
    $logs = @(Get-ChildItem -Path $State -File -ErrorAction SilentlyContinue | Where-Object { $_.Extension -in '.out', '.err' })
    if ($logs.Count -eq 0) { return }
    $stamp = ($logs | Sort-Object LastWriteTimeUtc | Select-Object -First 1).LastWriteTimeUtc.ToString('yyyyMMdd-HHmmss')
    $target = Join-Path $State "logs/$stamp"
    if (Test-Path $target) { $target = "$target-$([Guid]::NewGuid().ToString('n').Substring(0, 6))" }
    New-Item -ItemType Directory -Force -Path $target | Out-Null
    $logs | Move-Item -Destination $target
    Write-Host "    the previous run's logs are in $target"
}

function Invoke-Serve([string[]] $Arguments) {
    $options = Read-ServeOptions $Arguments
    if ($options.Fleet -gt 1) {
        Invoke-FleetServe $options
        return
    }
    foreach ($check in @(@{ Port = $options.Port; What = 'client port (--port)' }, @{ Port = $options.HealthPort; What = 'health port (--health-port)' })) {
        if (-not (Test-PortFree $check.Port)) {
            Write-Host "serve: the $($check.What) $($check.Port) is already in use on 127.0.0.1: stop what holds it, or choose another with $(($check.What -split '[()]')[1])" -ForegroundColor Red
            exit 1
        }
    }
    $null = Assert-SoftHsm
    Invoke-Build
    $state = Join-Path $Root '.demo/serve'
    New-Item -ItemType Directory -Force -Path $state | Out-Null
    Move-PreviousLogs $state
    $vault = Start-LocalVault $state $options.Port $options.HealthPort
    Write-Host ''
    Write-Host "HsmVault is serving on 127.0.0.1:$($vault.Port) (health: http://127.0.0.1:$($vault.HealthPort)/health). Logs: $state/{simulator,host}.{out,err}. Try:"
    Write-Host "  dotnet $(Join-Path (Get-ArtifactsBin) 'HsmVault.Cli/release/hsmvault.dll') register --endpoint 127.0.0.1:$($vault.Port) --fleet-key '$($vault.FleetKey)' --user alice --generate-key"
    Write-Host 'Press Ctrl+C to stop.'
    $died = $null
    try {
        while (-not $died) {
            Start-Sleep -Seconds 1
            $died = @($vault.Host, $vault.Simulator) | Where-Object { $_.Process.HasExited } | Select-Object -First 1
        }
        Write-Host "serve: $(Get-ChildDeath $died)" -ForegroundColor Red
    }
    finally {
        Stop-Child $vault.Host
        Stop-Child $vault.Simulator
    }
    exit 1
}

# serve --fleet N: the local fleet on fixed ports (member i: client --port + i, health
# --health-port + i, peer --peer-port + i), its state in .demo/serve-fleet-N/ (kept across runs:
# the next serve opens the same fleet), one log pair per process there. A child that dies is
# reported and the rest serve on; Ctrl+C stops them all.
function Invoke-FleetServe([hashtable] $Options) {
    $size = $Options.Fleet
    $plan = @{
        Port = @(0..($size - 1) | ForEach-Object { $Options.Port + $_ })
        HealthPort = @(0..($size - 1) | ForEach-Object { $Options.HealthPort + $_ })
        PeerPort = @(0..($size - 1) | ForEach-Object { $Options.PeerPort + $_ })
    }
    foreach ($check in @(@{ Key = 'Port'; What = 'client port'; Option = '--port' }, @{ Key = 'HealthPort'; What = 'health port'; Option = '--health-port' }, @{ Key = 'PeerPort'; What = 'peer port'; Option = '--peer-port' })) {
        for ($i = 0; $i -lt $size; $i++) {
            $port = $plan[$check.Key][$i]
            if (-not (Test-PortFree $port)) {
                Write-Host "serve: the $($check.What) of member $i, $port, is already in use on 127.0.0.1: stop what holds it, or move the fleet's $($check.What)s with $($check.Option)" -ForegroundColor Red
                exit 1
            }
        }
    }
    $null = Assert-SoftHsm
    Invoke-Build
    $state = Join-Path $Root ".demo/serve-fleet-$size"
    New-Item -ItemType Directory -Force -Path $state | Out-Null
    $missing = @(0..($size - 1) | Where-Object { -not (Test-Path (Join-Path $state "hsm-$_/token-initialized")) })
    if ((Test-Path (Join-Path $state 'fleet.db')) -and $missing.Count -gt 0) {
        Write-Host "serve: $state holds a fleet's store, but HSM $($missing[0])'s token is missing, and a formed fleet takes no new member: remove $state to start a new fleet" -ForegroundColor Red
        exit 1
    }
    Move-PreviousLogs $state
    $fleet = New-LocalFleet $state $size $plan.Port $plan.HealthPort $plan.PeerPort
    try {
        $leader = Start-LocalFleet $fleet
        $cli = Join-Path (Get-ArtifactsBin) 'HsmVault.Cli/release/hsmvault.dll'
        Write-Host ''
        Write-Host "HsmVault is serving as a fleet of $size HSMs (member $leader leads); any host answers, followers forward to the leader:"
        foreach ($member in $fleet.Members) {
            Write-Host "  member $($member.Index): client 127.0.0.1:$($member.Port)  health http://127.0.0.1:$($member.HealthPort)/health/ready  peer tcp:127.0.0.1:$($member.PeerPort)  (simulator pid $($member.Simulator.Process.Id), host pid $($member.VaultHost.Process.Id))"
        }
        Write-Host "Fleet-key file (the client pins it): $($fleet.FleetKey)"
        Write-Host "Logs: $state/{simulator,host}-<member>.{out,err}. Try:"
        Write-Host "  dotnet $cli register --endpoint 127.0.0.1:$($fleet.Members[0].Port) --fleet-key '$($fleet.FleetKey)' --user alice --generate-key"
        Write-Host "The fleet serves while a majority ($([int] (($size + 1) / 2)) of $size) of its HSMs is up: kill a simulator's pid to see it. Press Ctrl+C to stop."
        while ($true) {
            Start-Sleep -Seconds 1
            foreach ($child in Get-FleetChildren $fleet) {
                if (-not $child.Stopped -and $child.Process.HasExited) {
                    Write-Host "serve: $(Get-ChildDeath $child)" -ForegroundColor Red
                    $child.Stopped = $true
                }
            }
            if (@($fleet.Members | Where-Object { -not $_.VaultHost.Process.HasExited }).Count -eq 0) {
                Write-Host 'serve: every host has exited' -ForegroundColor Red
                break
            }
        }
    }
    catch {
        Write-Host "serve: $($_.Exception.Message)" -ForegroundColor Red
        Write-Host "serve: the logs of every process are in $state" -ForegroundColor Red
    }
    finally {
        Stop-LocalFleet $fleet 'serve'
    }
    exit 1
}

# The same simulation the CI test runs, over more seeds and steps (FleetSimulationTests reads them).
function Invoke-Simulate([string[]] $Arguments) {
    $settings = @{ '--seeds' = 'HSMVAULT_SIM_SEEDS'; '--steps' = 'HSMVAULT_SIM_STEPS'; '--first-seed' = 'HSMVAULT_SIM_FIRST_SEED' }
    $env:HSMVAULT_SIM_SEEDS = '100'
    $env:HSMVAULT_SIM_STEPS = '400'
    for ($i = 0; $i -lt $Arguments.Count; $i += 2) {
        $option = $Arguments[$i]
        if (-not $settings.ContainsKey($option) -or $i + 1 -ge $Arguments.Count -or $Arguments[$i + 1] -notmatch '^[1-9][0-9]*$') {
            Write-Host "simulate: '$option' is not one of --seeds N, --steps M, --first-seed S (positive whole numbers)." -ForegroundColor Red
            exit 2
        }
        Set-Item -Path "env:$($settings[$option])" -Value $Arguments[$i + 1]
    }

    Invoke-Build
    $project = Join-Path $Root 'tests/HsmVault.Enclave.Tests/HsmVault.Enclave.Tests.csproj'
    & dotnet test $project -c $Configuration --no-build -nologo --filter 'FullyQualifiedName~FleetSimulationTests' --logger 'console;verbosity=detailed' |
        Where-Object { $_ -match 'simulate:|fleet simulation seed|Passed!|Failed!' } | Out-Host
    if ($LASTEXITCODE -ne 0) { exit 1 }
}

function Invoke-Crash([string[]] $Arguments) {
    for ($i = 0; $i -lt $Arguments.Count; $i += 2) {
        $option = $Arguments[$i]
        $value = if ($i + 1 -lt $Arguments.Count) { $Arguments[$i + 1] } else { '' }
        $ok = switch ($option) {
            { $_ -in '--rounds', '--ops', '--seed' } { $value -match '^[1-9][0-9]*$' }
            '--store' { $value -in 'sqlite', 'postgres' }
            default { $false }
        }
        if (-not $ok) {
            Stop-Usage "crash: '$option $value' is not one of --rounds N, --ops N, --seed S (positive whole numbers), --store sqlite|postgres"
        }
    }

    Assert-SoftHsm | Out-Null
    if ($Arguments -contains 'postgres') { Assert-Postgres | Out-Null }
    Invoke-Build
    $dll = Join-Path (Get-ArtifactsBin) "HsmVault.Benchmarks/$($Configuration.ToLowerInvariant())/HsmVault.Benchmarks.dll"
    & dotnet $dll crash @Arguments | Out-Host
    if ($LASTEXITCODE -ne 0) { exit 1 }
}

# load and soak: the option names are checked here, before a build; their values by the load
# selector itself (tests/HsmVault.Benchmarks/LoadOptions.cs), which names the option that is wrong.
$LoadValued = @('--clients', '--seconds', '--warmup', '--fleet', '--store', '--mix', '--users', '--via', '--seed', '--minutes', '--sample-seconds', '--csv')
$LoadFlags = @('--reference', '--soak', '--help', '-h')

function Invoke-Load([string[]] $Arguments, [switch] $Soak) {
    $name = if ($Soak) { 'soak' } else { 'load' }
    for ($i = 0; $i -lt $Arguments.Count; $i++) {
        $option = $Arguments[$i]
        if ($option -in $LoadFlags) { continue }
        if ($option -notin $LoadValued) {
            Stop-Usage "${name}: unknown option '$option'; options: $($LoadValued -join ', '), $($LoadFlags -join ', ') (dotnet pwsh build.ps1 $name --help)"
        }
        if ($i + 1 -ge $Arguments.Count -or $Arguments[$i + 1].StartsWith('--')) { Stop-Usage "${name}: $option needs a value" }
        $i++
    }

    $dll = Join-Path (Get-ArtifactsBin) "HsmVault.Benchmarks/$($Configuration.ToLowerInvariant())/HsmVault.Benchmarks.dll"
    if ($Arguments -contains '--help' -or $Arguments -contains '-h') {
        if (-not (Test-Path $dll)) { Invoke-Build }
        & dotnet $dll load --help | Out-Host
        return
    }

    Assert-SoftHsm | Out-Null
    $i = [array]::IndexOf($Arguments, '--store')
    if ($i -ge 0 -and $i + 1 -lt $Arguments.Count -and $Arguments[$i + 1] -eq 'postgres') { Assert-Postgres | Out-Null }
    Invoke-Build
    $all = @('load') + $(if ($Soak) { @('--soak') } else { @() }) + $Arguments
    & dotnet $dll @all | Out-Host
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

# Verifies model/fleet.pml with spin in a temporary folder: spin -a, gcc -O2 -DSAFETY, pan.
function Invoke-Model([string[]] $Arguments) {
    $bug = $null
    $defines = [System.Collections.Generic.List[string]]::new()
    $bugSwitches = @{ quorum = 'BUG_QUORUM'; capture = 'BUG_CAPTURE' }
    for ($i = 0; $i -lt $Arguments.Count; $i++) {
        $option = $Arguments[$i]
        if (($option -in @('--bug', '--define')) -and ($i + 1 -ge $Arguments.Count)) {
            Write-Host "model: $option needs a value." -ForegroundColor Red
            exit 2
        }
        if ($option -eq '--bug') {
            $i++
            $bug = $Arguments[$i].ToLowerInvariant()
            if (-not $bugSwitches.ContainsKey($bug)) {
                Write-Host "model: unknown bug '$bug'; use --bug quorum or --bug capture." -ForegroundColor Red
                exit 2
            }
            $defines.Add($bugSwitches[$bug])
        }
        elseif ($option -eq '--define') {
            $i++
            $defines.Add($Arguments[$i])
        }
        else {
            Write-Host "model: unknown option '$option'. Options: --bug quorum|capture, --define NAME[=VALUE]." -ForegroundColor Red
            exit 2
        }
    }

    $spin = Assert-Spin
    $gcc = Assert-Gcc
    $flags = @($defines | ForEach-Object { "-D$_" })
    $label = if ($bug) { "model --bug $bug" } else { 'model' }
    $work = Join-Path ([System.IO.Path]::GetTempPath()) "hsmvault-model-$([Guid]::NewGuid().ToString('N').Substring(0, 12))"
    New-Item -ItemType Directory -Path $work | Out-Null
    Push-Location $work
    try {
        Copy-Item -Path (Join-Path $Root 'model/fleet.pml') -Destination $work
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        Write-Step "spin -a $(($flags + @('fleet.pml')) -join ' ') (in $work)"
        Invoke-Native $spin (@('-a') + $flags + @('fleet.pml'))
        Invoke-Native $gcc @('-O2', '-DSAFETY', '-o', 'pan', 'pan.c')
        Write-Step './pan -m10000'
        $output = & (Join-Path $work 'pan') '-m10000' 2>&1 | Out-String
        $panExit = $LASTEXITCODE
        $clock.Stop()
        $output | Out-Host

        $errors = if ($output -match 'errors: (\d+)') { [int] $Matches[1] } else { -1 }
        $states = if ($output -match '([0-9.e+]+) states, stored') { [double]::Parse($Matches[1], [System.Globalization.CultureInfo]::InvariantCulture) } else { -1 }
        $depth = if ($output -match 'depth reached (\d+)') { [int] $Matches[1] } else { -1 }
        $incomplete = $output -match 'max search depth too small|out of memory'
        $summary = "${label}: states=$($states.ToString('F0', [System.Globalization.CultureInfo]::InvariantCulture)) depth=$depth errors=$errors time=$($clock.Elapsed.TotalSeconds.ToString('F1', [System.Globalization.CultureInfo]::InvariantCulture))s"

        $violation = $null
        $steps = @()
        if (Test-Path (Join-Path $work 'fleet.pml.trail')) {
            $violation = if ($output -match 'assertion violated (.+) \(at depth \d+\)') { $Matches[1] } else { 'see the pan output above' }
            $replay = & $spin (@('-t') + $flags + @('fleet.pml')) 2>&1 | Out-String
            $steps = @($replay -split "`n" | Where-Object { $_ -match 'MSC: ' } | ForEach-Object { ($_ -replace '^\s*MSC: ', '').TrimEnd() })
            Write-Host "Counterexample (spin -t), $(@($steps | Where-Object { $_ -notmatch '^StepDown' }).Count) steps:"
            $steps | ForEach-Object { Write-Host "    $_" }
        }

        if ($bug) {
            if ($violation -and $panExit -eq 0) {
                $count = @($steps | Where-Object { $_ -notmatch '^StepDown' }).Count
                Write-Host "$summary; violation found: assertion violated $violation (counterexample: $count steps)" -ForegroundColor Green
                return
            }
            Write-Host "$summary; the seeded bug was NOT found" -ForegroundColor Red
            exit 1
        }
        if ($panExit -ne 0 -or $errors -ne 0 -or $incomplete) {
            Write-Host $summary -ForegroundColor Red
            if ($incomplete) { Write-Host 'The search did not complete (depth bound or memory).' -ForegroundColor Red }
            exit 1
        }
        Write-Host $summary -ForegroundColor Green
    }
    finally {
        Pop-Location
        Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    }
}

# The fuzz targets (fuzz/HsmVault.Fuzz, FuzzTargets.cs; a test checks the two lists agree), checked
# here before a build so a typo stops at once.
$CorpusCap = 60
$FuzzTargets = @('frame', 'host-request', 'enclave', 'vault-request', 'sealed-state', 'channel', 'opaque', 'merkle', 'fleet', 'fleet-keys', 'bundle', 'client-response', 'witness')

# Reads fuzz's options: --list, or --target T with --minutes N (default 2; a decimal is fine).
function Read-FuzzOptions([string[]] $Arguments) {
    $usage = "fuzz: use --list, or --target T [--minutes N] with T one of $($FuzzTargets -join ', ')"
    $options = @{ List = $false; Target = $null; Minutes = 2.0 }
    for ($i = 0; $i -lt $Arguments.Count; $i++) {
        $name = $Arguments[$i]
        $value = if ($i + 1 -lt $Arguments.Count) { $Arguments[$i + 1] } else { $null }
        switch ($name) {
            '--list' { $options.List = $true }
            '--target' {
                if ($value -notin $FuzzTargets) { Stop-Usage "fuzz: unknown target '$value'; targets: $($FuzzTargets -join ', ')" }
                $options.Target = $value
                $i++
            }
            '--minutes' {
                $number = 0.0
                if (-not [double]::TryParse("$value", [System.Globalization.NumberStyles]::Float, [System.Globalization.CultureInfo]::InvariantCulture, [ref] $number) -or $number -le 0 -or $number -gt 1440) {
                    Stop-Usage "fuzz: --minutes needs a number of minutes above 0 and at most 1440, got '$value'"
                }
                $options.Minutes = $number
                $i++
            }
            default { Stop-Usage "fuzz: unknown option '$name'; $($usage.Substring(6))" }
        }
    }
    if (-not $options.List -and -not $options.Target) { Stop-Usage $usage }
    return $options
}

# afl-fuzz and afl-cmin come from the OS's afl++ package.
function Assert-Afl {
    $afl = Find-Tool 'afl-fuzz'
    if (-not $afl -and (Test-IsRoot)) {
        Install-OsPackage 'AFL++' 'afl++'
        $afl = Find-Tool 'afl-fuzz'
    }
    if (-not $afl) { throw "afl-fuzz is not installed. Install it with 'sudo apt-get install afl++' (Debian/Ubuntu), then run again." }
    return [pscustomobject]@{ Fuzz = $afl; Cmin = (Find-Tool 'afl-cmin') }
}

function Read-AflStats([string] $File) {
    $stats = @{}
    if (Test-Path $File) {
        foreach ($line in Get-Content $File) {
            if ($line -match '^\s*(\S+)\s*:\s*(.*?)\s*$') { $stats[$Matches[1]] = $Matches[2] }
        }
    }
    return $stats
}

# A corpus file's name in the repository: seeds keep theirs, AFL's finds are named by content.
function Get-CorpusName([System.IO.FileInfo] $File) {
    if ($File.Name -match 'orig:(seed-[A-Za-z0-9._-]+)') { return $Matches[1] }
    $hash = (Get-FileHash -Algorithm SHA256 -Path $File.FullName).Hash.Substring(0, 16).ToLowerInvariant()
    return "afl-$hash"
}

# Greedy set cover over afl-showmap's per-file edge maps: up to $Max files, each the one that adds
# the most edges not yet covered, so a capped corpus keeps as much coverage as it can.
function Select-CorpusByCoverage([string] $Maps, [int] $Max) {
    $edges = @{}
    foreach ($map in Get-ChildItem -Path $Maps -File) {
        $edges[$map.Name] = [System.Collections.Generic.HashSet[string]]::new([string[]]@(Get-Content $map.FullName | ForEach-Object { ($_ -split ':')[0] }))
    }
    $covered = [System.Collections.Generic.HashSet[string]]::new()
    $chosen = [System.Collections.Generic.List[string]]::new()
    while ($chosen.Count -lt $Max -and $edges.Count -gt 0) {
        $best = $null
        $bestGain = 0
        foreach ($name in $edges.Keys) {
            $left = [System.Collections.Generic.HashSet[string]]::new($edges[$name])
            $left.ExceptWith($covered)
            $gain = $left.Count
            if ($gain -gt $bestGain -or ($gain -eq $bestGain -and $gain -gt 0 -and [string]::CompareOrdinal($name, $best) -lt 0)) { $best = $name; $bestGain = $gain }
        }
        if (-not $best) { break }
        $covered.UnionWith($edges[$best])
        $chosen.Add($best)
        $edges.Remove($best)
    }
    return [pscustomobject]@{ Files = $chosen; Edges = $covered.Count }
}

# Publishes the fuzz program, instruments the target's assemblies with SharpFuzz, runs afl-fuzz for
# the given minutes from the seeds and fuzz/corpus/T, minimises what it found with afl-cmin into
# fuzz/corpus/T, and reports executions, paths, edges and findings (replayed in process).
function Invoke-Fuzz([string[]] $Arguments) {
    $options = Read-FuzzOptions $Arguments
    $project = Join-Path $Root 'fuzz/HsmVault.Fuzz/HsmVault.Fuzz.csproj'
    if ($options.List) {
        Invoke-Native 'dotnet' @('build', $project, '-c', $Configuration, '-nologo', '-v', 'quiet')
        Invoke-Native 'dotnet' @((Join-Path (Get-ArtifactsBin) "HsmVault.Fuzz/$($Configuration.ToLowerInvariant())/HsmVault.Fuzz.dll"), 'list')
        return
    }

    $target = $options.Target
    $afl = Assert-Afl
    Invoke-Native 'dotnet' @('tool', 'restore')
    $work = Join-Path (Split-Path -Parent (Get-ArtifactsBin)) "fuzz/$target"
    if (Test-Path $work) { Remove-Item -Recurse -Force $work }
    $bin = Join-Path $work 'bin'
    Write-Step "Publishing the fuzz program to $bin"
    Invoke-Native 'dotnet' @('publish', $project, '-c', $Configuration, '-o', $bin, '-nologo', '-v', 'quiet')
    $program = Join-Path $bin 'HsmVault.Fuzz.dll'
    $assemblies = @(& dotnet $program 'assemblies' $target)
    if ($LASTEXITCODE -ne 0 -or $assemblies.Count -eq 0) { throw "the fuzz program does not know target '$target'" }
    Write-Step "Instrumenting with SharpFuzz: $($assemblies -join ', ')"
    foreach ($assembly in $assemblies) {
        Invoke-Native 'dotnet' @('sharpfuzz', (Join-Path $bin "$assembly.dll"))
    }

    $corpus = Join-Path $Root "fuzz/corpus/$target"
    $inputs = Join-Path $work 'in'
    Invoke-Native 'dotnet' @($program, 'seeds', $target, $work)
    New-Item -ItemType Directory -Force -Path $inputs | Out-Null
    Get-ChildItem -Path (Join-Path $work $target) -File | Copy-Item -Destination $inputs
    $kept = @(Get-ChildItem -Path $corpus -File -ErrorAction SilentlyContinue)
    $kept | Copy-Item -Destination $inputs -Force

    $env:AFL_SKIP_BIN_CHECK = '1'
    $env:AFL_NO_UI = '1'
    $env:AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES = '1'
    $env:AFL_SKIP_CPUFREQ = '1'
    $env:AFL_NO_AFFINITY = '1'
    $env:AFL_FORKSRV_INIT_TMOUT = '60000'
    $seconds = [int][Math]::Max(10, [Math]::Round($options.Minutes * 60))
    $out = Join-Path $work 'out'
    $dotnet = (Get-Command 'dotnet' -CommandType Application | Select-Object -First 1).Source
    $command = @('--', $dotnet, $program, 'afl', $target)
    Write-Step "afl-fuzz -V $seconds on '$target' ($($kept.Count) corpus files and the seeds)"
    & $afl.Fuzz -V $seconds -i $inputs -o $out -t 2000 -m none @command *> (Join-Path $work 'afl-fuzz.log')
    $aflExit = $LASTEXITCODE
    $stats = Read-AflStats (Join-Path $out 'default/fuzzer_stats')
    if ($aflExit -ne 0 -or $stats.Count -eq 0) {
        Get-Content (Join-Path $work 'afl-fuzz.log') -Tail 30 | Out-Host
        throw "afl-fuzz failed (exit $aflExit); its log is $(Join-Path $work 'afl-fuzz.log')"
    }

    # Keep a small corpus: what afl-cmin says covers every edge seen, seeds by name, finds by content.
    $queue = Join-Path $out 'default/queue'
    $minimised = Join-Path $work 'min'
    if ($afl.Cmin) {
        & $afl.Cmin -e -i $queue -o $minimised -t 5000 -m none @command *> (Join-Path $work 'afl-cmin.log')
    }
    if (-not (Test-Path $minimised) -or @(Get-ChildItem $minimised -File).Count -eq 0) {
        Write-Host 'fuzz: afl-cmin gave nothing; keeping the whole queue' -ForegroundColor Yellow
        $minimised = $queue
    }
    $files = @(Get-ChildItem -Path $minimised -File)
    if ($files.Count -gt $CorpusCap) {
        # Still too many for the repository: keep the files that together cover the most edges.
        $maps = Join-Path $work 'maps'
        & (Find-Tool 'afl-showmap') -i $minimised -o $maps -t 5000 -m none -e @command *> (Join-Path $work 'afl-showmap.log')
        $selection = Select-CorpusByCoverage $maps $CorpusCap
        Write-Host "fuzz: afl-cmin kept $($files.Count) files; the $($selection.Files.Count) kept in the repository cover $($selection.Edges) of their edges"
        $files = @($files | Where-Object { $selection.Files.Contains($_.Name) })
    }
    New-Item -ItemType Directory -Force -Path $corpus | Out-Null
    Get-ChildItem -Path $corpus -File | Where-Object { $_.Name -notlike 'finding-*' } | Remove-Item
    foreach ($file in $files) { Copy-Item $file.FullName (Join-Path $corpus (Get-CorpusName $file)) }

    # Findings: every crash and hang AFL saved, replayed in process to show the exception.
    $findings = @()
    foreach ($kind in 'crashes', 'hangs') {
        $found = @(Get-ChildItem -Path (Join-Path $out "default/$kind") -File -Filter 'id*' -ErrorAction SilentlyContinue)
        if ($found.Count -eq 0) { continue }
        $keep = Join-Path $work "findings/$kind"
        New-Item -ItemType Directory -Force -Path $keep | Out-Null
        $found | ForEach-Object { Copy-Item $_.FullName (Join-Path $keep (Get-CorpusName $_)) }
        Write-Step "Replaying $($found.Count) $kind in process ($keep)"
        & dotnet $program 'replay' $target $keep | Out-Host
        $findings += $found
    }

    $invariant = [System.Globalization.CultureInfo]::InvariantCulture
    $execs = [long]$stats['execs_done']
    $rate = [double]::Parse($stats['execs_per_sec'], $invariant)
    Write-Host ("fuzz ${target}: {0:N0} executions in {1} s ({2:N0}/s), paths {3} ({4} new), edges {5} (bitmap {6}), stability {7}, crashes {8}, hangs {9}; corpus: {10} files in fuzz/corpus/{11}" -f
        $execs, $stats['run_time'], $rate, $stats['corpus_count'], $stats['corpus_found'], $stats['edges_found'], $stats['bitmap_cvg'], $stats['stability'],
        $stats['saved_crashes'], $stats['saved_hangs'], $files.Count, $target)
    if ($findings.Count -gt 0) {
        Write-Host "fuzz ${target}: $($findings.Count) finding(s) kept in $(Join-Path $work 'findings')" -ForegroundColor Red
        exit 1
    }
}

function Invoke-Clean {
    Write-Step 'Removing artifacts/, TestResults/ and BenchmarkDotNet.Artifacts/'
    foreach ($folder in 'artifacts', 'TestResults', 'BenchmarkDotNet.Artifacts', '.demo') {
        $path = Join-Path $Root $folder
        if (Test-Path $path) { Remove-Item -Recurse -Force $path }
    }
}

Push-Location $Root
try {
    switch ($Target.ToLowerInvariant()) {
        # PowerShell binds 'fuzz --target T' to this script's own -Target: T arrives as the target, 'fuzz' first in the rest.
        { $Rest.Count -gt 0 -and $Rest[0] -eq 'fuzz' } { Invoke-Fuzz (@('--target', $Target) + @($Rest | Select-Object -Skip 1)); break }
        'build' { Invoke-Build }
        'test' { Invoke-Test }
        'bench' { Invoke-Bench $Rest }
        'demo' { Invoke-Demo $Rest }
        'serve' { Invoke-Serve $Rest }
        'model' { Invoke-Model $Rest }
        'simulate' { Invoke-Simulate $Rest }
        'crash' { Invoke-Crash $Rest }
        'load' { Invoke-Load $Rest }
        'soak' { Invoke-Load $Rest -Soak }
        'fuzz' { Invoke-Fuzz $Rest }
        'clean' { Invoke-Clean }
        { $_ -in 'help', '-h', '--help', '-?' } { Get-Help $PSCommandPath -Detailed | Out-String | Write-Host }
        default {
            Write-Host "Unknown target '$Target'. Targets: build, test, bench [crypto|enclave|e2e|fleet|ct|seal|scale], demo [--fleet N], serve [--port N] [--health-port N] [--fleet N] [--peer-port N], model, simulate, crash [--rounds N], load [--clients N] [--seconds S] [--fleet N] [--store sqlite|postgres] [--mix recover|register|mixed|guess], soak [--minutes M], fuzz --target T [--minutes N] | --list, clean, help." -ForegroundColor Red
            exit 2
        }
    }
}
finally {
    Pop-Location
}
