"""Doc commands: `citizen doc new|list|show|set|del|append|history|share|unshare|rm`."""

from __future__ import annotations

import json

import click

from citizen.api.client import LocalClient, quote_path
from citizen.cli.output import Out
from citizen.errors import UsageError


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"VALUE {text!r} is not JSON.",
            "Quote text as JSON: '\"milk\"'; numbers, true/false, null, [..] and {..} as usual.",
        ) from exc


def _doc_path(doc: str, suffix: str = "") -> str:
    return f"/v1/docs/{quote_path(doc)}{suffix}"


def register(cli: click.Group) -> None:
    @cli.group()
    def doc() -> None:
        """Documents (CRDT) shared with friends."""

    @doc.command("new")
    @click.argument("title")
    @click.pass_obj
    def new(out: Out, title: str) -> None:
        """Create a doc owned by this household."""
        data = LocalClient(out.data_dir).request("POST", "/v1/docs", {"title": title})
        assert isinstance(data, dict)
        out.emit(data, f"{data['doc_id']}\nFor automerge-repo apps: {data['url']}")

    @doc.command("list")
    @click.pass_obj
    def list_(out: Out) -> None:
        """List docs: yours and those friends shared with you."""
        data = LocalClient(out.data_dir).request("GET", "/v1/docs")
        assert isinstance(data, list)
        lines = [f"{d['doc_id']}  {d['role']:<6}  {d['title']}  {d['url']}" for d in data]
        out.emit(data, "\n".join(lines) or "No docs yet: `citizen doc new TITLE`.")

    @doc.command("show")
    @click.argument("doc_id")
    @click.option("--path", default="", help="Show only the value at PATH.")
    @click.option("--peers", is_flag=True, help="Also say, per friend, whether it is in sync.")
    @click.pass_obj
    def show(out: Out, doc_id: str, path: str, peers: bool) -> None:
        """Show a doc as JSON."""
        suffix = f"?path={quote_path(path)}" if path else ""
        data = LocalClient(out.data_dir).request("GET", _doc_path(doc_id) + suffix)
        assert isinstance(data, dict)
        human = json.dumps(data["value"], indent=2, ensure_ascii=False)
        if peers:
            human += f"\n{data['title']}  {data['url']}\n" + "\n".join(
                f"{p['name']}  {p['state']}" for p in data["peers"]
            )
        out.emit(data, human)

    def _change(out: Out, doc_id: str, body: dict[str, object]) -> None:
        data = LocalClient(out.data_dir).request("POST", _doc_path(doc_id, "/change"), body)
        assert isinstance(data, dict)
        out.emit(data, "ok")

    @doc.command("set")
    @click.argument("doc_id")
    @click.argument("path")
    @click.argument("value")
    @click.pass_obj
    def set_(out: Out, doc_id: str, path: str, value: str) -> None:
        """Set PATH (like items.0.done) to VALUE (JSON)."""
        _change(out, doc_id, {"op": "set", "path": path, "value": _value(value)})

    @doc.command("del")
    @click.argument("doc_id")
    @click.argument("path")
    @click.pass_obj
    def del_(out: Out, doc_id: str, path: str) -> None:
        """Delete the value at PATH."""
        _change(out, doc_id, {"op": "del", "path": path})

    @doc.command("append")
    @click.argument("doc_id")
    @click.argument("path")
    @click.argument("value")
    @click.pass_obj
    def append(out: Out, doc_id: str, path: str, value: str) -> None:
        """Append VALUE (JSON) to the list at PATH (create it first with `set PATH []`)."""
        _change(out, doc_id, {"op": "append", "path": path, "value": _value(value)})

    @doc.command("history")
    @click.argument("doc_id")
    @click.pass_obj
    def history(out: Out, doc_id: str) -> None:
        """List a doc's changes, oldest first."""
        data = LocalClient(out.data_dir).request("GET", _doc_path(doc_id, "/history"))
        assert isinstance(data, list)
        lines = [f"{c['hash'][:12]}  {c['actor'][:8]}#{c['seq']}  {c['time'] or ''}" for c in data]
        out.emit(data, "\n".join(lines))

    @doc.command("share")
    @click.argument("doc_id")
    @click.argument("friend")
    @click.option("--role", type=click.Choice(["reader", "writer"]), required=True)
    @click.pass_obj
    def share(out: Out, doc_id: str, friend: str, role: str) -> None:
        """Share a doc with FRIEND (name or household ID) as reader or writer."""
        data = LocalClient(out.data_dir).request(
            "POST", _doc_path(doc_id, "/share"), {"friend": friend, "role": role}
        )
        assert isinstance(data, dict)
        out.emit(data, f"Shared with {data['name']} as {role}.")

    @doc.command("unshare")
    @click.argument("doc_id")
    @click.argument("friend")
    @click.pass_obj
    def unshare(out: Out, doc_id: str, friend: str) -> None:
        """Stop sharing a doc with FRIEND."""
        data = LocalClient(out.data_dir).request(
            "POST", _doc_path(doc_id, "/unshare"), {"friend": friend}
        )
        out.emit(data, "Unshared.")

    @doc.command("rm")
    @click.argument("doc_id")
    @click.pass_obj
    def rm(out: Out, doc_id: str) -> None:
        """Delete a doc this household owns."""
        data = LocalClient(out.data_dir).request("DELETE", _doc_path(doc_id))
        out.emit(data, "Deleted.")
