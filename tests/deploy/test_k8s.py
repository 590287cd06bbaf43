"""The image and the Kubernetes manifests, run for real with podman (deploy/local.py): the build job
from the CronJob, two app pods from the Deployment, the nginx cache from its Deployment and ConfigMap.
Run by `make test-deploy`, which builds the images first; everything the test reaches is on 127.0.0.1
(the cache's published port) or inside a pod.

- the image: the installed package and no checkout, user 10001, read-only root, the healthcheck;
- every page kind through the cache, with the app's Cache-Control and ETags, hits, 304s and errors;
- forwarded headers: the scheme a load balancer reports reaches the app's absolute URLs;
- a new build published by the job reaches both pods under load: no failed request, no answer
  mixing builds; then everything is removed.
"""

import json
import sys
import time

import httpx
import pytest
import yaml

from helpers import ARTIFACTS, ROOT

sys.path.insert(0, str(ROOT / "tests" / "web"))
from rolling import BUILD_CACHE, ERRORS, HOST, URLS, Load, check_roll  # noqa: E402

sys.path.insert(0, str(ROOT))
from deploy.local import K8S, Local, podman, run  # noqa: E402

FIGURES = ARTIFACTS / "deploy-figures.json"


@pytest.fixture(scope="module")
def local(tmp_path_factory, snapshot_2025):
    cluster = Local(tmp_path_factory.mktemp("local"))
    # Whatever a killed run left behind first, so the set starts from nothing.
    cluster.down()
    cluster.up(str(snapshot_2025))
    try:
        yield cluster
    finally:
        cluster.down()
        ARTIFACTS.mkdir(exist_ok=True)
        FIGURES.write_text(json.dumps(cluster.figures, indent=2) + "\n")
    assert cluster.left() == []


def image() -> str:
    app = yaml.safe_load_all((K8S / "app.yaml").read_text())
    return next(app)["spec"]["template"]["spec"]["containers"][0]["image"]


def test_the_image_runs_the_installed_package_as_its_own_user_on_a_read_only_root(local):
    assert podman("image", "inspect", "--format", "{{.User}}", image()) == "10001:10001\n"
    check = json.loads(podman("image", "inspect", "--format", "{{json .HealthCheck}}", image()))
    assert check["Test"][:2] == ["CMD", "python3"] and "http://127.0.0.1:8001/-/healthz" in check["Test"][-1]
    for pod in local.app_pods:
        state = json.loads(podman("inspect", f"{pod}-app"))[0]
        assert state["HostConfig"]["ReadonlyRootfs"] is True
        assert state["Config"]["User"] == "10001:10001"
        assert state["HostConfig"]["Ulimits"] == [
            {"Name": "RLIMIT_NOFILE", "Soft": 1024, "Hard": 1024},
            {"Name": "RLIMIT_NPROC", "Soft": 4096, "Hard": 4096},
        ]
    # No checkout in the image (no project file, repository or tests anywhere), and a read-only root.
    found = run(
        "run",
        "--rm",
        "--read-only",
        "--entrypoint=sh",
        image(),
        "-c",
        "find / -xdev \\( -name pyproject.toml -o -name .git -o -name conftest.py \\) -print 2>/dev/null;"
        "touch /opt/x 2>/dev/null && echo writable; id -u",
    )
    assert (found.returncode, found.stdout, found.stderr) == (0, "10001\n", "")


def test_the_ingest_is_a_one_off_command_of_the_same_image(local):
    # A missing source: one error line, and the job's folder keeps what it had.
    current = ("run", "--rm", "-v", f"{local.builds_volume}:/builds:ro", "--entrypoint=cat", image(), "/builds/current")
    before = podman(*current)
    result = run(
        "run",
        "--rm",
        "--read-only",
        "-v",
        f"{local.builds_volume}:/builds",
        "--network=none",
        "--entrypoint=python3",
        image(),
        "-m",
        "iana_ports.ingest",
        "--source",
        "/nope.csv",
        "--db",
        "/builds/work/iana.db",
    )
    said = "error: cannot read /nope.csv: No such file or directory\n"
    assert (result.returncode, result.stdout, result.stderr) == (1, "", said)
    assert podman(*current) == before and before.startswith("iana-")


def test_every_page_kind_through_the_cache(local):
    (etag,) = {h["etag"] for h in local.wait_ready()}
    with httpx.Client(base_url=local.base, timeout=30, headers=HOST) as client:
        for url in URLS:
            first, second = client.get(url), client.get(url)
            for r in (first, second):
                assert r.status_code == 200, (url, r.status_code)
                assert (r.headers["cache-control"], r.headers["etag"]) == (BUILD_CACHE, etag), url
                assert "set-cookie" not in r.headers, url
            assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) == ("MISS", "HIT"), url
            again = client.get(url, headers={"If-None-Match": etag})
            assert (again.status_code, again.content, again.headers["x-cache-status"]) == (304, b"", "HIT"), url
        for url in ERRORS:
            r = client.get(url)
            assert r.status_code in (400, 404), url
            assert r.headers["cache-control"] == "public, max-age=60" and "etag" not in r.headers, url
            assert client.get(url).headers["x-cache-status"] == "HIT", url
        for _ in range(3):
            h = client.get("/-/healthz")
            assert (h.status_code, h.headers["cache-control"]) == (200, "no-store")
            assert h.headers["x-cache-status"] != "HIT"
        # Compressed on the way out, and only then does anything vary.
        gz = client.get("/ports/22.json", headers={"Accept-Encoding": "gzip"})
        assert (gz.headers["content-encoding"], gz.headers["vary"], gz.headers["etag"]) == (
            "gzip",
            "Accept-Encoding",
            etag,
        )
    # Both pods answered the cache's misses.
    log = podman("logs", f"{local.cache_pods[0]}-nginx")
    upstreams = {line.split()[2] for line in log.splitlines() if line.split()[1:2] == ["MISS"]}
    assert upstreams == {f"{local.address(p)}:8001" for p in local.app_pods}


def test_the_scheme_the_load_balancer_reports_reaches_the_apps_links(local):
    with httpx.Client(base_url=local.base, timeout=30) as client:
        for proto in ("https", "http"):
            r = client.get("/robots.txt", headers={**HOST, "X-Forwarded-Proto": proto})
            assert f"Sitemap: {proto}://ports.example/sitemap.xml" in r.text, proto
        plain = client.get("/robots.txt", headers=HOST)
        assert "Sitemap: http://ports.example/sitemap.xml" in plain.text
        assert (
            client.get("/iana/ports.json?_size=3", headers={**HOST, "X-Forwarded-Proto": "https"})
            .json()["next_url"]
            .startswith("https://ports.example/iana/")
        )


def test_a_new_build_reaches_every_pod_under_load_with_no_failure_and_no_mixed_answer(local, snapshot_2026):
    old = {h["etag"] for h in local.wait_ready()}
    assert len(old) == 1
    with Load(local.base) as load:
        time.sleep(2)
        served = local.publish(str(snapshot_2026))
        time.sleep(2)
    # One published file for every pod: one ETag.
    assert len({h["etag"] for h in served}) == 1
    figures = check_roll(load, served, old, at_least=100)
    # check_roll() allows no failed request and no mixed answer.
    local.figures.update(failed=0, mixed=0, **figures)
    # A publish of the same registry again changes nothing.
    current = podman(
        "run", "--rm", "-v", f"{local.builds_volume}:/builds:ro", "--entrypoint=cat", image(), "/builds/current"
    ).strip()
    assert local.run_job(str(snapshot_2026)).endswith(f"unchanged: /builds/current already names {current}")
