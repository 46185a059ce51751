"""A shopping list two households share: add and check items from both sides, even offline.

    python shopping_list.py --data-dir ~/alice new              # prints LIST (the doc ID)
    python shopping_list.py --data-dir ~/alice share LIST bob   # bob: a friend's name or ID
    python shopping_list.py --data-dir ~/bob add LIST milk
    python shopping_list.py --data-dir ~/alice check LIST milk
    python shopping_list.py --data-dir ~/alice show LIST
    python shopping_list.py --data-dir ~/bob watch LIST         # live, until Ctrl-C

Edits made while a friend is offline merge when they reconnect (Automerge).
"""

from __future__ import annotations

import argparse

import anyio
import citizen_sdk


async def new(c: citizen_sdk.Client) -> str:
    async with c.docs.create("shopping list") as doc:
        await doc.change(lambda d: d.setdefault("items", []))
        return doc.doc_id


async def share(c: citizen_sdk.Client, list_id: str, friend: str) -> None:
    async with c.docs.open(list_id) as doc:
        await doc.share(friend, "writer")


def _items(d: citizen_sdk.MapProxy) -> citizen_sdk.ListProxy:
    items = d["items"]
    assert isinstance(items, citizen_sdk.ListProxy), "not a shopping list"
    return items


async def add(c: citizen_sdk.Client, list_id: str, item: str) -> None:
    async with c.docs.open(list_id) as doc:
        await doc.change(lambda d: _items(d).append({"name": item, "done": False}))


async def check(c: citizen_sdk.Client, list_id: str, item: str) -> None:
    def tick(d: citizen_sdk.MapProxy) -> None:
        for entry in _items(d):
            if isinstance(entry, citizen_sdk.MapProxy) and entry["name"] == item:
                entry["done"] = True

    async with c.docs.open(list_id) as doc:
        await doc.change(tick)


def render(value: dict[str, object]) -> str:
    items = value.get("items", [])
    assert isinstance(items, list)
    return "\n".join(f"[{'x' if i['done'] else ' '}] {i['name']}" for i in items) or "(empty)"


async def show(c: citizen_sdk.Client, list_id: str, watch: bool = False) -> str:
    async with c.docs.open(list_id) as doc:
        print(render(doc.value))
        if watch:
            async for value in doc.changes():
                print("--\n" + render(value))
        return render(doc.value)


async def main(args: argparse.Namespace) -> None:
    async with citizen_sdk.connect(args.data_dir) as c:
        match args.command:
            case "new":
                print(await new(c))
            case "share":
                await share(c, args.list, args.friend)
            case "add":
                await add(c, args.list, args.item)
            case "check":
                await check(c, args.list, args.item)
            case "show" | "watch":
                await show(c, args.list, watch=args.command == "watch")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the household daemon's data dir")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("new")
    for name, extra in [("share", "friend"), ("add", "item"), ("check", "item")]:
        cmd = sub.add_parser(name)
        cmd.add_argument("list")
        cmd.add_argument(extra)
    for name in ("show", "watch"):
        sub.add_parser(name).add_argument("list")
    return parser.parse_args(argv)


if __name__ == "__main__":
    anyio.run(main, parse())
