// The hsmvault command line is built in a later issue; this entry point keeps the solution buildable.
Console.Error.WriteLine("hsmvault: not built yet.");
return 2;
