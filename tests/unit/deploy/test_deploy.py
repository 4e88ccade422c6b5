"""Deployment files cannot run here (no Docker engine, no cluster), so check they agree with the code
(images, roles, ports, probes, environment variables, topic names, consumer groups, partitions) and
that every Kubernetes manifest is valid against the Kubernetes schemas (kubernetes-validate ships
them, so this works offline)."""

import dataclasses
import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

import abusewatch
from abusewatch.common import config
from abusewatch.ingest import contract
from abusewatch.services.serve import ROLES
from abusewatch.common.settings import KafkaSettings, ServiceSettings

ROOT = Path(__file__).resolve().parents[3]
IMAGE = f"ghcr.io/abusewatch/abusewatch:{abusewatch.__version__}"
PORTS = {role: getattr(ServiceSettings(), f"{role}_port") for role in ROLES}
K8S = ROOT / "deploy" / "k8s"
# The Kubernetes release whose schemas the manifests are checked against (the oldest one supported).
KUBERNETES_VERSION = "1.30"
# Custom resources: their schemas come with KEDA and the Prometheus Operator, not with Kubernetes,
# so their fields that matter are checked below instead.
CUSTOM_API_GROUPS = ("keda.sh/", "monitoring.coreos.com/", "kustomize.config.k8s.io/")


def known_metric_names() -> set[str]:
    """Every metric family the services export (counters without their _total suffix): the ones named
    by a string literal anywhere in the code, the inference engine's (named from a prefix), and the
    process collector's."""
    from prometheus_client import CollectorRegistry, ProcessCollector

    from abusewatch.scoring.inference.metrics import EngineMetrics

    names = set()
    for path in [*(ROOT / "abusewatch").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        names |= set(re.findall(r'"(abusewatch_[a-z_]+)"', path.read_text()))
    registry = CollectorRegistry()
    EngineMetrics(registry)
    ProcessCollector(registry=registry)
    names |= {family.name for family in registry.collect()}
    return names


def _known_env_vars() -> set[str]:
    return {f.metadata["env"] for cls in config.registered() for f in dataclasses.fields(cls)}


def _k8s_docs():
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            yield str(path.relative_to(K8S)), doc


def _docs_of_kind(kind: str) -> list[dict]:
    return [doc for _, doc in _k8s_docs() if doc["kind"] == kind]


def _configmap() -> dict[str, str]:
    return _docs_of_kind("ConfigMap")[0]["data"]


def _workloads():
    for name, doc in _k8s_docs():
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield name, doc, doc["spec"]["template"]["spec"]["containers"]


def test_every_role_has_a_workload_and_service_on_its_port():
    roles_seen = set()
    for name, doc, containers in _workloads():
        for container in containers:
            assert container["image"] == IMAGE, name
            args = container["args"]
            if args[0] == "serve":
                role = args[1]
                assert role in ROLES
                roles_seen.add(role)
                port = PORTS[role]
                assert container["ports"][0]["containerPort"] == port, name
                assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
                assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
                assert container["resources"]["requests"], name
                annotations = doc["spec"]["template"]["metadata"]["annotations"]
                assert annotations["prometheus.io/port"] == str(port)
            else:
                assert args == ["topics", "create"]
    assert roles_seen == set(ROLES)
    services = {doc["metadata"]["name"]: doc for _, doc in _k8s_docs() if doc["kind"] == "Service"}
    for role in ROLES:
        assert services[role]["spec"]["ports"][0]["port"] == PORTS[role]


def test_gpu_variant_requests_a_gpu_and_selects_cuda():
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "classifier-gpu.yaml").read_text()))
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"name": "ABUSEWATCH_DEVICE", "value": "cuda"} in container["env"]


def _secrets_mounted_as_files() -> set[str]:
    return {volume["secret"]["secretName"] for _, doc, _ in _workloads()
            for volume in doc["spec"]["template"]["spec"].get("volumes", []) if "secret" in volume}


def test_every_environment_variable_in_deploy_files_is_a_real_setting():
    known = _known_env_vars()
    used = set()
    file_secrets = _secrets_mounted_as_files()
    for _, doc in _k8s_docs():
        if doc["kind"] in ("ConfigMap",):
            used |= set(doc["data"])
        if doc["kind"] == "Secret" and doc["metadata"]["name"] not in file_secrets:
            used |= set(doc["stringData"])
    for _, _, containers in _workloads():
        for container in containers:
            used |= {e["name"] for e in container.get("env", [])}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, svc in compose["services"].items():
        if svc.get("image") == IMAGE:
            used |= set(svc.get("environment", {}))
    assert used, "no environment found"
    assert used <= known, f"unknown settings: {sorted(used - known)}"


def test_compose_runs_every_role_from_one_image_on_its_port():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "KRaft" in (ROOT / "docker-compose.yml").read_text() and services["kafka"]["image"].startswith("apache/kafka")
    for role in ROLES:
        svc = services[role]
        assert svc["image"] == IMAGE
        assert svc["command"] == ["serve", role]
        assert svc["ports"] == [f"127.0.0.1:{PORTS[role]}:{PORTS[role]}"]
    assert services["topics"]["command"] == ["topics", "create"]
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    scrape = prometheus["scrape_configs"][0]
    assert scrape["job_name"] == "abusewatch"  # the alert rules select job="abusewatch"
    targets = {(t, group["labels"]["role"]) for group in scrape["static_configs"] for t in group["targets"]}
    assert targets == {(f"{role}:{PORTS[role]}", role) for role in ROLES}
    assert prometheus["rule_files"] == ["/etc/prometheus/rules.yml"]
    assert "./deploy/prometheus/rules.yml:/etc/prometheus/rules.yml:ro" in services["prometheus"]["volumes"]


def test_dashboard_queries_name_real_metrics_and_topics():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "abusewatch.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    known = known_metric_names()
    for expr in exprs:
        for metric in re.findall(r"(abusewatch_[a-z_]+?)(?:_total|_bucket|_count|_sum)?[\[{)]", expr):
            assert metric in known, metric
        for pattern in re.findall(r'topic=~"\.\*\(?([a-z|-]+)\)?"', expr):
            assert set(pattern.split("|")) <= set(contract.TOPICS), pattern


def test_every_kubernetes_manifest_is_valid_against_the_kubernetes_schemas():
    checked = 0
    for name, doc in _k8s_docs():
        if doc["apiVersion"].startswith(CUSTOM_API_GROUPS):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 20


def test_the_schema_check_catches_a_broken_manifest():
    deployment = next(doc for _, doc in _k8s_docs() if doc["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_every_core_manifest():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    # The example secret is created by hand; autoscaling/ and monitoring/ need KEDA or the
    # Prometheus Operator and are applied on their own (docs/operations.md).
    top_level = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml", "console-users.example.yaml",
                                                     "classifier-gpu.yaml"}
    assert listed == top_level


def test_every_pod_runs_as_non_root_on_a_read_only_root_with_requests_and_limits():
    for name, doc, containers in _workloads():
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name  # the image's user (Dockerfile)
        mounted = {v["name"] for v in pod.get("volumes", [])} | {
            t["metadata"]["name"] for t in doc["spec"].get("volumeClaimTemplates", [])
        }
        for container in containers:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            # What the process writes: temporary files, and Faust state under ABUSEWATCH_DATA_DIR.
            paths = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "/tmp" in paths, name
            assert set(paths.values()) <= mounted, name
            if container["args"][0] == "serve":
                assert paths.get(_configmap()["ABUSEWATCH_DATA_DIR"]), name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name


def test_every_role_has_a_disruption_budget_selecting_its_pods():
    budgets = _docs_of_kind("PodDisruptionBudget")
    for name, doc, _ in _workloads():
        if doc["kind"] == "Job":
            continue
        labels = doc["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, name
        assert matching[0]["spec"]["maxUnavailable"] == 1


def test_network_policies_allow_only_kafka_postgresql_prometheus_dns_and_api_clients():
    policies = {p["metadata"]["name"]: p["spec"] for p in _docs_of_kind("NetworkPolicy")}
    deny = policies["default-deny"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    egress_ports = {p["port"] for spec in policies.values() for rule in spec.get("egress", []) for p in rule["ports"]}
    ingress_ports = {p["port"] for spec in policies.values() for rule in spec.get("ingress", []) for p in rule["ports"]}
    kafka_port = int(_configmap()["KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    dsn_port = int(
        yaml.safe_load((K8S / "secret.example.yaml").read_text())["stringData"]["ABUSEWATCH_EVIDENCE_DSN"]
        .rsplit(":", 1)[1].split("/")[0]
    )
    assert egress_ports == {53, kafka_port, dsn_port}
    assert ingress_ports == set(PORTS.values())
    kafka_namespace = _configmap()["KAFKA_BOOTSTRAP"].split(".")[1]
    selectors = [peer["namespaceSelector"]["matchLabels"] for rule in policies["kafka"]["egress"] for peer in rule["to"]]
    assert selectors == [{"kubernetes.io/metadata.name": kafka_namespace}]
    # Every rule but DNS applies to abusewatch pods only, and DNS goes to kube-system only.
    dns_peers = [peer for rule in policies["dns"]["egress"] for peer in rule["to"]]
    assert dns_peers == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]


def _scaled_objects() -> list[dict]:
    return _docs_of_kind("ScaledObject")


def test_keda_scales_each_classifier_variant_on_its_consumer_groups_lag_up_to_the_partition_count():
    deployments = {d["metadata"]["name"]: d for d in _docs_of_kind("Deployment")}
    configmap = _configmap()
    partitions = int(configmap["ABUSEWATCH_PARTITIONS"])
    kafka = KafkaSettings()  # no prefix in production: the consumer group is the Faust app id
    targets = set()
    for scaled in _scaled_objects():
        spec = scaled["spec"]
        target = deployments[spec["scaleTargetRef"]["name"]]
        assert target["spec"]["template"]["spec"]["containers"][0]["args"] == ["serve", "classifier"]
        targets.add(target["metadata"]["name"])
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
        (lag,) = [t for t in spec["triggers"] if t["type"] == "kafka"]
        assert lag["metadata"]["consumerGroup"] == kafka.topic("abusewatch-classifier")
        assert lag["metadata"]["topic"] == "posts" and "posts" in contract.TOPICS
        assert lag["metadata"]["bootstrapServers"] == configmap["KAFKA_BOOTSTRAP"]
        assert int(lag["metadata"]["lagThreshold"]) > 0
        assert lag["metadata"]["allowIdleConsumers"] == "false"  # never more consumers than partitions
    assert targets == {"classifier", "classifier-gpu"}
    (hpa,) = _docs_of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "classifier"
    assert hpa["spec"]["maxReplicas"] <= partitions
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_pod_monitor_labels_series_as_the_rules_expect():
    (monitor,) = _docs_of_kind("PodMonitor")
    spec = monitor["spec"]
    for name, doc, _ in _workloads():
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert labels[spec["jobLabel"]] == "abusewatch", name  # job="abusewatch"
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["relabelings"] == [
        {"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"], "targetLabel": "role"}
    ]
    for _, doc, containers in _workloads():
        if containers[0]["args"][0] == "serve":
            assert containers[0]["ports"][0]["name"] == endpoint["port"]


def test_the_example_console_users_secret_is_a_valid_users_file_mounted_where_the_api_reads_it(tmp_path):
    from abusewatch.api.console.sessions import Users

    secret = yaml.safe_load((K8S / "console-users.example.yaml").read_text())
    (tmp_path / "users.yaml").write_text(secret["stringData"]["users.yaml"])
    assert Users.load(tmp_path / "users.yaml").by_token_hash
    api = yaml.safe_load((K8S / "api.yaml").read_text().split("---")[0])
    container = api["spec"]["template"]["spec"]["containers"][0]
    users_file = next(e["value"] for e in container["env"] if e["name"] == "ABUSEWATCH_CONSOLE_USERS_FILE")
    mount = next(m for m in container["volumeMounts"] if m["name"] == "console-users")
    assert users_file == f"{mount['mountPath']}/users.yaml"
    assert secret["metadata"]["name"] in _secrets_mounted_as_files()
