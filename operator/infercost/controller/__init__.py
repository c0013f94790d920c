"""The operator layer: everything that runs inside `infercost run`.

Owns: the kopf wiring (`handlers`), the picture of the cluster kept by the watches
(`picture`), one reconcile (`service`), the live batching rollout (`rollout`), pool status
and prices (`pool_status`, `pricing`), status and Event wording (`reporting`, pure) and
the operator's own metrics (`telemetry`), leader election among replicas (`leader`);
`runner` starts it all.

May import: api, engine, manifests, adapters, kubeclient, settings.
Must not import: the simulator, the sandbox or the CLI. No pure layer (api, engine,
manifests), nor the simulator, localtriton or the adapters may import it (import-linter).
"""
