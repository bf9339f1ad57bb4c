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
        test             check prerequisites (SoftHSM2), run every test project, print
                         "tests: N passed, M failed" from the real results; non-zero exit
                         on any failure or when no test ran
        bench [what]     run a benchmark suite: crypto (default), enclave, e2e; options
                         --quick (every suite shorter), --million (enclave: grow to 10^6
                         records). e2e starts a simulator and a host as real processes and
                         drives 1, 8 and 64 concurrent clients (about 2 minutes)
        demo             the main job: a local simulated vault, a registration and a recovery
        serve            start a simulator and a host on loopback and leave them running
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

# SoftHSM2 is the simulator's key store: the tests and the demo run against the real thing.
function Assert-SoftHsm {
    $library = Find-SoftHsmLibrary
    if ($library) { return $library }
    if (Test-IsRoot) {
        Write-Step 'SoftHSM2 is missing: installing it from the OS packages (apt-get install softhsm2)'
        $env:DEBIAN_FRONTEND = 'noninteractive'
        Invoke-Native 'apt-get' @('update', '-qq')
        Invoke-Native 'apt-get' @('install', '-y', '-qq', 'softhsm2')
        $library = Find-SoftHsmLibrary
        if ($library) { return $library }
    }
    throw ("SoftHSM2 is not installed (no libsofthsm2.so found). Install it with 'sudo apt-get install softhsm2' " +
        "(Debian/Ubuntu) or set HSMVAULT_PKCS11_LIBRARY to the path of a PKCS#11 library, then run again.")
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
        Write-Step 'PostgreSQL is missing: installing it from the OS packages (apt-get install postgresql)'
        $env:DEBIAN_FRONTEND = 'noninteractive'
        Invoke-Native 'apt-get' @('update', '-qq')
        Invoke-Native 'apt-get' @('install', '-y', '-qq', 'postgresql')
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

function Invoke-Bench([string[]] $What) {
    if (-not $What -or $What.Count -eq 0) { $What = @('crypto') }
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

function Wait-ForLog([string] $Path, [string] $Pattern, [System.Diagnostics.Process] $Process, [int] $Seconds = 60) {
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        if (Test-Path $Path) {
            $match = Select-String -Path $Path -Pattern $Pattern | Select-Object -First 1
            if ($match) { return $match.Matches[0] }
        }
        if ($Process.HasExited) { break }
        Start-Sleep -Milliseconds 200
    }
    if (Test-Path $Path) { Get-Content $Path | Write-Host }
    throw "Timed out or exited while waiting for /$Pattern/ in $Path"
}

function Wait-ForTcp([int] $Port, [System.Diagnostics.Process] $Process, [int] $Seconds = 60) {
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        if ($Process.HasExited) { throw "The host exited with code $($Process.ExitCode)." }
        $client = [System.Net.Sockets.TcpClient]::new()
        try { $client.Connect('127.0.0.1', $Port); return } catch { Start-Sleep -Milliseconds 200 } finally { $client.Dispose() }
    }
    throw "The host did not open port $Port within $Seconds s."
}

function Stop-Child([System.Diagnostics.Process] $Process) {
    if ($Process -and -not $Process.HasExited) {
        & kill -TERM $Process.Id 2>$null
        if (-not $Process.WaitForExit(15000)) { $Process.Kill($true) }
    }
}

# Starts a simulator on a fresh SoftHSM2 token and a host on loopback. Returns what the caller needs.
function Start-LocalVault([string] $State) {
    $bin = Get-ArtifactsBin
    $simulator = Join-Path $bin "HsmVault.Simulator/$($Configuration.ToLowerInvariant())/HsmVault.Simulator.dll"
    $hostDll = Join-Path $bin "HsmVault.Host/$($Configuration.ToLowerInvariant())/HsmVault.Host.dll"
    New-Item -ItemType Directory -Force -Path $State | Out-Null
    # SoftHSM2 reads SOFTHSM2_CONF when it loads; the simulator writes this file before it loads the library.
    $env:SOFTHSM2_CONF = Join-Path $State 'hsm/softhsm2.conf'
    $socket = Join-Path $State 'hsm.sock'
    Write-Step "Starting the simulated HSM (SoftHSM2 token in $State/hsm)"
    $sim = Start-Process -FilePath 'dotnet' -PassThru -NoNewWindow `
        -ArgumentList @($simulator, 'serve', '--listen', "unix:$socket", '--state-dir', (Join-Path $State 'hsm'), '--token-label', 'hsmvault-demo') `
        -RedirectStandardOutput (Join-Path $State 'simulator.out') -RedirectStandardError (Join-Path $State 'simulator.err')
    $null = Wait-ForLog (Join-Path $State 'simulator.out') 'listening on .*fleet keys in ' $sim
    $fleetKey = Join-Path $State 'hsm/fleet-keys.json'
    $digest = (Select-String -Path (Join-Path $State 'simulator.out') -Pattern 'fleet-key set sha256 ([0-9a-f]{64})' | Select-Object -First 1).Matches[0].Groups[1].Value
    Write-Host "    fleet-key set (pinned by the client): $fleetKey (sha256 $($digest.Substring(0, 16))...)"

    $port = Get-FreeTcpPort
    $healthPort = Get-FreeTcpPort
    Write-Step "Starting the host on 127.0.0.1:$port"
    $vaultHost = Start-Process -FilePath 'dotnet' -PassThru -NoNewWindow `
        -ArgumentList @($hostDll, "--Host:ListenAddress=127.0.0.1", "--Host:Port=$port", "--Hsm:Endpoint=unix:$socket",
            "--Store:Path=$(Join-Path $State 'host.db')", "--Health:Port=$healthPort") `
        -RedirectStandardOutput (Join-Path $State 'host.out') -RedirectStandardError (Join-Path $State 'host.err')
    Wait-ForTcp $port $vaultHost
    return [pscustomobject]@{ Simulator = $sim; Host = $vaultHost; Port = $port; HealthPort = $healthPort; FleetKey = $fleetKey }
}

function Invoke-Hsmvault([object] $Vault, [string] $Password, [string[]] $Arguments) {
    $cli = Join-Path (Get-ArtifactsBin) "HsmVault.Cli/$($Configuration.ToLowerInvariant())/hsmvault.dll"
    $all = @($cli) + $Arguments + @('--endpoint', "127.0.0.1:$($Vault.Port)", '--fleet-key', $Vault.FleetKey, '--password-stdin')
    Write-Host "    > hsmvault $($Arguments -join ' ')" -ForegroundColor DarkGray
    $Password | & dotnet @all | Out-Host
    return $LASTEXITCODE
}

function Invoke-Demo {
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
        if ((Invoke-Hsmvault $vault $password @('register', '--user', $user, '--generate-key', '--out', $keyFile)) -ne 0) { throw 'register failed' }

        foreach ($guess in 'wrong guess one', 'wrong guess two') {
            Write-Step "Recovering with a wrong password ('$guess')"
            $code = Invoke-Hsmvault $vault $guess @('recover', '--user', $user)
            if ($code -ne 3) { throw "expected exit code 3 (wrong password), got $code" }
        }

        Write-Step 'Recovering with the right password'
        if ((Invoke-Hsmvault $vault $password @('recover', '--user', $user, '--out', $recoveredFile)) -ne 0) { throw 'recover failed' }
        $registered = (Get-Content -Raw $keyFile).Trim()
        $recovered = (Get-Content -Raw $recoveredFile).Trim()
        if ($registered -ne $recovered) { throw 'the recovered key differs from the registered one' }
        Write-Host "demo: the recovered key matches the registered one ($($registered.Substring(0, 8))...); wrong guesses were counted and reset." -ForegroundColor Green
    }
    finally {
        if ($vault) {
            Stop-Child $vault.Host
            Stop-Child $vault.Simulator
        }
    }
}

function Invoke-Serve {
    $null = Assert-SoftHsm
    Invoke-Build
    $state = Join-Path $Root '.demo/serve'
    $vault = Start-LocalVault $state
    Write-Host ''
    Write-Host "HsmVault is serving on 127.0.0.1:$($vault.Port) (health: http://127.0.0.1:$($vault.HealthPort)/health). Try:"
    Write-Host "  dotnet $(Join-Path (Get-ArtifactsBin) 'HsmVault.Cli/release/hsmvault.dll') register --endpoint 127.0.0.1:$($vault.Port) --fleet-key '$($vault.FleetKey)' --user alice --generate-key"
    Write-Host 'Press Ctrl+C to stop.'
    try {
        while (-not $vault.Host.HasExited -and -not $vault.Simulator.HasExited) { Start-Sleep -Seconds 1 }
    }
    finally {
        Stop-Child $vault.Host
        Stop-Child $vault.Simulator
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
        'build' { Invoke-Build }
        'test' { Invoke-Test }
        'bench' { Invoke-Bench $Rest }
        'demo' { Invoke-Demo }
        'serve' { Invoke-Serve }
        'clean' { Invoke-Clean }
        { $_ -in 'help', '-h', '--help', '-?' } { Get-Help $PSCommandPath -Detailed | Out-String | Write-Host }
        default {
            Write-Host "Unknown target '$Target'. Targets: build, test, bench [crypto|enclave|e2e], demo, serve, clean, help." -ForegroundColor Red
            exit 2
        }
    }
}
finally {
    Pop-Location
}
