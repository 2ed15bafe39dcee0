"""The helper pod's program unpacking into a directory, and the helper pod's manifest.

The program (workspace_spawner/admin/transfer_*.py, joined into one source) runs here on a temporary
directory as it runs in the pod on the claim: what it refuses, and that a refused
or cut-off archive leaves the directory as it was. The HTTP path through the pod
proxy is tests/integration/test_export_import.py.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from workspace_spawner.admin.transfer_archive import STAGING_PREFIX, Refused
from workspace_spawner.admin.transfer_pod import (
    Security,
    security_from_pod,
    security_from_traits,
    transfer_pod_manifest,
)
from workspace_spawner.admin.transfer_unpack import Importer, check


def tar_bytes(members: list[tuple[str, bytes, str]], *, gz: bool = True) -> bytes:
    """(name, data, kind) with kind "f" file, "d" dir, "l:TARGET" symlink, "h:TARGET" hard link."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o640
            if kind == "d":
                info.type = tarfile.DIRTYPE
            elif kind.startswith("l:"):
                info.type, info.linkname = tarfile.SYMTYPE, kind[2:]
            elif kind.startswith("h:"):
                info.type, info.linkname = tarfile.LNKTYPE, kind[2:]
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def state(root: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        target = os.readlink(path) if path.is_symlink() else None
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        out[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, target, content)
    return out


def unpack(root: Path, data: bytes, *, into: str = "", overwrite: bool = False) -> dict:
    return Importer(str(root), into, overwrite=overwrite).run(io.BytesIO(data))


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    root = tmp_path / "volume"
    root.mkdir()
    (root / "keep.txt").write_text("mine")
    (root / "dir").mkdir()
    (root / "dir/inner").write_text("inner")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)  # a link the user made, pointing out
    return root


REFUSED = [
    ("dot-dot", [("a/../../x", b"x", "f")], "'..'"),
    ("absolute", [("/etc/x", b"x", "f")], "absolute member name"),
    ("symlink out", [("l", b"", "l:../x")], "points out of the target"),
    ("deep symlink out", [("a/b/l", b"", "l:../../../x")], "points out of the target"),
    ("absolute symlink", [("l", b"", "l:/etc/passwd")], "absolute path"),
    ("hard link to nothing", [("h", b"", "h:keep.txt")], "not an earlier file"),
    # a member below a symlink of the volume: never written through it
    ("through a symlink", [("escape/evil", b"x", "f")], "would replace a directory"),
    ("file over a directory", [("dir", b"x", "f")], "would replace a directory"),
]


@pytest.mark.parametrize(
    ("members", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused_archives_change_nothing(
    volume: Path, tmp_path: Path, members: list, message: str
) -> None:
    before = state(volume)
    data = tar_bytes([("fine.txt", b"ok", "f"), *members])
    with pytest.raises(Refused, match=message):
        unpack(volume, data, overwrite=True)
    assert state(volume) == before
    assert list((tmp_path / "outside").iterdir()) == []


def test_a_cut_off_archive_changes_nothing(volume: Path) -> None:
    before = state(volume)
    data = tar_bytes([("a", os.urandom(200_000), "f"), ("b", b"b", "f")])
    with pytest.raises((tarfile.TarError, EOFError, OSError)):
        unpack(volume, data[: len(data) // 2])
    assert state(volume) == before
    assert not [p for p in volume.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_existing_files_are_refused_without_overwrite_and_replaced_with_it(volume: Path) -> None:
    data = tar_bytes([("keep.txt", b"theirs", "f"), ("dir/new", b"new", "f")])
    before = state(volume)
    with pytest.raises(Refused, match="exist already") as refused:
        unpack(volume, data)
    assert refused.value.paths == ["keep.txt"] and refused.value.status == 409
    assert state(volume) == before
    result = unpack(volume, data, overwrite=True)
    assert result["replaced"] == ["keep.txt"]
    assert (volume / "keep.txt").read_text() == "theirs"
    assert (volume / "dir/inner").read_text() == "inner"  # a merge, not a replacement
    assert (volume / "dir/new").read_text() == "new"


def test_into_a_new_directory_with_links_and_hard_links(volume: Path) -> None:
    data = tar_bytes(
        [("d", b"", "d"), ("d/f", b"data", "f"), ("d/l", b"", "l:f"), ("h", b"", "h:d/f")],
        gz=False,
    )
    unpack(volume, data, into="restored/today")
    base = volume / "restored/today"
    assert os.readlink(base / "d/l") == "f"
    assert (base / "h").read_bytes() == b"data"
    assert (base / "h").stat().st_ino == (base / "d/f").stat().st_ino
    assert (base / "d").stat().st_mode & 0o7777 == 0o640


def test_into_through_a_symlink_is_refused(volume: Path, tmp_path: Path) -> None:
    with pytest.raises(Refused, match="passes through a symlink"):
        unpack(volume, tar_bytes([("f", b"x", "f")]), into="escape/sub")
    assert list((tmp_path / "outside").iterdir()) == []


def test_check_names_what_would_be_replaced(volume: Path) -> None:
    entries = [b"fkeep.txt", b"ddir", b"fdir/inner", b"fnew", b"fescape/x", b"fdir"]
    assert check(str(volume), "", entries) == ["keep.txt", "dir/inner", "dir"]


# -- the helper pod --------------------------------------------------------------------


def manifest(security: Security, **overrides) -> dict:
    args = dict(
        name="workspace-transfer-1",
        namespace="jupyterhub",
        username_label="alice",
        claim="claim-alice",
        image="quay.io/jupyter/minimal-notebook:2026-11-16",
        image_pull_policy=None,
        read_only=True,
        token="secret",
        security=security,
        node_name=None,
        idle_seconds=600,
        deadline_seconds=3600,
    )
    return transfer_pod_manifest(**{**args, **overrides})


def test_the_helper_pod_is_restricted_and_runs_as_the_notebook() -> None:
    pod = manifest(security_from_traits(uid=1000, gid=100, fs_gid=100, supplemental_gids=[5]))
    spec = pod["spec"]
    (container,) = spec["containers"]
    # https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
    assert container["securityContext"] == {
        "runAsUser": 1000,
        "runAsGroup": 100,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["securityContext"] == {
        "fsGroup": 100,
        "supplementalGroups": [5],
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["automountServiceAccountToken"] is False
    assert container["volumeMounts"][0]["readOnly"] is True
    assert spec["volumes"][0]["persistentVolumeClaim"] == {
        "claimName": "claim-alice",
        "readOnly": True,
    }
    assert {"name": "WORKSPACE_TRANSFER_TOKEN", "value": "secret"} in container["env"]
    assert spec["activeDeadlineSeconds"] == 3600 and "nodeName" not in spec


def test_beside_a_running_server_the_helper_takes_its_node_and_identity() -> None:
    server = {
        "spec": {
            "nodeName": "node-1",
            "securityContext": {"fsGroup": 1000680000, "seLinuxOptions": {"level": "s0:c26"}},
            "containers": [
                {"name": "sidecar", "securityContext": {"runAsUser": 7}},
                {"name": "notebook", "securityContext": {"runAsUser": 1000680000}},
            ],
        }
    }
    pod = manifest(security_from_pod(server), node_name="node-1", read_only=False)
    assert pod["spec"]["nodeName"] == "node-1"
    assert pod["spec"]["securityContext"]["seLinuxOptions"] == {"level": "s0:c26"}
    assert pod["spec"]["containers"][0]["securityContext"]["runAsUser"] == 1000680000
    assert pod["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] is False


def test_a_notebook_running_as_root_is_refused() -> None:
    with pytest.raises(ValueError, match="restricted"):
        manifest(security_from_traits(uid=0, gid=0, fs_gid=None, supplemental_gids=[]))


def test_the_joined_program_compiles_and_needs_only_the_standard_library() -> None:
    import sys

    from workspace_spawner.admin.transfer_pod import server_script

    source = server_script()
    compile(source, "transfer", "exec")
    assert source.startswith('"""The helper pod') and source.count("from __future__") == 1
    imported = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
