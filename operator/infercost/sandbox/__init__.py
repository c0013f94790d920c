"""The local stand-in cluster: `infercost sandbox` and the API server the tests share.

Owns: `apiserver.ApiServer` (kmock plus the API rules the operator relies on, shared by the
integration tests, the benchmarks and the sandbox) and its resource registrations; and the
sandbox run — `scenario` (a simulator scenario scaled to one small machine), `procs` (child
process groups, none left behind), `prometheus` (a real Prometheus with file_sd), `triton`
(a real tritonserver per pod), `nodeagent` (Deployment controller, provisioner and kubelet),
`loadgen` (the trace replayed with tritonclient aio, its own process), `cluster` (start/stop
of all of it), `monitor` (samples and the live view), `report` (plots and summary) and `run`.

Must not import: the operator's decision or I/O layers (engine, service, handlers, adapters);
the sandbox stands in for the cluster and must not know how the operator works. It runs the
operator as a separate `infercost run` process, reaching it over HTTP like any client.
"""
