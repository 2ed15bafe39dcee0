"""workspace-admin export and import, end to end: the command line, a real hub, helper pods run for real.

The emulator's pods run on the pod runner (root only), so the helper pod's program
really serves the claim's directory, through the emulator's pods/proxy, to the
command line's entry point. The command line's Kubernetes user holds exactly the
Role of helm-values/workspace-admin-transfer-role.yaml (RBAC enforced).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import os
import pty
import random
import signal
import struct
import subprocess
import tarfile
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes_asyncio import client, config
from podrunner_support import require_root
from test_admin_cli import CLI_KUBE_USER, NAMESPACE, WORKSPACE_ADMIN, Hub, _stderr, launch_hub

from workspace_spawner.admin.transfer import download, upload
from workspace_spawner_testing.emulator.rbac import Rbac
from workspace_spawner_testing.podrunner import ProcessEmulator
from workspace_spawner_testing.podrunner.runner import DEMO_IMAGE_DIR, notebook_image
from workspace_spawner_testing.transfer import clear, runner_claim
from workspace_spawner_testing.transfer import helper as transfer_helper

pytestmark = [pytest.mark.emulator_only, pytest.mark.slow]

ROLE = Path(__file__).resolve().parents[2] / "helm-values" / "workspace-admin-transfer-role.yaml"
UID, GID = 1000, 100

SPAWNER_CONFIG = """
c.JupyterHub.spawner_class = "workspace"
c.KubeSpawner.namespace = "{namespace}"
c.KubeSpawner.image = "workspace-spawner/demo-notebook:latest"
c.KubeSpawner.uid = 1000
c.KubeSpawner.gid = 100
c.KubeSpawner.fs_gid = 100
c.KubeSpawner.storage_pvc_ensure = True
c.KubeSpawner.storage_capacity = "1Gi"
c.KubeSpawner.start_timeout = 90
c.KubeSpawner.http_timeout = 90
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    require_root("the pod runner")
    directory = tmp_path_factory.mktemp("transfer-hub")
    emulator = ProcessEmulator(
        data_dir=directory / "runner",
        images={"*": notebook_image(str(DEMO_IMAGE_DIR))},
        ip_prefix=f"127.{random.randint(100, 250)}.{random.randint(1, 250)}",
        namespace_finalize_seconds=0.05,
    ).start_in_thread()
    Rbac.install(emulator)
    for hub in launch_hub(directory, emulator, spawner_config=SPAWNER_CONFIG):
        for obj in yaml.safe_load_all(ROLE.read_text()):
            obj["metadata"]["namespace"] = NAMESPACE
            if obj["kind"] == "RoleBinding":
                obj["subjects"] = [{"kind": "User", "name": CLI_KUBE_USER}]
            emulator.create(obj, namespace=NAMESPACE)
        yield hub


def claim_dir(hub: Hub, user: str) -> Path:
    return hub.emulator.runner.claim_dir(NAMESPACE, f"claim-{user}")


def new_user(hub: Hub, name: str) -> Path:
    """A hub user with a bound, empty claim (as the spawner makes it); its directory."""
    hub.add_users(name)
    return runner_claim(
        hub.emulator,
        f"claim-{name}",
        namespace=NAMESPACE,
        uid=UID,
        gid=GID,
        labels={"component": "singleuser-storage", "hub.jupyter.org/username": name},
        mode=0o2770,
    )


def snapshot(root: Path) -> dict[bytes, tuple]:
    """Every entry under ``root`` (not root itself): kind, content or target, mode, mtime_ns."""
    out: dict[bytes, tuple] = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, base)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path), st.st_mtime_ns)
            elif os.path.isdir(path):
                out[rel] = ("dir", st.st_mode & 0o7777, st.st_mtime_ns)
            else:
                with open(path, "rb") as f:
                    out[rel] = ("file", f.read(), st.st_mode & 0o7777, st.st_mtime_ns, st.st_uid)
    return out


def own(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), UID, GID)


def fill(root: Path) -> None:
    (root / "notebooks").mkdir()
    (root / "notebooks/a.ipynb").write_bytes(os.urandom(300_000))
    (root / "odd name\nwith newline \u00e9").write_text("x")
    (Path(os.fsdecode(os.fsencode(root) + b"/latin1-\xe9"))).write_bytes(b"not UTF-8")
    (root / "link").symlink_to("notebooks/a.ipynb")
    (root / "ro").mkdir()
    (root / "ro/f").write_text("fixed")
    os.chmod(root / "ro/f", 0o444)
    os.utime(root / "ro/f", ns=(1_000_000_000_123_456_789, 1_000_000_000_123_456_789))
    os.utime(root / "ro", ns=(1_100_000_000_000_000_007, 1_100_000_000_000_000_007))
    own(root)


def transfer_pods(hub: Hub) -> list[dict[str, Any]]:
    return [
        p
        for p in hub.emulator.list("pods", NAMESPACE)
        if p["metadata"].get("labels", {}).get("component") == "workspace-transfer"
    ]


def cli_pod_creates(hub: Hub) -> int:
    return sum(
        1
        for r in hub.emulator.requests
        if r.user == CLI_KUBE_USER and r.verb == "create" and r.resource == "pods"
    )


def archive(tmp: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    path = tmp / f"a{random.randint(0, 10**9)}.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, *, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


# -- round trips -----------------------------------------------------------------------


def test_a_stopped_servers_volume_goes_to_another_user_byte_exact(hub: Hub, tmp_path: Path) -> None:
    source = new_user(hub, "ex-anna")
    fill(source)
    before = snapshot(source)
    out = tmp_path / "anna.tar.gz"
    result = hub.run("export", "ex-anna", "-o", str(out))
    assert result.returncode == 0, _stderr(result)
    assert "export PVC claim-ex-anna (read-only) to" in result.stdout
    assert out.exists() and not Path(f"{out}.part").exists()
    # a plain tar reads it: a POSIX archive with the odd names as they are
    with tarfile.open(out, "r:gz", errors="surrogateescape") as tar:
        names = set(tar.getnames())
    assert {"notebooks/a.ipynb", "odd name\nwith newline \u00e9", "link", "ro/f"} <= names
    target = new_user(hub, "ex-ben")
    result = hub.run("import", "ex-ben", str(out))
    assert result.returncode == 0, _stderr(result)
    assert snapshot(target) == before
    assert snapshot(source) == before
    assert transfer_pods(hub) == []


def test_export_beside_a_running_server(hub: Hub, tmp_path: Path) -> None:
    hub.add_users("ex-cleo")
    status, body = hub.api("POST", "/users/ex-cleo/server")
    assert status in (201, 202), body
    # a real jupyterhub-singleuser: seconds to start on a loaded machine
    hub.wait_server("ex-cleo", running=True, timeout=180)
    try:
        data = claim_dir(hub, "ex-cleo")
        (data / "live.txt").write_text("written while running")
        own(data)
        out = tmp_path / "cleo.tar.gz"
        result = hub.run("export", "ex-cleo", "-o", str(out))
        assert result.returncode == 0, _stderr(result)
        assert "beside the running server" in result.stdout
        with tarfile.open(out) as tar:
            assert tar.extractfile("live.txt").read() == b"written while running"
        # an import beside it too, into a directory of its own
        result = hub.run("import", "ex-cleo", str(out), "--into", "copy")
        assert result.returncode == 0, _stderr(result)
        assert (data / "copy/live.txt").read_text() == "written while running"
        assert hub.user("ex-cleo")["servers"][""]["ready"]
    finally:
        hub.stop("ex-cleo")
    assert transfer_pods(hub) == []


def test_import_never_overwrites_without_overwrite(hub: Hub, tmp_path: Path) -> None:
    target = new_user(hub, "ex-dora")
    (target / "course").mkdir()
    (target / "course/notes.md").write_text("mine")
    own(target)
    path = archive(
        tmp_path,
        [(member("notes.md"), b"theirs"), (member("new.md"), b"new"), (member("sub/x"), b"x")],
    )
    before = snapshot(target)
    result = hub.run("import", "ex-dora", str(path), "--into", "course")
    assert result.returncode == 1
    assert "1 file(s) of the archive exist in claim-ex-dora/course" in result.stderr
    assert "notes.md" in result.stderr and "--overwrite" in result.stderr
    assert snapshot(target) == before
    result = hub.run("import", "ex-dora", str(path), "--into", "course", "--overwrite")
    assert result.returncode == 0, _stderr(result)
    assert (target / "course/notes.md").read_text() == "theirs"
    assert (target / "course/new.md").read_text() == "new"
    assert (target / "course/sub/x").read_text() == "x"
    assert transfer_pods(hub) == []


ESCAPES = [
    ("parent", [member("../outside")], "member name with '..'"),
    ("absolute", [member("/etc/passwd")], "absolute member name"),
    ("symlink up", [member("l", kind=tarfile.SYMTYPE, link="../../x")], "points out"),
    ("symlink absolute", [member("l", kind=tarfile.SYMTYPE, link="/etc")], "absolute path"),
    ("hard link out", [member("h", kind=tarfile.LNKTYPE, link="/etc/shadow")], "absolute member"),
    ("hard link", [member("h", kind=tarfile.LNKTYPE, link="elsewhere")], "not an earlier file"),
    ("device", [member("d", kind=tarfile.CHRTYPE)], "device file"),
]


@pytest.mark.parametrize(
    ("members", "message"), [c[1:] for c in ESCAPES], ids=[c[0] for c in ESCAPES]
)
def test_members_leaving_the_target_are_refused(
    hub: Hub, tmp_path: Path, members: list[tarfile.TarInfo], message: str
) -> None:
    name = f"ex-esc-{random.randint(0, 10**6)}"
    target = new_user(hub, name)
    path = archive(tmp_path, [(member("fine.txt"), b"ok"), *[(m, b"") for m in members]])
    creates = cli_pod_creates(hub)
    result = hub.run("import", name, str(path))
    assert result.returncode == 1
    assert message in result.stderr and "nothing was imported" in result.stderr
    assert list(target.iterdir()) == []
    # refused here, before any helper pod
    assert cli_pod_creates(hub) == creates


# -- failures ----------------------------------------------------------------------------


def test_an_export_cut_off_mid_stream_writes_nothing_and_leaves_no_pod(
    hub: Hub, tmp_path: Path
) -> None:
    source = new_user(hub, "ex-emil")
    (source / "big").write_bytes(os.urandom(2_000_000))  # incompressible: a long stream
    own(source)
    before = snapshot(source)
    hub.emulator.inject_fault(
        verb="get", resource="pods", subresource="proxy", path="/proxy/export", after_bytes=100_000
    )
    out = tmp_path / "emil.tar.gz"
    result = hub.run("export", "ex-emil", "-o", str(out))
    assert result.returncode == 1, _stderr(result)
    assert "the export broke off" in result.stderr and "nothing was written" in result.stderr
    assert not out.exists() and not Path(f"{out}.part").exists()
    assert snapshot(source) == before
    assert transfer_pods(hub) == []


def test_the_helper_pod_is_deleted_when_the_proxy_fails(hub: Hub, tmp_path: Path) -> None:
    source = new_user(hub, "ex-fay")
    (source / "f").write_text("f")
    own(source)
    hub.emulator.inject_fault(
        verb="get", resource="pods", subresource="proxy", path="/proxy/export", status=500
    )
    result = hub.run("export", "ex-fay", "-o", str(tmp_path / "fay.tar.gz"))
    assert result.returncode == 1
    assert "HTTP 500" in result.stderr
    assert transfer_pods(hub) == []
    assert not (tmp_path / "fay.tar.gz").exists()


def test_without_the_role_the_error_names_the_right(hub: Hub, tmp_path: Path) -> None:
    new_user(hub, "ex-gus")
    binding = hub.emulator.get("rolebindings", "workspace-admin-transfer", NAMESPACE)
    hub.emulator.delete("rolebindings", "workspace-admin-transfer", NAMESPACE)
    try:
        result = hub.run("export", "ex-gus", "-o", str(tmp_path / "gus.tar.gz"))
    finally:
        binding["metadata"] = {"name": binding["metadata"]["name"], "namespace": NAMESPACE}
        hub.emulator.create(binding, namespace=NAMESPACE)
    assert result.returncode == 1
    assert "forbidden" in result.stderr and "persistentvolumeclaims" in result.stderr
    assert transfer_pods(hub) == []


# -- the round trip as a property ------------------------------------------------------------

NAME = st.binary(min_size=1, max_size=12).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
)
MTIME = st.integers(min_value=0, max_value=4_000_000_000 * 10**9)
ENTRY = st.one_of(
    st.tuples(st.just("file"), st.binary(max_size=2000), st.integers(0o400, 0o777), MTIME),
    st.tuples(st.just("link"), NAME, MTIME),
    st.tuples(st.just("dir"), st.integers(0o700, 0o777), MTIME),
)
TREE = st.dictionaries(NAME, ENTRY, min_size=1, max_size=6)


def build(root: bytes, tree: dict[bytes, tuple], depth: int = 0) -> None:
    dirs = []
    for name, entry in tree.items():
        path = os.path.join(root, name)
        if entry[0] == "file":
            with open(path, "wb") as f:
                f.write(entry[1])
            os.chmod(path, entry[2])
            os.utime(path, ns=(entry[3], entry[3]))
        elif entry[0] == "link":
            os.symlink(entry[1], path)  # a relative target inside (a sibling's name)
            os.utime(path, ns=(entry[2], entry[2]), follow_symlinks=False)
        else:
            os.mkdir(path)
            if depth < 1:
                with open(os.path.join(path, b"inner \n\xff"), "wb") as f:
                    f.write(name)
            dirs.append((path, entry))
    for path, entry in dirs:  # after their content, as tar sets them
        os.chmod(path, entry[1])
        os.utime(path, ns=(entry[2], entry[2]))


def test_round_trip_of_random_trees_is_byte_exact(hub: Hub) -> None:
    """Random trees through two helper pods that stay up (a pod's start costs seconds here):
    the helper's program and the proxy run for real, the client is the command line's."""
    source, target = new_user(hub, "ex-prop-src"), new_user(hub, "ex-prop-dst")

    async def main() -> None:
        configuration = client.Configuration()
        await config.load_kube_config(str(hub.kubeconfig), client_configuration=configuration)
        async with client.ApiClient(configuration) as api:
            core = client.CoreV1Api(api)
            async with (
                helper(core, "claim-ex-prop-src", True) as src,
                helper(core, "claim-ex-prop-dst", False) as dst,
            ):
                loop = asyncio.get_running_loop()

                def run(coro):
                    return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

                @settings(max_examples=12, deadline=None, database=None)
                @given(tree=TREE)
                def round_trip(tree: dict[bytes, tuple]) -> None:
                    clear(source)
                    clear(target)
                    build(os.fsencode(source), tree)
                    own(source)
                    before = snapshot(source)
                    with tempfile.TemporaryDirectory() as tmp:
                        out = str(Path(tmp) / "t.tar.gz")
                        run(download(src, path=out, level=6, what="src"))
                        run(upload(dst, path=out, into="", overwrite=False, what="dst"))
                    assert snapshot(target) == before

                await asyncio.to_thread(round_trip)

    asyncio.run(main())
    assert transfer_pods(hub) == []


def helper(core: Any, claim: str, read_only: bool) -> Any:
    return transfer_helper(
        core,
        namespace=NAMESPACE,
        claim=claim,
        read_only=read_only,
        image="workspace-spawner/demo-notebook:latest",
        username_label="ex-prop",
        uid=UID,
        gid=GID,
        timeout=90,
    )


@contextlib.contextmanager
def cordoned(hub: Hub) -> Iterator[None]:
    """Every node unschedulable (``kubectl cordon``): a new pod stays Pending."""
    nodes = [n["metadata"]["name"] for n in hub.emulator.list("nodes")]
    for node in nodes:
        hub.emulator.patch("nodes", node, {"spec": {"unschedulable": True}})
    try:
        yield
    finally:
        for node in nodes:
            hub.emulator.patch("nodes", node, {"spec": {"unschedulable": None}})


def test_ctrl_c_deletes_the_helper_pod(hub: Hub, tmp_path: Path) -> None:
    source = new_user(hub, "ex-ivy")
    (source / "f").write_text("f")
    own(source)
    env = {**os.environ, "KUBECONFIG": str(hub.kubeconfig), "JUPYTERHUB_API_TOKEN": hub.cli_token}
    env["PYTHONFAULTHANDLER"] = "1"
    out = tmp_path / "ivy.tar.gz"
    command = [WORKSPACE_ADMIN, "export", "ex-ivy", "-o", str(out)]
    command += ["--hub-url", hub.url, "-f", str(hub.config)]
    # The helper pod stays Pending on cordoned nodes, so the Ctrl-C lands while the
    # export waits for it. Without that, a loaded machine's poll here could see the pod
    # only once a quick export was done and deleting it (a CI run saw exit 0).
    with cordoned(hub):
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Ctrl-C as at a terminal, even when this suite runs as a background job: a
            # shell starts those with SIGINT ignored, which the command would inherit and
            # then never see the signal (its stacks showed it polling on, unaware)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            deadline = time.monotonic() + 60
            while not transfer_pods(hub):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no helper pod"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            try:
                _, stderr = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                # where it hangs (a loaded CI run saw it once): PYTHONFAULTHANDLER makes
                # SIGABRT print every thread's stack
                proc.send_signal(signal.SIGABRT)
                _, stderr = proc.communicate(timeout=30)
                pytest.fail("no exit within 60 s of Ctrl-C:\n" + stderr.decode(errors="replace"))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 130, stderr
        assert b"interrupted (the helper pod was deleted)" in stderr
        assert transfer_pods(hub) == []
        assert not out.exists() and not Path(f"{out}.part").exists()


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "script"])
def test_a_progress_bar_only_on_a_terminal(hub: Hub, tmp_path: Path, terminal: bool) -> None:
    name = f"ex-jo-{'tty' if terminal else 'pipe'}"
    source = new_user(hub, name)
    (source / "data").write_bytes(os.urandom(3_000_000))
    own(source)
    env = {**os.environ, "KUBECONFIG": str(hub.kubeconfig), "JUPYTERHUB_API_TOKEN": hub.cli_token}
    command = [WORKSPACE_ADMIN, "export", name, "-o", str(tmp_path / "out.tar.gz")]
    command += ["--hub-url", hub.url, "-f", str(hub.config)]
    if not terminal:
        result = subprocess.run(command, env=env, capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert b"B/s" not in result.stderr and b"\r" not in result.stderr
        return
    master, child = pty.openpty()
    # a terminal of 24 x 100 (a new pty has none: tqdm would draw a bar 0 columns wide)
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    output = bytearray()

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the child side closed
                return
            if not data:
                return
            output.extend(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=child, timeout=120)
    finally:
        os.close(child)
        reader.join(10)
        os.close(master)
    assert proc.returncode == 0, bytes(output)
    assert f"export {name}".encode() in output and b"B/s" in output
