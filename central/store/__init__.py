"""The etcd store: client, embedded etcd process, keys, records, reads, writes, retention."""
