"""The operator layer: everything that runs inside `infercost run`.

Owns: the kopf wiring (`handlers`), the picture of the cluster kept by the watches
(`picture`), the live children and their drift (`children`, `sync`), one reconcile (`service`),
the live batching rollout (`rollout`), pool status (`pool_status`, its only writer) and
prices (`pricing`), pool capacity from Pods, Nodes and the node autoscaler's Events
(`capacity`, `verdicts`), status and Event wording
(`reporting`, pure), the operator's own metrics (`telemetry`), leader election among
replicas (`leader`) and sharding across them (`shard_plan`, pure; `shards`, the Leases;
`sharded`, the reconciler acting on its shards only); `runner` starts it all.

May import: api, engine, manifests, adapters, kubeclient, settings.
Must not import: the simulator, the sandbox or the CLI. No pure layer (api, engine,
manifests), nor the simulator, localtriton or the adapters may import it (import-linter).
"""
