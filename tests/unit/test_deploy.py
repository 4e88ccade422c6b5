"""Deployment files cannot run here (no Docker engine, no cluster), so check they agree with the code:
images, roles, ports, probes, environment variables and topic names."""

import dataclasses
import json
import re
from pathlib import Path

import yaml

import abusewatch
from abusewatch import config, contract
from abusewatch.services.serve import ROLES
from abusewatch.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
IMAGE = f"ghcr.io/abusewatch/abusewatch:{abusewatch.__version__}"
PORTS = {role: getattr(ServiceSettings(), f"{role}_port") for role in ROLES}


def _known_env_vars() -> set[str]:
    return {f.metadata["env"] for cls in config.registered() for f in dataclasses.fields(cls)}


def _k8s_docs():
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            yield path.name, doc


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


def test_every_environment_variable_in_deploy_files_is_a_real_setting():
    known = _known_env_vars()
    used = set()
    for _, doc in _k8s_docs():
        if doc["kind"] in ("ConfigMap",):
            used |= set(doc["data"])
        if doc["kind"] == "Secret":
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
    targets = set(prometheus["scrape_configs"][0]["static_configs"][0]["targets"])
    assert targets == {f"{role}:{PORTS[role]}" for role in ROLES}


def test_dashboard_queries_name_real_metrics_and_topics():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "abusewatch.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    source = (ROOT / "services" / "common.py").read_text()
    for expr in exprs:
        for metric in re.findall(r"(abusewatch_[a-z_]+?)(?:_total|_bucket)?[\[{)]", expr):
            assert f'"{metric}"' in source, metric
        for pattern in re.findall(r'topic=~"\.\*\(?([a-z|-]+)\)?"', expr):
            assert set(pattern.split("|")) <= set(contract.TOPICS), pattern
