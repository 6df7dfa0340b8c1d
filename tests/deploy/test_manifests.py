"""The deployment files under deploy/ say what the README promises (no docker needed).

Parses every Kubernetes manifest, the compose file, the Prometheus and Grafana
provisioning and the Dockerfile, and checks what a reviewer would: probes on the
gateway's own endpoints, resources, non-root, read-only root filesystem, pinned image
tags, a grace period longer than the drain, the HPA and PDB aimed at the Deployment, and
that every metric the Grafana dashboard queries is one the gateway exports (the names
come from ``gateway.metrics.Metrics``'s registry, not from a list kept here).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.metrics import Metrics
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
GATEWAY_IMAGE = f"llm-gateway:{VERSION}"
# Names the gateway reads (gateway/settings.py) plus those CONTRACT.md fixes for features
# that land on other branches (REDIS_URL: shared rate limits).
SETTINGS_SOURCE = (ROOT / "gateway" / "settings.py").read_text()
CONTRACT_NAMES = {"REDIS_URL"}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object under deploy/k8s by kind (one of each is expected)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _docs(path):
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path
            assert doc["kind"] not in found, f"two {doc['kind']} objects"
            found[doc["kind"]] = doc
    return found


def _pod_specs(manifests: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("Deployment", "Job"):
        yield kind, manifests[kind]["spec"]["template"]["spec"]


def _image_is_pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest") and bool(re.match(r"^v?\d", tag))


def test_every_object_the_deployment_needs_is_there(manifests: dict[str, dict[str, Any]]) -> None:
    assert set(manifests) == {
        "ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job",
    }  # fmt: skip
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert kustomization["images"] == [{"name": "llm-gateway", "newTag": VERSION}]


def test_containers_are_pinned_bounded_non_root_and_read_only(manifests: dict[str, dict[str, Any]]) -> None:
    for kind, pod in _pod_specs(manifests):
        assert pod["securityContext"]["runAsNonRoot"] is True, kind
        assert pod["securityContext"]["runAsUser"] > 0, kind
        assert pod["automountServiceAccountToken"] is False, kind
        writable = {v["name"] for v in pod["volumes"]}
        for c in pod["containers"]:
            assert c["image"] == GATEWAY_IMAGE, (kind, c["image"])
            assert _image_is_pinned(c["image"])
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= c["resources"][bound].keys(), (kind, bound)
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, kind
            assert sc["allowPrivilegeEscalation"] is False, kind
            assert sc["capabilities"]["drop"] == ["ALL"], kind
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert mounts.get("/tmp") in writable, f"{kind}: /tmp must be a writable volume"
            assert {e["configMapRef"]["name"] for e in c["envFrom"] if "configMapRef" in e} == {
                manifests["ConfigMap"]["metadata"]["name"]
            }
            assert {e["secretRef"]["name"] for e in c["envFrom"] if "secretRef" in e} == {
                manifests["Secret"]["metadata"]["name"]
            }


def test_probes_use_the_gateway_endpoints(manifests: dict[str, dict[str, Any]]) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": int(manifests["ConfigMap"]["data"]["GATEWAY_PORT"])}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # /readyz checks the database with a 5 s bound (gateway/http/ops.py): the probe waits longer.
    assert c["readinessProbe"]["timeoutSeconds"] > 5
    data_dir = manifests["ConfigMap"]["data"]["GATEWAY_DATA_DIR"]
    assert {m["mountPath"] for m in c["volumeMounts"]} >= {data_dir, "/tmp"}
    assert c["command"] == ["gateway", "serve"]


def test_termination_grace_outlasts_the_pre_stop_pause_and_the_drain(manifests: dict[str, dict[str, Any]]) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    configured = manifests["ConfigMap"]["data"].get("GATEWAY_SHUTDOWN_DRAIN_S")
    drain = Settings.from_env({"GATEWAY_SHUTDOWN_DRAIN_S": configured} if configured else {}).shutdown_drain_s
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + drain
    strategy = manifests["Deployment"]["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_service_hpa_and_pdb_select_the_deployment(manifests: dict[str, dict[str, Any]]) -> None:
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = manifests["Service"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["ports"]] == ["http"]
    hpa = manifests["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"], "kind": "Deployment", "name": deployment["metadata"]["name"],
    }  # fmt: skip
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pdb = manifests["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["minAvailable"] < hpa["spec"]["minReplicas"]  # a node drain can always proceed


def test_the_migration_job_runs_the_installed_migrate(manifests: dict[str, dict[str, Any]]) -> None:
    job = manifests["Job"]["spec"]
    (c,) = job["template"]["spec"]["containers"]
    assert c["command"] == ["gateway", "migrate"]
    assert job["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert job["backoffLimit"] >= 1
    assert VERSION.replace(".", "-") in manifests["Job"]["metadata"]["name"]  # one Job per release


def test_config_and_secret_hold_settings_the_gateway_reads(manifests: dict[str, dict[str, Any]]) -> None:
    keys = [*manifests["ConfigMap"]["data"], *manifests["Secret"]["stringData"]]
    for key in keys:
        assert f'"{key}"' in SETTINGS_SOURCE or key in CONTRACT_NAMES, f"{key} is not a gateway setting"
    for key, value in manifests["Secret"]["stringData"].items():
        assert "CHANGE_ME" in value, f"secret {key} must be a placeholder, not a value"
    for key, value in manifests["ConfigMap"]["data"].items():
        assert isinstance(value, str), f"ConfigMap {key} must be a string"
    Settings.from_env(manifests["ConfigMap"]["data"])  # the values parse as settings


# ---- compose ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return doc


def _compose_env(env: dict[str, str]) -> dict[str, str]:
    """The environment as compose gives it with nothing set outside: ``${X:-d}`` is ``d``."""
    return {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}


def test_compose_has_the_scaled_out_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "gateway-a", "gateway-b", "lb", "prometheus", "grafana"}
    for name, svc in services.items():
        assert _image_is_pinned(svc["image"]), f"{name}: image {svc['image']!r} is not pinned"
    assert services["migrate"]["command"] == ["gateway", "migrate"]
    assert services["migrate"]["restart"] == "no"
    drain = Settings.from_env(_compose_env(services["gateway-a"]["environment"])).shutdown_drain_s
    for name in ("gateway-a", "gateway-b"):
        svc = services[name]
        assert svc["image"] == GATEWAY_IMAGE
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert svc["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert svc["read_only"] is True
        assert svc["user"].split(":")[0] not in ("0", "root")
        assert "/tmp" in svc["tmpfs"]
        assert any(v.endswith(":/var/lib/gateway") for v in svc["volumes"]), "the spool needs a volume"
        assert int(svc["stop_grace_period"].rstrip("s")) > drain
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        for key in svc["environment"]:
            assert f'"{key}"' in SETTINGS_SOURCE or key in CONTRACT_NAMES, f"{name}: {key} is not a gateway setting"
    assert services["gateway-a"]["volumes"] != services["gateway-b"]["volumes"], "each replica its own spool"


def test_load_balancer_and_prometheus_reach_both_replicas(compose: dict[str, Any]) -> None:
    lb = compose["services"]["lb"]
    (conf_mount,) = [v for v in lb["volumes"] if v.endswith("/etc/nginx/nginx.conf:ro")]
    conf = (DEPLOY / conf_mount.split(":")[0]).resolve().read_text()
    upstream = re.search(r"upstream gateway \{(.*?)\}", conf, re.S)
    assert upstream
    assert set(re.findall(r"server ([\w-]+):8080", upstream.group(1))) == {"gateway-a", "gateway-b"}
    assert "proxy_buffering off" in conf  # server-sent events pass through
    # nginx must not refuse (with its own HTML page) what the gateway would answer itself,
    # nor give up on a stream before the gateway's own upstream timeout.
    settings = Settings()
    body = re.search(r"client_max_body_size (\d+)m;", conf)
    assert body and int(body.group(1)) * 1024 * 1024 >= settings.max_body_bytes
    read = re.search(r"proxy_read_timeout (\d+)s;", conf)
    assert read and int(read.group(1)) >= settings.upstream_timeout_s
    (prom_mount,) = [v for v in compose["services"]["prometheus"]["volumes"] if "prometheus.yml" in v]
    prom = yaml.safe_load((DEPLOY / prom_mount.split(":")[0]).resolve().read_text())
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "gateway"]
    assert job["metrics_path"] == "/metrics"
    assert set(job["static_configs"][0]["targets"]) == {"gateway-a:8080", "gateway-b:8080"}


def test_grafana_provisions_the_datasource_the_dashboard_uses(compose: dict[str, Any]) -> None:
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"] if v.startswith("./"))
    provisioning = (DEPLOY / next(k for k, v in mounts.items() if v == "/etc/grafana/provisioning")).resolve()
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "gateway.yaml").read_text())["providers"]
    dashboards_dir = (DEPLOY / next(k for k, v in mounts.items() if v == provider["options"]["path"])).resolve()
    assert dashboards_dir == DEPLOY / "grafana" / "dashboards"
    uids = {t["datasource"]["uid"] for p in _panels() for t in p["targets"]}
    assert uids == {datasource["uid"]}


# ---- the dashboard against the metrics registry ------------------------------------------
def exported_metric_names() -> set[str]:
    """Every sample name the gateway's /metrics can show, from the registry's families."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
    }
    names: set[str] = set()
    for family in Metrics().registry.collect():
        assert family.type in suffixes, f"{family.name}: unexpected metric type {family.type}"
        names |= {family.name + s for s in suffixes[family.type]}
    return names


def _panels() -> list[dict[str, Any]]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "gateway.json").read_text())
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_every_dashboard_query_names_metrics_the_gateway_exports() -> None:
    exported = exported_metric_names()
    assert "gateway_requests_total" in exported and "gateway_request_seconds_bucket" in exported
    used: set[str] = set()
    for panel in _panels():
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            names = set(re.findall(r"\bgateway_[a-z0-9_]+", target["expr"]))
            assert names or re.search(r"\bup\{", target["expr"]), f"{panel['title']!r} queries no gateway metric"
            unknown = names - exported
            assert not unknown, f"panel {panel['title']!r} queries {sorted(unknown)}, which the gateway does not export"
            used |= names
    # The families the issue names each have a panel.
    for family in (
        "gateway_requests", "gateway_request_seconds", "gateway_time_to_first_token_seconds",
        "gateway_overhead_seconds", "gateway_tokens", "gateway_cost_millicents", "gateway_write_queue_depth",
    ):  # fmt: skip
        assert any(n == family or n.startswith(family + "_") for n in used), f"no panel for {family}"


def test_the_dashboard_check_catches_a_metric_that_does_not_exist() -> None:
    """The check above can fail: a made-up name is not among the exported ones."""
    exported = exported_metric_names()
    assert "gateway_requests" not in exported  # counters are exported with _total
    assert "gateway_budget_used_ratio" not in exported  # not on this branch yet


# ---- the image ------------------------------------------------------------------------
def test_dockerfile_is_multi_stage_non_root_non_editable_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    stages = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], line.split()[1])
        for line in lines
        if line.startswith("FROM ")
    ]
    assert len(stages) >= 2, "multi-stage"
    assert all(_image_is_pinned(image) for image in stages), stages
    final = text[text.rindex("\nFROM ") :]
    (user,) = re.findall(r"^USER (\S+)$", final, re.M)
    assert user.split(":")[0] not in ("0", "root")
    assert "COPY --from=build /opt/venv /opt/venv" in final
    installs = re.findall(r"pip install ([^\\\n&]*)", text)
    assert installs, "the project is installed with pip"
    assert all("-e" not in i.split() and "--editable" not in i for i in installs), "editable install"
    assert "PYTHONDONTWRITEBYTECODE=1" in final  # nothing writes next to the code at run time
    assert re.search(r"^HEALTHCHECK .*\n?.*?/healthz", final, re.M)
    assert re.search(r'^CMD \["gateway", "serve"\]$', final, re.M)
    assert "GATEWAY_DATA_DIR=/var/lib/gateway" in final
