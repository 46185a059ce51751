"""`citizen folder …`: directories the household protects, their history, and restoring them."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from urllib.parse import quote

import click

from citizen.api.client import LocalClient
from citizen.cli.output import Out
from citizen.units import size_text


def _when(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "never"
    return datetime.datetime.fromtimestamp(seconds).isoformat(sep=" ", timespec="seconds")


def _size(n: object) -> str:
    return size_text(n if isinstance(n, int | float) else 0)


def _folder_line(f: dict[str, object]) -> str:
    state = str(f["state"]) + (f" ({f['error']})" if f.get("error") else "")
    protection = f.get("protection") or {}
    assert isinstance(protection, dict)
    shown = ", ".join(f"{n} {k}" for k, n in sorted(protection.items())) or "nothing stored yet"
    return (
        f"{f['name']}  {f['path']}  {state}\n"
        f"  {f['files']} files, {f['dirs']} dirs, {f['links']} links, {_size(f['bytes'])};"
        f" {f['versions']} versions; last scan {_when(f['last_scan'])}\n"
        f"  objects: {shown}"
    )


def _first_scan(client: LocalClient, name: str) -> dict[str, object]:
    """Poll the folder's status with a progress bar on stderr until its first scan is done."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    url = _one(name)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(f"Scanning {name}", total=None)
        while True:
            data = client.request("GET", url)
            assert isinstance(data, dict)
            scan = data.get("scan")
            if isinstance(scan, dict):
                if scan["stage"] == "reading":
                    what = f"Reading {name}: {scan['found']} paths, {scan['read']} files read"
                    bar.update(task, description=what, total=None)
                else:
                    what = f"Storing {scan['files']} files of {name}"
                    bar.update(task, description=what, total=scan["bytes"])
                    bar.update(task, completed=scan["stored_bytes"])
            elif data.get("last_scan") is not None or data.get("state") != "active":
                return data
            time.sleep(0.25)


def _path_hex(path: str) -> str:
    return os.fsencode(path).strip(b"/").hex()


def _one(name: str) -> str:
    return f"/v1/folders/{quote(name, safe='')}"


def register(cli: click.Group) -> None:
    @cli.group()
    def folder() -> None:
        """Protect directories: versioned backup to friends, restore by path and time."""

    @folder.command("add")
    @click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--name", default=None, help="What to call it (default: the directory's name).")
    @click.option("--mode", type=click.Choice(["backup"]), default="backup", show_default=True)
    @click.option(
        "--wait/--no-wait",
        default=True,
        help="Show the first scan's progress until it is done (not with --json).",
    )
    @click.pass_obj
    def add(out: Out, path: Path, name: str | None, mode: str, wait: bool) -> None:
        """Protect the directory PATH; it is scanned at once and watched from then on."""
        body = {"path": os.fsdecode(os.path.abspath(os.fsencode(path))), "mode": mode}
        if name is not None:
            body["name"] = name
        client = LocalClient(out.data_dir)
        data = client.request("POST", "/v1/folders", body)
        assert isinstance(data, dict)
        if out.as_json or not wait:
            out.emit(data, f"Added folder {data['name']} ({data['path']}); scanning it now.")
            return
        done = _first_scan(client, str(data["name"]))
        out.emit(done, _folder_line(done))

    @folder.command("list")
    @click.pass_obj
    def list_(out: Out) -> None:
        """Every folder this device protects."""
        data = LocalClient(out.data_dir).request("GET", "/v1/folders")
        assert isinstance(data, list)
        out.emit(data, "\n".join(_folder_line(f) for f in data) or "No folders yet.")

    @folder.command("status")
    @click.argument("name", required=False)
    @click.pass_obj
    def status(out: Out, name: str | None) -> None:
        """One folder (or every folder): state, what it holds, how protected."""
        client = LocalClient(out.data_dir)
        if name is None:
            data: object = client.request("GET", "/v1/folders")
            assert isinstance(data, list)
            out.emit(data, "\n".join(_folder_line(f) for f in data) or "No folders yet.")
            return
        data = client.request("GET", _one(name))
        assert isinstance(data, dict)
        out.emit(data, _folder_line(data))

    @folder.command("scan")
    @click.argument("name")
    @click.pass_obj
    def scan(out: Out, name: str) -> None:
        """Scan NAME now (it is also watched and rescanned on its own) and record what changed."""
        client = LocalClient(out.data_dir)
        if out.as_json:
            data = client.request("POST", _one(name) + "/scan")
        else:
            from rich.console import Console

            with Console(stderr=True).status(f"Scanning {name}..."):
                data = client.request("POST", _one(name) + "/scan")
        assert isinstance(data, dict)
        if data["paused"]:
            out.emit(data, f"Folder {name} is paused: {data['error']}")
            return
        out.emit(
            data,
            f"{data['files']} files: {data['changed']} new or changed, {data['deleted']} deleted,"
            f" {data['read']} read" + (f", {data['busy']} busy" if data["busy"] else ""),
        )

    @folder.command("pause")
    @click.argument("name")
    @click.pass_obj
    def pause(out: Out, name: str) -> None:
        """Stop watching and scanning NAME."""
        data = LocalClient(out.data_dir).request("POST", _one(name) + "/pause")
        assert isinstance(data, dict)
        out.emit(data, f"Folder {name} paused.")

    @folder.command("resume")
    @click.argument("name")
    @click.pass_obj
    def resume(out: Out, name: str) -> None:
        """Watch and scan NAME again."""
        data = LocalClient(out.data_dir).request("POST", _one(name) + "/resume")
        assert isinstance(data, dict)
        out.emit(data, f"Folder {name} active again.")

    @folder.command("remove")
    @click.argument("name")
    @click.option("--forget", is_flag=True, help="Also drop its history and stored objects.")
    @click.pass_obj
    def remove(out: Out, name: str, forget: bool) -> None:
        """Stop protecting NAME (its versions stay restorable unless --forget)."""
        path = _one(name) + ("?forget=true" if forget else "")
        data = LocalClient(out.data_dir).request("DELETE", path)
        assert isinstance(data, dict)
        kept = (
            f"forgotten ({data['objects_removed']} objects removed)"
            if forget
            else "its versions stay restorable"
        )
        out.emit(data, f"Folder {name} removed; {kept}.")

    @folder.command("history")
    @click.argument("name")
    @click.argument("path")
    @click.pass_obj
    def history(out: Out, name: str, path: str) -> None:
        """Every version of PATH (relative to the folder root) in NAME."""
        url = _one(name) + "/history?path_hex=" + _path_hex(path)
        data = LocalClient(out.data_dir).request("GET", url)
        assert isinstance(data, list)
        lines = []
        for v in data:
            when = _when(int(v["at_ns"]) / 1e9)
            if v["deleted"]:
                lines.append(f"{when}  deleted")
            elif v["kind"] == "link":
                lines.append(f"{when}  link -> {v['target']}")
            else:
                lines.append(f"{when}  {v['kind']}  {_size(v['size'])}  mode {int(v['mode']):o}")
        out.emit(data, "\n".join(lines))

    @folder.command("restore")
    @click.argument("name")
    @click.argument("paths", nargs=-1)
    @click.option(
        "--to",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Restore into this directory (default: the folder's own place).",
    )
    @click.option("--at", "at", default=None, help="As it was then: Unix seconds or ISO time.")
    @click.option("--force", is_flag=True, help="Overwrite files that are there.")
    @click.pass_obj
    def restore(
        out: Out, name: str, paths: tuple[str, ...], to: Path | None, at: str | None, force: bool
    ) -> None:
        """Write NAME (or PATHS in it) as it was at --at (default now) into --to."""
        body: dict[str, object] = {"paths_hex": [_path_hex(p) for p in paths], "force": force}
        if to is not None:
            body["to"] = os.fsdecode(os.path.abspath(os.fsencode(to)))
        if at is not None:
            body["at"] = at
        client = LocalClient(out.data_dir)
        if out.as_json:
            data = client.request("POST", _one(name) + "/restore", body)
        else:
            from rich.console import Console

            with Console(stderr=True).status(f"Restoring {name}..."):
                data = client.request("POST", _one(name) + "/restore", body)
        assert isinstance(data, dict)
        out.emit(
            data,
            f"Restored {data['files']} files, {data['dirs']} dirs, {data['links']} links"
            f" ({_size(data['bytes'])}) into {data['to']}.",
        )
