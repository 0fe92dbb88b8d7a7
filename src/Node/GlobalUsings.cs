global using Lsn = PgRaft.PgControl.Wal.Lsn;
