"""What podman does not check of deploy/k8s/ (it ignores Services, PodDisruptionBudgets, NetworkPolicies
and CronJobs): that every selector finds the pods it means, that each pod runs as the image does, and
that kustomize lists every file."""

import re

import yaml

from helpers import ROOT

K8S = ROOT / "deploy" / "k8s"


def docs() -> dict:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in yaml.safe_load_all(path.read_text()):
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def pod_specs(found: dict) -> dict:
    specs = {name: d["spec"]["template"]["spec"] for (kind, name), d in found.items() if kind == "Deployment"}
    job = found[("CronJob", "iana-ports-ingest")]
    specs["iana-ports-ingest"] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return specs


def test_kustomize_lists_every_file():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def test_every_selector_finds_the_pods_it_means():
    found = docs()
    app = found[("Deployment", "iana-ports")]
    cache = found[("Deployment", "iana-ports-cache")]
    for d in (app, cache):
        assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
    app_labels = app["spec"]["template"]["metadata"]["labels"]
    assert found[("Service", "iana-ports")]["spec"]["selector"] == app_labels
    assert found[("PodDisruptionBudget", "iana-ports")]["spec"]["selector"]["matchLabels"] == app_labels
    assert found[("Service", "iana-ports-cache")]["spec"]["selector"] == cache["spec"]["template"]["metadata"]["labels"]
    policy = found[("NetworkPolicy", "iana-ports-app-from-cache")]["spec"]
    assert policy["podSelector"]["matchLabels"] == app_labels
    assert (
        policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == cache["spec"]["template"]["metadata"]["labels"]
    )
    # The cache's upstream is the app's Service; the app answers where its Service sends.
    upstream = found[("ConfigMap", "iana-ports-cache")]["data"]["upstream.conf"]
    (port,) = found[("Service", "iana-ports")]["spec"]["ports"]
    assert upstream == f"server iana-ports:{port['port']};\n" and port["targetPort"] == 8001
    assert app["spec"]["replicas"] >= 2 and found[("PodDisruptionBudget", "iana-ports")]["spec"]["minAvailable"] == 1
    # Every claim the pods mount exists.
    claims = {name for kind, name in found if kind == "PersistentVolumeClaim"}
    for spec in pod_specs(found).values():
        for volume in spec["volumes"]:
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_each_pod_runs_as_the_image_does_and_writes_only_to_its_volumes():
    image_user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Containerfile").read_text(), re.M).groups()
    for name, spec in pod_specs(docs()).items():
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        if name != "iana-ports-cache":
            assert (str(context["runAsUser"]), str(context["runAsGroup"])) == image_user, name
        volumes = {v["name"] for v in spec["volumes"]}
        for container in spec.get("initContainers", []) + spec["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, (name, container["name"])
            assert {"requests", "limits"} <= container["resources"].keys(), (name, container["name"])
            assert {m["name"] for m in container["volumeMounts"]} <= volumes, (name, container["name"])
            for probe in ("readinessProbe", "livenessProbe"):
                if name == "iana-ports" and container["name"] == "app":
                    assert container[probe]["httpGet"] == {"path": "/-/healthz", "port": 8001}, probe
