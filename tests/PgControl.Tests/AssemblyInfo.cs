// The tests run real PostgreSQL processes on Linux.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
