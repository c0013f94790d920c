"""The local stand-in cluster: an API server with real Kubernetes semantics, and later the rest.

Owns: `apiserver.ApiServer` (kmock plus the API rules the operator relies on, shared by the
integration tests, the benchmarks and `infercost sandbox`) and its resource registrations.

Must not import: the operator's decision or I/O layers (engine, service, handlers, adapters);
the sandbox stands in for the cluster and must not know how the operator works.
"""
