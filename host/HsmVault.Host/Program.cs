// The host daemon is built in a later issue; this entry point keeps the solution buildable.
Console.Error.WriteLine("hsmvault-host: not built yet (see issue: host daemon, client SDK and CLI).");
return 2;
