"""The site PKI: the CA on disk, issued certificates, revocations and enrollment tokens in etcd."""
