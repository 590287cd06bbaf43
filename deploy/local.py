"""The Kubernetes manifests of deploy/k8s/ run on this machine with `podman kube play`.

    python -m deploy.local up --source CSV [--port 8080]   # the build job once, the app pods, the cache
    python -m deploy.local publish --source CSV            # the build job again: a new build rolls out
    python -m deploy.local down

What `make replicas` and `make test-deploy` run. The manifests are played as
they are, less what podman (4.3, Debian 12's) cannot do, and only that:

- no Services and no cluster DNS: the cache's upstream.conf names the app
  pods' addresses on podman's network instead of the Service;
- emptyDir volumes become named volumes shared by every pod of a Deployment,
  and init containers get the pod's restart policy: each replica is played as
  a Pod of its own from the Deployment's template (as a ReplicaSet makes
  them), with its own volumes, and restarts only on failure;
- no CronJob: its container is run once with `podman run`, with the same
  image, command, user, mounts and read-only root;
- no load balancer: the cache's port is published on 127.0.0.1 only.

Every container runs with the limits of deploy/podman/containers.conf
(CONTAINERS_CONF), as runc needs here.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .harness import free_port

HERE = Path(__file__).resolve().parent
K8S = HERE / "k8s"
CONF = HERE / "podman" / "containers.conf"
APP, CACHE = "iana-ports", "iana-ports-cache"
START_TIMEOUT = 120.0
SWAP_TIMEOUT = 60.0
# podman's lines about the systemd it has no connection to (healthcheck timers, syslog): noise here.
NOISE = ("systemd", "syslog", "CNI config", "Removing container")


class LocalError(Exception):
    """One line an operator can act on."""


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """podman with this folder's settings; its stderr without the lines about systemd it lacks here."""
    env = {**os.environ, "CONTAINERS_CONF": str(CONF)}
    try:
        result = subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise LocalError("podman is missing: make test-deploy installs it (scripts/tools)") from None
    result.stderr = "".join(line for line in result.stderr.splitlines(True) if not any(n in line for n in NOISE))
    return result


def podman(*args: str, check: bool = True, timeout: float = 300) -> str:
    result = run(*args, timeout=timeout)
    if check and result.returncode != 0:
        said = " ".join(result.stderr.split())[-500:] or f"status {result.returncode}"
        raise LocalError(f"podman {' '.join(args[:2])} failed: {said}")
    return result.stdout


def manifests() -> dict[tuple[str, str], dict]:
    """Every document of deploy/k8s/*.yaml by (kind, name)."""
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def pods(deployment: dict) -> list[dict]:
    """The Deployment's replicas as Pods, each with volumes of its own (see the module's note)."""
    name, spec = deployment["metadata"]["name"], deployment["spec"]
    out = []
    for i in range(spec.get("replicas", 1)):
        template = json.loads(json.dumps(spec["template"]))
        pod_name = f"{name}-pod-{i}"
        pod_spec = template["spec"]
        pod_spec["restartPolicy"] = "OnFailure"
        renamed = {}
        for volume in pod_spec.get("volumes", []):
            if "emptyDir" in volume:
                renamed[volume["name"]] = f"{pod_name}-{volume['name']}"
                volume["name"] = renamed[volume["name"]]
        for container in pod_spec.get("initContainers", []) + pod_spec["containers"]:
            for mount in container.get("volumeMounts", []):
                mount["name"] = renamed.get(mount["name"], mount["name"])
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod_name, "labels": template["metadata"]["labels"]},
                "spec": pod_spec,
            }
        )
    return out


class Local:
    """The manifests on this machine; state (the port, the pods) in `state`."""

    def __init__(self, state: Path, port: int = 0):
        self.state = state
        self.docs = manifests()
        self.port = port
        self.app_pods = [p["metadata"]["name"] for p in pods(self.docs[("Deployment", APP)])]
        self.cache_pods = [p["metadata"]["name"] for p in pods(self.docs[("Deployment", CACHE)])]
        self.figures: dict[str, float] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_maps(self) -> list[str]:
        return [name for kind, name in self.docs if kind == "ConfigMap"]

    @property
    def builds_volume(self) -> str:
        return self.docs[("PersistentVolumeClaim", "iana-ports-builds")]["metadata"]["name"]

    # The build job
    def run_job(self, source: str) -> str:
        """The CronJob's container, once, building from `source`: a registry CSV on this machine, or a URL."""
        job = self.docs[("CronJob", "iana-ports-ingest")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = job["containers"]
        volumes = {v["name"]: v for v in job["volumes"]}
        user = job["securityContext"]
        args = [
            "run",
            "--rm",
            "--read-only",
            f"--user={user['runAsUser']}:{user['runAsGroup']}",
            "--cap-drop=all",
            "--security-opt=no-new-privileges",
        ]
        for mount in container["volumeMounts"]:
            volume = volumes[mount["name"]]
            if "persistentVolumeClaim" in volume:
                args.append(f"--volume={volume['persistentVolumeClaim']['claimName']}:{mount['mountPath']}")
            else:
                args.append(f"--tmpfs={mount['mountPath']}")
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        if "://" in source:
            env["IANA_SOURCE"] = source
        else:
            # A file: its folder, read-only, and no network at all.
            path = Path(source).resolve()
            if not path.is_file():
                raise LocalError(f"{source} does not exist")
            env["IANA_SOURCE"] = f"/registry/{path.name}"
            args += [f"--volume={path.parent}:/registry:ro", "--network=none"]
        args += [f"--env={k}={v}" for k, v in env.items()]
        args += [f"--entrypoint={container['command'][0]}", container["image"], *container["command"][1:]]
        return podman(*args).strip()

    # Starting and stopping
    def up(self, source: str) -> "Local":
        self.state.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        started = time.monotonic()
        try:
            if not podman("volume", "ls", "--quiet", f"--filter=name=^{self.builds_volume}$").strip():
                podman("volume", "create", self.builds_volume)
            self.run_job(source)
            self.figures["first_build_s"] = time.monotonic() - started
            play = time.monotonic()
            self._play("app.yaml", pods(self.docs[("Deployment", APP)]))
            self.wait_ready()
            self.figures["app_pods_ready_s"] = time.monotonic() - play
            self._play("cache.yaml", self._cache_docs())
            self._wait_cache()
            self.figures["all_ready_s"] = time.monotonic() - play
        except BaseException:
            self.down()
            raise
        (self.state / "local.json").write_text(json.dumps({"port": self.port}) + "\n")
        return self

    def _play(self, name: str, docs: list[dict]) -> None:
        path = self.state / name
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        podman("kube", "play", str(path))

    def _cache_docs(self) -> list[dict]:
        config = json.loads(json.dumps(self.docs[("ConfigMap", CACHE)]))
        config["data"]["upstream.conf"] = "".join(f"server {self.address(p)}:8001;\n" for p in self.app_pods)
        cache = pods(self.docs[("Deployment", CACHE)])
        if len(cache) != 1:
            raise LocalError("one cache pod is published on 127.0.0.1; set the cache's replicas to 1 here")
        (nginx,) = cache[0]["spec"]["containers"]
        nginx["ports"] = [{"containerPort": 8080, "hostPort": self.port, "hostIP": "127.0.0.1"}]
        return [config, *cache]

    def address(self, pod: str) -> str:
        infra = podman("pod", "inspect", pod, "--format", "{{.InfraContainerID}}").strip()
        networks = json.loads(podman("inspect", infra, "--format", "{{json .NetworkSettings.Networks}}"))
        (net,) = networks.values()
        return net["IPAddress"]

    def down(self) -> None:
        for pod in self.cache_pods + self.app_pods:
            podman("pod", "rm", "--force", "--ignore", "--time=5", pod, check=False)
        for pod in self.cache_pods + self.app_pods:
            for volume in podman("volume", "ls", "--quiet", f"--filter=name=^{pod}-", check=False).split():
                podman("volume", "rm", "--force", volume, check=False)
        # The builds, and the volumes podman makes of the ConfigMaps.
        for volume in [self.builds_volume, *self.config_maps]:
            podman("volume", "rm", "--force", volume, check=False)
        with contextlib.suppress(OSError):
            (self.state / "local.json").unlink()

    def left(self) -> list[str]:
        """The pods and volumes of this set that still exist (none after down())."""
        names = podman("pod", "ps", "--format", "{{.Name}}").split() + podman("volume", "ls", "--quiet").split()
        ours = set(self.app_pods + self.cache_pods + [self.builds_volume, *self.config_maps])
        return [n for n in names if n in ours or any(n.startswith(p + "-") for p in ours)]

    # Watching
    def health(self, pod: str) -> dict:
        """/-/healthz of one app pod, asked from inside it (its own 127.0.0.1)."""
        out = podman(
            "exec",
            f"{pod}-app",
            "python3",
            "-c",
            "import sys, urllib.request as u; sys.stdout.write(u.urlopen("
            "'http://127.0.0.1:8001/-/healthz', timeout=5).read().decode())",
            timeout=30,
        )
        return json.loads(out)

    def wait_ready(self) -> list[dict]:
        deadline = time.monotonic() + START_TIMEOUT
        ready = {}
        while len(ready) < len(self.app_pods):
            for pod in self.app_pods:
                if pod not in ready:
                    with contextlib.suppress(LocalError, ValueError):
                        ready[pod] = self.health(pod)
            if time.monotonic() > deadline:
                waiting = sorted(set(self.app_pods) - ready.keys())
                raise LocalError(f"app pods not ready after {START_TIMEOUT:.0f} s: {', '.join(waiting)}")
            time.sleep(0.5)
        return [ready[p] for p in self.app_pods]

    def _wait_cache(self) -> None:
        import httpx

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.base + "/-/healthz", timeout=5).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise LocalError(f"the cache on {self.base} does not answer after {START_TIMEOUT:.0f} s")
            time.sleep(0.25)

    def publish(self, source: str) -> list[dict]:
        """The build job on `source`, then each replica's pick-up; returns what each serves then."""
        before = {p: self.health(p)["etag"] for p in self.app_pods}
        said = self.run_job(source)
        started = time.monotonic()
        served = {}
        while len(served) < len(self.app_pods):
            for pod in self.app_pods:
                if pod not in served and (now := self.health(pod))["etag"] != before[pod]:
                    served[pod] = now
            if time.monotonic() - started > SWAP_TIMEOUT:
                raise LocalError(f"not every pod serves the new build {SWAP_TIMEOUT:.0f} s after: {said}")
            time.sleep(0.25)
        self.figures["pickup_s"] = time.monotonic() - started
        return [served[p] for p in self.app_pods]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, default=Path("data/local"), help="where the played manifests go")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="the build job once, the app pods and the cache")
    up.add_argument("--source", required=True, help="a registry CSV on this machine, or a URL, to build from")
    up.add_argument("--port", type=int, default=8080, help="the cache's port on 127.0.0.1")
    pub = sub.add_parser("publish", help="the build job again; the replicas pick the build up")
    pub.add_argument("--source", required=True, help="as for up")
    sub.add_parser("down", help="remove the pods and their volumes")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            local = Local(args.state, args.port).up(args.source)
            print(f"cache: {local.base}; app pods: {', '.join(local.app_pods)}")
        elif args.command == "publish":
            for pod, health in zip((local := Local(args.state)).app_pods, local.publish(args.source)):
                print(f"{pod} serves {health['etag']} (registry {health['newest_registry_date']})")
        else:
            Local(args.state).down()
    except (LocalError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
