namespace PgRaft.Proxy.Forwarding;

/// <summary>How a connection's bytes are copied.</summary>
internal enum ForwardingMode
{
    /// <summary>Socket receive/send through one pooled buffer per direction.</summary>
    Pooled,

    /// <summary>Linux splice(2) through a pipe per direction: the bytes stay in the kernel. Falls back to Pooled elsewhere.</summary>
    Splice,

    /// <summary>Dedicated epoll threads with non-blocking recv/send (Linux x64). Falls back to Pooled elsewhere.</summary>
    Epoll,
}
