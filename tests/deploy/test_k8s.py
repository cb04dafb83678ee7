"""deploy/k8s: every overlay renders with kustomize, validates against the Kubernetes schemas, and
holds together (probes, autoscalers, disruption budgets, security, CRDs).

Core kinds are checked with kubernetes-validate's bundled schemas (offline, strict: unknown
fields fail) against the oldest Kubernetes we support and the newest the package knows. The
CRDs (KEDA ScaledObject, Prometheus Operator ServiceMonitor) are unknown to those schemas and
get their own checks of what the controllers need.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version
from rq import Queue

from relay.queue import enqueue_wakeup
from relay.settings import Settings
from relay.sync.fromapi import READABLE

from . import (
    K8S,
    OVERLAYS,
    Manifest,
    find,
    load_compose,
    option,
    redis_durability_problems,
    redis_server_flags,
    render,
    settings_data,
    simulator_seed_path,
)

WAKEUPS_CAP = inspect.signature(enqueue_wakeup).parameters["max_waiting"].default
OLDEST_K8S = "1.30"
K8S_VERSIONS = (OLDEST_K8S, latest_version())
TARGETS = ("base", *(f"overlays/{o}" for o in OVERLAYS))
WORKLOADS = {"Deployment", "StatefulSet", "CronJob"}
WEB, WORKER, SYNC = "relay-web", "relay-worker", "relay-sync"


# --- CRDs


def scaled_object_problems(doc: Manifest) -> list[str]:
    problems = []
    spec = doc.get("spec", {})
    if doc.get("apiVersion") != "keda.sh/v1alpha1":
        problems.append("ScaledObject apiVersion must be keda.sh/v1alpha1")
    if not spec.get("scaleTargetRef", {}).get("name"):
        problems.append("ScaledObject needs spec.scaleTargetRef.name")
    for key in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
        if key in spec and not isinstance(spec[key], int):
            problems.append(f"ScaledObject spec.{key} must be an integer")
    triggers = spec.get("triggers") or []
    if not triggers:
        problems.append("ScaledObject needs at least one trigger")
    for trigger in triggers:
        metadata = trigger.get("metadata", {})
        if trigger.get("type") != "redis":
            problems.append(f"unexpected trigger type {trigger.get('type')!r}")
        # KEDA's metadata is map[string]string: a bare YAML number is rejected by the API server.
        problems += [
            f"trigger metadata {k} must be a string" for k, v in metadata.items() if not isinstance(v, str)
        ]
        for key in ("listName", "listLength"):
            if key not in metadata:
                problems.append(f"redis trigger needs metadata.{key}")
        if "address" not in metadata and "addressFromEnv" not in metadata and "host" not in metadata:
            problems.append("redis trigger needs an address")
    return problems


def service_monitor_problems(doc: Manifest) -> list[str]:
    problems = []
    spec = doc.get("spec", {})
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append("ServiceMonitor apiVersion must be monitoring.coreos.com/v1")
    if not spec.get("selector", {}).get("matchLabels"):
        problems.append("ServiceMonitor needs spec.selector.matchLabels")
    endpoints = spec.get("endpoints") or []
    if not endpoints:
        problems.append("ServiceMonitor needs endpoints")
    for endpoint in endpoints:
        if not isinstance(endpoint.get("port"), str):
            problems.append("ServiceMonitor endpoints must name the Service port")
        if endpoint.get("path", "/metrics") != "/metrics":
            problems.append("ServiceMonitor must scrape /metrics")
    return problems


CRD_CHECKS: dict[str, Callable[[Manifest], list[str]]] = {
    "ScaledObject": scaled_object_problems,
    "ServiceMonitor": service_monitor_problems,
}


def schema_problems(doc: Manifest) -> list[str]:
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if doc.get("kind") in CRD_CHECKS:
        return [f"{name}: {p}" for p in CRD_CHECKS[doc["kind"]](doc)]
    problems = []
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(map(str, e.path))
            problems.append(f"{name} (Kubernetes {version}): {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(
                f"{name}: no schema for {doc.get('apiVersion')} {doc.get('kind')} in Kubernetes {version}"
            )
    return problems


# --- how the rendered objects fit together


def pod_template(doc: Manifest) -> dict[str, Any]:
    """The pod template of a workload (a CronJob's is inside its job template)."""
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def pod_spec(doc: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = pod_template(doc)["spec"]
    return spec


def pod_labels(docs: list[Manifest]) -> list[dict[str, str]]:
    return [pod_template(d)["metadata"]["labels"] for d in docs if d["kind"] in WORKLOADS]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def workload_problems(doc: Manifest) -> list[str]:
    name = doc["metadata"]["name"]
    spec = pod_spec(doc)
    problems = []
    for container in spec["containers"]:
        where = f"{name}/{container['name']}"
        security = container.get("securityContext", {})
        if not (security.get("runAsNonRoot") or spec.get("securityContext", {}).get("runAsNonRoot")):
            problems.append(f"{where}: must run as non-root (runAsNonRoot)")
        if security.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: needs readOnlyRootFilesystem")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: needs allowPrivilegeEscalation: false")
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            if set(resources.get(part, {})) < {"cpu", "memory"}:
                problems.append(f"{where}: needs cpu and memory {part}")
        if container["image"].startswith("redis:"):
            problems += [f"{where}: {p}" for p in redis_durability_problems(container.get("args", []))]
    return problems


def cronjob_problems(doc: Manifest) -> list[str]:
    """`relay sync --from-api` on a schedule: one run at a time, never waiting for an answer,
    never hung for good."""
    name, spec = doc["metadata"]["name"], doc["spec"]
    problems = []
    if spec.get("concurrencyPolicy") != "Forbid":
        problems.append(f"{name}: concurrencyPolicy must be Forbid (two runs would race on the watermark)")
    if "activeDeadlineSeconds" not in spec["jobTemplate"]["spec"]:
        problems.append(
            f"{name}: needs jobTemplate activeDeadlineSeconds (with Forbid, a hung run blocks all)"
        )
    args = pod_spec(doc)["containers"][0].get("args", [])
    if args[:1] != ["sync"] or "--from-api" not in args:
        problems.append(f"{name}: must run `relay sync --from-api`")
    if "--yes" not in args:
        problems.append(f"{name}: needs --yes (nobody answers the prompt in a pod)")
    if option(args, "--source") not in READABLE:
        problems.append(f"{name}: --source must be one of {', '.join(READABLE)}")
    if "--since" in args:
        problems.append(f"{name}: --since would read the same window every run; use --first-since")
    return problems


def manifest_problems(docs: list[Manifest], *, overlay: bool) -> list[str]:
    problems: list[str] = []
    kinds: dict[str, list[Manifest]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    deployments = {d["metadata"]["name"]: d for d in kinds.get("Deployment", [])}
    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    for doc in workloads:
        problems += workload_problems(doc)
    cronjobs = {d["metadata"]["name"]: d for d in kinds.get("CronJob", [])}
    if SYNC not in cronjobs:
        problems.append(f"expected CronJob {SYNC}")
    for doc in cronjobs.values():
        problems += cronjob_problems(doc)

    web, worker = deployments.get(WEB), deployments.get(WORKER)
    if web is None or worker is None:
        return [*problems, f"expected Deployments {WEB} and {WORKER}"]

    # web: probes, metrics, and the autoscaler owns the replica count
    container = pod_spec(web)["containers"][0]
    args = container.get("args", [])
    if args[:1] != ["serve"] or option(args, "--host") != "0.0.0.0":
        problems.append("web must run `relay serve --host 0.0.0.0`")
    if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        problems.append("web livenessProbe must GET /healthz")
    if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz?check=redis":
        # Workers or ChartMogul being down must not take web pods out of the Service.
        problems.append("web readinessProbe must GET /readyz?check=redis")
    annotations = web["spec"]["template"]["metadata"].get("annotations", {})
    ports = {p["containerPort"] for p in container.get("ports", [])}
    if (
        annotations.get("prometheus.io/scrape") == "true"
        and int(annotations.get("prometheus.io/port", 0)) not in ports
    ):
        problems.append("prometheus.io/port must be the web container's port")
    monitors = kinds.get("ServiceMonitor", [])
    if annotations.get("prometheus.io/scrape") != "true" and not monitors:
        problems.append("web /metrics is scraped by neither annotations nor a ServiceMonitor")
    if annotations.get("prometheus.io/scrape") == "true" and monitors:
        problems.append("both scrape annotations and a ServiceMonitor: every series would be scraped twice")

    # worker: room to finish in-flight calls on SIGTERM
    if pod_spec(worker).get("terminationGracePeriodSeconds", 30) < 60:
        problems.append("worker terminationGracePeriodSeconds must be >= 60")
    if pod_spec(worker)["containers"][0].get("args") != ["worker"]:
        problems.append("worker must run `relay worker`")

    for name in (WEB, WORKER):
        if "replicas" in deployments[name]["spec"]:
            problems.append(f"{name}: no spec.replicas, its autoscaler owns the count")

    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in kinds.get("HorizontalPodAutoscaler", [])}
    hpa = hpas.get(WEB)
    if hpa is None:
        problems.append(f"no HorizontalPodAutoscaler for {WEB}")
    elif [m.get("resource", {}).get("name") for m in hpa["spec"].get("metrics", [])] != ["cpu"]:
        problems.append("web HPA must scale on CPU")
    if WORKER in hpas:
        problems.append("worker must be scaled by KEDA only (KEDA creates its own HPA)")

    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in kinds.get("ScaledObject", [])}
    if set(scaled) != {WORKER}:
        problems.append(f"expected one ScaledObject, for {WORKER}; got {sorted(scaled)}")
    else:
        spec = scaled[WORKER]["spec"]
        if spec.get("minReplicaCount", 0) < 1:
            problems.append("worker minReplicaCount must be >= 1 (workers also promote retries)")
        # The RQ list holds at most WAKEUPS_CAP wake-up jobs: KEDA asks for ceil(LLEN / listLength).
        reachable = -(-WAKEUPS_CAP // int(spec["triggers"][0]["metadata"].get("listLength", "1")))
        if spec.get("maxReplicaCount", 100) > reachable:
            problems.append(f"worker maxReplicaCount is unreachable: the RQ list never exceeds {WAKEUPS_CAP}")
        settings = settings_data(docs)
        queue = settings.get("RELAY_QUEUE_NAME", Settings.model_fields["queue_name"].default)
        trigger = spec["triggers"][0]["metadata"]
        if trigger.get("listName") != f"{Queue.redis_queue_namespace_prefix}{queue}":
            problems.append(f"ScaledObject listName must be the RQ list of queue {queue!r}")
        if "RELAY_REDIS_URL" in settings:
            url = urlsplit(settings["RELAY_REDIS_URL"])
            if trigger.get("address") != f"{url.hostname}:{url.port or 6379}":
                problems.append("ScaledObject address must be the host:port of RELAY_REDIS_URL")
            if trigger.get("databaseIndex", "0") != (url.path.strip("/") or "0"):
                problems.append("ScaledObject databaseIndex must be the database of RELAY_REDIS_URL")

    # disruption budgets and services select the pods they mean
    budgets = kinds.get("PodDisruptionBudget", [])
    for name in (WEB, WORKER):
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        if not any(selects(b["spec"]["selector"]["matchLabels"], labels) for b in budgets):
            problems.append(f"no PodDisruptionBudget covers {name}")
    services = {s["metadata"]["name"]: s for s in kinds.get("Service", [])}
    for service in services.values():
        if not any(selects(service["spec"]["selector"], labels) for labels in pod_labels(docs)):
            problems.append(f"Service {service['metadata']['name']} selects no pods")
    for monitor in monitors:
        matched = [
            s
            for s in services.values()
            if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        names = {p.get("name") for s in matched for p in s["spec"]["ports"]}
        if not matched or any(e["port"] not in names for e in monitor["spec"]["endpoints"]):
            problems.append("ServiceMonitor must select relay-web's Service by label and name its port")

    if overlay:
        # Every ConfigMap/Secret a pod reads exists under its (hashed) rendered name.
        existing = {(d["kind"], d["metadata"]["name"]) for d in docs}
        for doc in workloads:
            for container in pod_spec(doc)["containers"]:
                if ":" not in container["image"].rsplit("/", 1)[-1] or container["image"].endswith(":latest"):
                    problems.append(
                        f"{doc['metadata']['name']}: image {container['image']} needs a pinned tag"
                    )
                for source in container.get("envFrom", []):
                    for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                        if key in source and (kind, source[key]["name"]) not in existing:
                            problems.append(
                                f"{doc['metadata']['name']}: {kind} {source[key]['name']} is not rendered"
                            )
    return problems


# --- the real manifests


@pytest.mark.parametrize("target", TARGETS)
def test_manifests_validate_against_kubernetes_schemas(target: str) -> None:
    docs = render(target)
    assert docs
    assert [p for doc in docs for p in schema_problems(doc)] == []


@pytest.mark.parametrize("target", TARGETS)
def test_manifests_hold_together(target: str) -> None:
    assert manifest_problems(render(target), overlay=target != "base") == []


def test_production_adds_a_service_monitor_and_the_secret() -> None:
    docs = render("overlays/production")
    kinds = {d["kind"] for d in docs}
    assert {"ServiceMonitor", "Secret", "ConfigMap"} <= kinds
    assert all(d["metadata"].get("namespace") == "chartmogul-relay" for d in docs)


def test_sandbox_points_the_relay_at_its_simulator() -> None:
    docs = render("overlays/sandbox")
    settings = settings_data(docs)
    simulator = find(docs, "Deployment", "simulator")
    args = pod_spec(simulator)["containers"][0]["args"]
    service = find(docs, "Service", "simulator")
    base = urlsplit(settings["CHARTMOGUL_API_BASE"])
    assert (base.hostname, base.port) == ("simulator", service["spec"]["ports"][0]["port"])
    assert option(args, "--port") == str(service["spec"]["ports"][0]["port"])
    assert settings["CHARTMOGUL_API_KEY"] == option(args, "--api-key")
    assert option(args, "--host") == "0.0.0.0"
    assert (
        urlsplit(settings["RELAY_REDIS_URL"]).hostname == find(docs, "Service", "redis")["metadata"]["name"]
    )


def test_sandbox_simulator_matches_compose() -> None:
    args = pod_spec(find(render("overlays/sandbox"), "Deployment", "simulator"))["containers"][0]["args"]
    assert option(args, "--seed") == simulator_seed_path(load_compose())


# --- the checks catch real breakage


def _first(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    return next(d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"]))


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        (
            "Deployment",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(imagePullPolcy="Always"),
        ),
        ("Deployment", lambda d: d["spec"].pop("selector")),
        ("Service", lambda d: d["spec"]["ports"][0].update(port="eighty")),
        ("HorizontalPodAutoscaler", lambda d: d.update(apiVersion="autoscaling/v2beta2")),
        ("PodDisruptionBudget", lambda d: d.update(apiVersion="policy/v1beta1")),
        ("ConfigMap", lambda d: d["data"].update(RELAY_MAX_BODY_BYTES=1024)),
        (
            "Deployment",
            lambda d: d["spec"]["template"]["metadata"]["annotations"].update({"prometheus.io/port": 8000}),
        ),
        ("ScaledObject", lambda d: d["spec"]["triggers"][0]["metadata"].update(listLength=100)),
        ("ScaledObject", lambda d: d.update(apiVersion="keda.sh/v1")),
        ("ServiceMonitor", lambda d: d["spec"].pop("endpoints")),
        ("CronJob", lambda d: d["spec"].update(concurency="Forbid")),  # misspelt: unknown
        ("CronJob", lambda d: d["spec"]["jobTemplate"]["spec"].update(backoffLimit="one")),
    ],
)
def test_schema_checks_reject_a_broken_manifest(kind: str, mutate: Callable[[Manifest], Any]) -> None:
    doc = copy.deepcopy(_first(render("overlays/production"), kind))
    assert schema_problems(doc) == []
    mutate(doc)
    assert schema_problems(doc) != []


@pytest.mark.parametrize(
    ("kind", "name", "mutate", "expected"),
    [
        (
            "Deployment",
            WORKER,
            lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=30),
            ">= 60",
        ),
        (
            "Deployment",
            WEB,
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe"),
            "/readyz",
        ),
        ("Deployment", WEB, lambda d: d["spec"].update(replicas=2), "no spec.replicas"),
        (
            "Deployment",
            WEB,
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].pop(
                "readOnlyRootFilesystem"
            ),
            "readOnlyRootFilesystem",
        ),
        (
            "Deployment",
            WORKER,
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("resources"),
            "limits",
        ),
        (
            "ScaledObject",
            WORKER,
            lambda d: d["spec"]["triggers"][0]["metadata"].update(listName="relay:ready"),
            "listName",
        ),
        ("ScaledObject", WORKER, lambda d: d["spec"].update(minReplicaCount=0), "minReplicaCount"),
        (
            "ScaledObject",
            WORKER,
            lambda d: d["spec"]["triggers"][0]["metadata"].update(listLength="100"),
            "unreachable",
        ),
        (
            "Deployment",
            WEB,
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(args=["serve"]),
            "0.0.0.0",
        ),
        (
            "ScaledObject",
            WORKER,
            lambda d: d["spec"]["triggers"][0]["metadata"].update(address="redis:6380"),
            "address",
        ),
        (
            "PodDisruptionBudget",
            WORKER,
            lambda d: d["spec"]["selector"]["matchLabels"].update(tier="x"),
            "covers",
        ),
        ("ConfigMap", None, lambda d: d["data"].update(RELAY_QUEUE_NAME="other"), "listName"),
        ("Service", WEB, lambda d: d["spec"]["ports"][0].update(name="web"), "ServiceMonitor"),
        (
            "Deployment",
            WEB,
            lambda d: d["spec"]["template"]["metadata"]["annotations"].update(
                {"prometheus.io/scrape": "true"}
            ),
            "twice",
        ),
        ("CronJob", SYNC, lambda d: d["spec"].update(concurrencyPolicy="Allow"), "Forbid"),
        ("CronJob", SYNC, lambda d: d["spec"]["jobTemplate"]["spec"].pop("activeDeadlineSeconds"), "hung"),
        (
            "CronJob",
            SYNC,
            lambda d: pod_spec(d)["containers"][0]["securityContext"].pop("readOnlyRootFilesystem"),
            "relay-sync/sync: needs readOnlyRootFilesystem",
        ),
        ("CronJob", SYNC, lambda d: pod_spec(d)["containers"][0].pop("resources"), "relay-sync/sync: needs"),
        (
            "CronJob",
            SYNC,
            lambda d: pod_spec(d).pop("securityContext"),
            "relay-sync/sync: must run as non-root",
        ),
        ("CronJob", SYNC, lambda d: pod_spec(d)["containers"][0]["args"].remove("--yes"), "--yes"),
        ("CronJob", SYNC, lambda d: pod_spec(d)["containers"][0]["args"].remove("--from-api"), "--from-api"),
        (
            "CronJob",
            SYNC,
            lambda d: pod_spec(d)["containers"][0]["args"].__setitem__(2, "salesforce"),
            "--source must be one of",
        ),
        (
            "CronJob",
            SYNC,
            lambda d: pod_spec(d)["containers"][0]["args"].extend(["--since", "1h"]),
            "--first-since",
        ),
    ],
)
def test_semantic_checks_reject_a_broken_overlay(
    kind: str, name: str | None, mutate: Callable[[Manifest], Any], expected: str
) -> None:
    docs = render("overlays/production")
    mutate(_first(docs, kind, name))
    problems = manifest_problems(docs, overlay=True)
    assert any(expected in p for p in problems), problems


def test_semantic_checks_catch_a_dangling_secret_and_a_floating_image() -> None:
    docs = [d for d in render("overlays/production") if d["kind"] != "Secret"]
    _first(docs, "Deployment", WEB)["spec"]["template"]["spec"]["containers"][0]["image"] = "chartmogul-relay"
    pod_spec(_first(docs, "CronJob", SYNC))["containers"][0]["image"] = "chartmogul-relay:latest"
    problems = manifest_problems(docs, overlay=True)
    assert any("relay-web: Secret relay-secrets" in p and "not rendered" in p for p in problems), problems
    assert any("relay-sync: Secret relay-secrets" in p and "not rendered" in p for p in problems), problems
    assert any("relay-web: image" in p and "pinned tag" in p for p in problems), problems
    assert any("relay-sync: image" in p and "pinned tag" in p for p in problems), problems


def test_the_sync_cronjob_is_off_until_switched_on_and_reads_a_crm_it_has_a_token_for() -> None:
    for target in TARGETS:
        cronjob = find(render(target), "CronJob", SYNC)
        assert cronjob["spec"]["suspend"] is True, target  # no CRM token is set by default
    args = pod_spec(find(render("base"), "CronJob", SYNC))["containers"][0]["args"]
    token = {"hubspot": "RELAY_HUBSPOT_ACCESS_TOKEN", "pipedrive": "RELAY_PIPEDRIVE_API_TOKEN"}[
        str(option(args, "--source"))
    ]
    secrets = (K8S / "overlays" / "production" / "secrets.env.example").read_text()
    assert f"# {token}=" in secrets  # where the operator puts it


def test_sandbox_redis_is_durable() -> None:
    docs = render("overlays/sandbox")
    redis = find(docs, "StatefulSet", "redis")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    args[args.index("noeviction")] = "allkeys-lru"
    assert any("noeviction" in p for p in workload_problems(redis))


def test_sandbox_relay_waits_for_its_redis_replica() -> None:
    docs = render("overlays/sandbox")
    replica = find(docs, "StatefulSet", "redis-replica")
    primary = find(docs, "Service", "redis")
    args = pod_spec(replica)["containers"][0]["args"]

    assert redis_server_flags(args)["replicaof"] == f"redis {primary['spec']['ports'][0]['port']}"
    assert redis_durability_problems(args) == []
    assert settings_data(docs)["RELAY_REDIS_REPLICA_ACKS"] == "1"
    assert "RELAY_REDIS_REPLICA_ACKS" not in settings_data(render("overlays/production"))
