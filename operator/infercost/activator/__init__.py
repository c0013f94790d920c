"""The activator: where a service's Service points while it has no replica. It holds the
requests that arrive, asks the operator to wake the service, and answers them once a replica
is ready, or tells the client why none will be.

Owns: holding requests at zero (`proxy`), the wake request and the wait for a ready replica
(`waker`), the cold-start metrics (`metrics`), the process (`server`; `infercost activator`).
Must not import: the engine, the operator (infercost.controller), the simulator, kopf
(import-linter contract); nor may they import it. It talks to the operator through the
InferenceService alone.

Why a holding proxy of our own, in front of the Service's address:
* The Service's stable address must keep accepting requests at zero. A Service with no ready
  endpoint refuses connections at once (kube-proxy's REJECT), so something must be an
  endpoint while no replica runs. Pointing the Service at the activator at zero (and back at
  the replicas once they are ready) keeps the activator off the request path the rest of the
  time: no added hop, no added latency, nothing to scale with the load. Knative's activator
  and KEDA's HTTP add-on interceptor do the same in the path; they bring their own control
  planes (Knative Serving, KEDA) to a cluster that may run neither, and neither speaks the
  InferenceService's wake-up rules (the fastest affordable pool, budgets).
* The wake request is one annotation on the InferenceService
  (`infercost.io/wake-requested: <RFC3339 time>`, a merge patch). No API of its own on the
  operator: the operator already watches InferenceServices, so the annotation wakes its
  reconcile at once (no wait for the next control interval), survives an operator restart,
  and needs one RBAC verb (patch inferenceservices) for the activator.
* Readiness is Triton's `/v2/health/ready` on the replicas' address, so the activator forwards
  only once the model can answer, not when the pod merely started. The wait ends early when
  the InferenceService's `Placed` condition is False (a pool full, the budget exhausted): the
  held requests get 503 with that reason at once instead of waiting out the timeout.
* Each held request waits at most the wake timeout (INFERCOST_ACTIVATOR_WAKE_TIMEOUT_SECONDS,
  set below the clients' timeout), then gets 503 `WakeTimeout`: nothing hangs.

HTTP: each request is held, then forwarded whole (its body read after the wake, sent with
the same method, path, query and end-to-end headers; the answer returned as Triton gave it).

gRPC: a byte-level splice, one listener of its own. The accepted TCP connection is held
unread (the client's HTTP/2 preface and first requests wait in the socket buffers, within the
client's own deadline), then joined to the replica's gRPC port and copied both ways. No HTTP/2
or protobuf parsing, so every gRPC method and streaming works as it does direct. The price: a
gRPC connection that cannot be woken is closed without a gRPC status (the client sees
UNAVAILABLE, "connection closed"; the reason is in the activator's log and metrics), and one
connection goes to one replica for its life, as with a plain Service (gRPC clients that
balance across replicas reconnect through the Service once it points at the replicas).
"""

from infercost.activator.metrics import ActivatorMetrics
from infercost.activator.server import Activator, Listen
from infercost.activator.waker import WAKE_ANNOTATION, Target, Waker, WakeRefusedError, WakeTiming

__all__ = [
    "WAKE_ANNOTATION",
    "Activator",
    "ActivatorMetrics",
    "Listen",
    "Target",
    "WakeRefusedError",
    "WakeTiming",
    "Waker",
]
