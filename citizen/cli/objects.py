"""Object commands: `put`, `get`, `ls`, `rm`, `evict`, `verify`, `repair`, `storage`.

`verify` and `put --wait` exit with status 1 when they find a problem or
time out, after printing what they found (JSON with ``--json``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click

from citizen.api.client import LocalClient, quote_path
from citizen.api.models.objects import MAX_WAIT
from citizen.cli.output import Out
from citizen.errors import CitizenError, UsageError
from citizen.objects.names import neutral_name
from citizen.units import size_text


def _size(n: object) -> str:
    return size_text(n if isinstance(n, int | float) else 0)


@contextmanager
def _progress(out: Out, total: int | None, what: str) -> Iterator[object]:
    """A rich progress bar on stderr (nothing with --json); yields an `advance(n)` callable."""
    if out.as_json:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


class _Counting:
    """A file wrapper that reports every read to a progress callback."""

    def __init__(self, f: BinaryIO, advance: object) -> None:
        self._f = f
        self._advance = advance

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._advance(len(data))  # type: ignore[operator]
        return data


def protection_text(o: dict[str, object]) -> str:
    """``protected (survives 1 friend loss)``, ``spreading (...)``, ``local only``."""
    state = str(o["protection"])
    survives, target = o.get("survives"), o.get("target_survives")
    if state == "local only":
        return state
    losses = "no friend loss" if survives is None else f"{survives} friend losses"
    if survives == 1:
        losses = "1 friend loss"
    return f"{state} (survives {losses}, target {target})"


def register(cli: click.Group) -> None:
    register_restore(cli)

    @cli.command()
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--name", default=None, help="Name to record (default: the file's name).")
    @click.option(
        "--wait", "wait", is_flag=True, help="Wait until friends protect it (see --timeout)."
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(0, 86400),
        default=600.0,
        show_default=True,
        help="With --wait: give up after this many seconds (exit status 1).",
    )
    @click.pass_obj
    def put(out: Out, file: Path, name: str | None, wait: bool, timeout: float) -> None:
        """Store FILE: kept here at once, and spread to friends as encrypted shares."""
        size = file.stat().st_size
        label = name if name is not None else file.name
        client = LocalClient(out.data_dir)
        with open(file, "rb") as f, _progress(out, size, f"put {file.name}") as advance:
            data = client.upload(
                f"/v1/objects?name={quote_path(label, 'The object name')}",
                _Counting(f, advance),  # type: ignore[arg-type]
                size,
            )
        assert isinstance(data, dict)
        path = f"/v1/objects/{quote_path(str(data['object_id']))}/wait"
        # long polls of at most MAX_WAIT s each; the daemon answers at once when no friend
        # could protect it, so the polls are counted, not timed
        left = timeout
        while wait and data["protection"] != "protected" and left > 0:
            step = min(MAX_WAIT, left)
            data = client.request("POST", path, {"timeout": step})
            assert isinstance(data, dict)
            left -= step
        out.emit(data, f"{data['object_id']}  {protection_text(data)}")
        if wait and data["protection"] != "protected":
            raise CitizenError(
                f"After {timeout:.0f} s {data['object_id']} is {protection_text(data)}.",
                "It is stored here and keeps spreading while friends are online;"
                " `citizen ls` shows how far it got.",
            )

    @cli.command()
    @click.argument("obj")
    @click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Where to write it (default: the object's name, in this directory).",
    )
    @click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
    @click.pass_obj
    def get(out: Out, obj: str, output: Path | None, force: bool) -> None:
        """Write object OBJ to a file (from the local copy, else from friends' shares)."""
        if output is not None:
            _refuse_overwrite(output, force)
        length, headers, chunks = LocalClient(out.data_dir).open_download(
            f"/v1/objects/{quote_path(obj)}"
        )
        if output is None:
            output = Path(neutral_name(_object_name(headers) or obj))
            _refuse_overwrite(output, force)
        temp = output.with_name(f".{output.name}.{os.getpid()}.part")
        written = 0
        try:
            with open(temp, "wb") as f, _progress(out, length, f"get {obj[:12]}") as advance:
                try:
                    for chunk in chunks:
                        f.write(chunk)
                        written += len(chunk)
                        advance(len(chunk))  # type: ignore[operator]
                except Exception as exc:
                    raise CitizenError(
                        f"The daemon stopped sending {obj} after {written} bytes: {exc}.",
                        "See the daemon's log; nothing was written to the output file.",
                    ) from exc
                if length is not None and written != length:
                    raise CitizenError(
                        f"The daemon sent {written} of {length} bytes of {obj}.",
                        "See the daemon's log; nothing was written to the output file.",
                    )
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, output)
        finally:
            temp.unlink(missing_ok=True)
        out.emit(
            {"object_id": obj, "path": str(output), "size": written},
            f"Wrote {_size(written)} to {output}",
        )

    def _refuse_overwrite(output: Path, force: bool) -> None:
        if output.exists() and not force:
            raise UsageError(
                f"{output} already exists; nothing was written.",
                "Pass --force to overwrite it, or -o to write elsewhere.",
            )

    def _object_name(headers: dict[str, str]) -> str:
        try:
            return bytes.fromhex(headers.get("x-citizen-object-name", "")).decode("utf-8")
        except ValueError:
            return ""

    @cli.command("ls")
    @click.pass_obj
    def ls(out: Out) -> None:
        """List this household's objects."""
        data = LocalClient(out.data_dir).request("GET", "/v1/objects")
        assert isinstance(data, list)
        lines = [
            f"{o['object_id']}  {_size(o['size']):>10}  {o['k']}-of-{o['n']}"
            f"  {protection_text(o):<38}  {'local' if o['local'] else 'evicted'}  {o['name']}"
            for o in data
        ]
        out.emit(data, "\n".join(lines) or "No objects yet: `citizen put FILE` stores one.")

    @cli.command("rm")
    @click.argument("obj")
    @click.pass_obj
    def rm(out: Out, obj: str) -> None:
        """Delete object OBJ here and ask its holders to drop their shares."""
        data = LocalClient(out.data_dir).request("DELETE", f"/v1/objects/{quote_path(obj)}")
        assert isinstance(data, dict)
        late = data.get("unreachable") or []
        note = f" ({len(late)} holders offline keep their shares for now)" if late else ""
        out.emit(data, f"Removed {obj}{note}.")

    @cli.command()
    @click.argument("obj")
    @click.pass_obj
    def evict(out: Out, obj: str) -> None:
        """Drop the local copy of OBJ (it stays readable from friends)."""
        path = f"/v1/objects/{quote_path(obj)}/evict"
        data = LocalClient(out.data_dir).request("POST", path, {})
        assert isinstance(data, dict)
        out.emit(data, f"Evicted the local copy of {obj}.")

    @cli.command()
    @click.argument("obj", required=False)
    @click.pass_obj
    def verify(out: Out, obj: str | None) -> None:
        """Ask holders to prove they still hold every share (of OBJ, or of every object)."""
        client = LocalClient(out.data_dir)
        data = client.request("POST", "/v1/objects/verify", {"object_id": obj} if obj else {})
        assert isinstance(data, list)
        friends = client.request("GET", "/v1/friends")
        assert isinstance(friends, list)
        names = {f["household"]: f["name"] for f in friends}
        lines: list[str] = []
        for o in data:
            lines.append(f"{o['object_id']}  {'healthy' if o['healthy'] else 'PROBLEMS'}")
            for h in o["holders"]:
                if h["unreachable"]:
                    state = f"unreachable ({h['unreachable']})"
                elif h["missing"] or h["bad"]:
                    state = f"{len(h['missing'])} missing, {len(h['bad'])} bad"
                else:
                    state = f"ok ({h['ok']} shares)"
                lines.append(f"    {names.get(h['household'], h['household'])}  {state}")
        out.emit(data, "\n".join(lines) or "No objects.")
        sick = [o["object_id"] for o in data if not o["healthy"]]
        if sick:
            raise CitizenError(
                f"{len(sick)} of {len(data)} objects have missing, bad or unreachable shares.",
                "Run `citizen repair` (with those friends online) to re-make them.",
            )

    @cli.command()
    @click.pass_obj
    def repair(out: Out) -> None:
        """Rebuild missing or bad shares and place them on friends."""
        data = LocalClient(out.data_dir).request("POST", "/v1/objects/repair", {})
        assert isinstance(data, dict)
        lines = []
        for o in data["objects"]:
            if "error" in o:
                lines.append(f"{o['object_id']}  failed: {o['error']}")
            else:
                lines.append(
                    f"{o['object_id']}  {o['state']}  moved {len(o['moved'])},"
                    f" re-sent {sum(o['resent'].values())}"
                )
        out.emit(data, "\n".join(lines) or "Nothing to repair.")

    @cli.command()
    @click.pass_obj
    def storage(out: Out) -> None:
        """What this household holds for friends, what they hold for it, what needs repair."""
        data = LocalClient(out.data_dir).request("GET", "/v1/storage")
        assert isinstance(data, dict)
        lines = ["Held for friends:"]
        lines += [
            f"    {f['name']}  {_size(f['used'])} of {_size(f['quota'])}"
            for f in data["held_for_friends"]
        ]
        lines.append("Held by friends for us:")
        lines += [
            f"    {f['name'] or f['household']}  {_size(f['bytes'])}"
            for f in data["held_by_friends"]
        ]
        counts = data["protection"]
        target = data.get("target") or {}
        lines.append(
            f"Objects: {counts['protected']} protected, {counts['spreading']} spreading,"
            f" {counts['local only']} local only"
            + (
                f" (target {target['k']}-of-{target['n']}, surviving the loss of"
                f" {target['survives']} friends)"
                if target
                else ""
            )
        )
        under = data["under_protected"]
        lines.append(f"Under-protected objects: {', '.join(under) if under else 'none'}")
        unheard = data["unheard"]
        if unheard:
            names = ", ".join(f["name"] or f["household"] for f in unheard)
            lines.append(f"Unheard of past the grace period (their shares do not count): {names}")
        out.emit(data, "\n".join(lines))


def register_restore(cli: click.Group) -> None:
    @cli.command()
    @click.option("--lazy", is_flag=True, help="Fetch nothing now; `get` fetches on first use.")
    @click.pass_obj
    def restore(out: Out, lazy: bool) -> None:
        """Bring every object back onto this device from friends (after a recovery)."""
        client = LocalClient(out.data_dir)
        listing = client.request("GET", "/v1/objects")
        assert isinstance(listing, list)
        missing = [o for o in listing if not o["local"]]
        if lazy:
            out.emit(
                {"missing": len(missing), "restored": [], "failed": {}},
                f"{len(missing)} objects stay with friends; `citizen get` fetches each on use.",
            )
            return
        restored: list[str] = []
        failed: dict[str, str] = {}
        total = sum(int(o["size"]) for o in missing)
        with _progress(out, total, "restore") as advance:
            for o in missing:
                try:
                    client.request("POST", f"/v1/objects/{quote_path(o['object_id'])}/restore", {})
                    restored.append(str(o["object_id"]))
                except CitizenError as exc:
                    failed[str(o["object_id"])] = exc.message
                advance(int(o["size"]))  # type: ignore[operator]
        out.emit(
            {"restored": restored, "failed": failed},
            f"Restored {len(restored)} objects"
            + (f"; {len(failed)} could not be fetched yet (run again later)." if failed else "."),
        )
        if failed:
            raise CitizenError(
                f"{len(failed)} objects could not be fetched yet.", "Run again later."
            )
