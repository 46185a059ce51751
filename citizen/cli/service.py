"""`citizen service install|status|uninstall` (a systemd unit) and `citizen logs` (its journal).

`install` makes the system user, the data dir (with an identity, as `citizen
init` makes one) and the unit (`citizen.cli.unit`), enables it for boot and
starts it. `--root DIR` writes everything under DIR instead of / (a throwaway
root for tests or an image being built): nothing is started there, and
enabling is the symlink `systemctl enable` would make. `--dry-run` prints
what would be done and the unit, and changes nothing.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import click

from citizen.cli.output import Out
from citizen.cli.unit import (
    DEFAULT_DATA_DIR,
    DEFAULT_USER,
    UNIT_DIR,
    UNIT_NAME,
    WANTS_DIR,
    UnitOptions,
    unit_text,
)
from citizen.errors import CitizenError, UsageError


class ServiceError(CitizenError):
    """The service cannot be installed, removed or read as asked."""

    code = "service"


@dataclass(slots=True)
class Plan:
    """What install does, step by step, so a dry run can print it and a test can read it."""

    root: Path
    options: UnitOptions
    name: str
    steps: list[str] = field(default_factory=list)

    def at(self, path: PurePosixPath) -> Path:
        """`path` inside the root being installed into."""
        return self.root / str(path).lstrip("/")


def _command() -> tuple[str, ...]:
    """How to start this very `citizen`: the script next to the interpreter, else python -m."""
    script = Path(sys.executable).parent / "citizen"
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (sys.executable, "-m", "citizen")


def _code_paths() -> tuple[PurePosixPath, ...]:
    import citizen

    return (
        PurePosixPath(sys.executable),
        PurePosixPath(Path(sys.executable).resolve()),  # a venv's python links to the real one
        PurePosixPath(Path(citizen.__file__).parent),
    )


def _group_of(user: str) -> str:
    """The user's primary group; for a user still to be made, its own (useradd --user-group)."""
    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError:
        return user


def _live(root: Path) -> bool:
    """Installing into the running system with systemd as init (not a throwaway root)."""
    return root == Path("/") and Path("/run/systemd/system").is_dir()


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceError(
            f"`{' '.join(argv)}` failed: {(done.stderr or done.stdout).strip()}",
            "See the message above; nothing else was changed after this step.",
        )


def _closed_to(user: str, paths: tuple[PurePosixPath, ...]) -> Path | None:
    """The first directory on the way to the code that `user` cannot enter, or None.

    A user still to be made counts as any other user: it owns nothing yet.
    """
    try:
        account: pwd.struct_passwd | None = pwd.getpwnam(user)
    except KeyError:
        account = None
    if account is not None and account.pw_uid == 0:
        return None
    groups = (
        set()
        if account is None
        else {account.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    )
    for p in paths:
        for parent in reversed(Path(p).parents):
            try:
                st = os.stat(parent)
            except OSError:
                return parent
            if account is not None and st.st_uid == account.pw_uid:
                bit = 0o100
            elif st.st_gid in groups:
                bit = 0o010
            else:
                bit = 0o001
            if not st.st_mode & bit:
                return parent
    return None


def install(plan: Plan, *, dry_run: bool) -> list[str]:
    """Carry out (or with `dry_run`, only list) the install steps; returns them."""
    o = plan.options
    steps = plan.steps
    try:
        account = pwd.getpwnam(o.user)
    except KeyError:
        account = None
    if account is None:
        steps.append(f"create the system user {o.user} (home {o.data_dir}, no login)")
        if not dry_run:
            argv = ["useradd", "--system", "--user-group", "--home-dir", str(o.data_dir)]
            argv += ["--no-create-home", "--shell", "/usr/sbin/nologin", o.user]
            if plan.root != Path("/"):
                argv[1:1] = ["--root", str(plan.root)]
            _run(argv)
            if plan.root == Path("/"):
                account = pwd.getpwnam(o.user)
    data = plan.at(o.data_dir)
    if not (data / "keys").exists() and not (data / "config.toml").exists():
        steps.append(f"create the household identity in {o.data_dir} (as `citizen init`)")
        if not dry_run:
            data.mkdir(parents=True, exist_ok=True, mode=0o700)
            cmd = [sys.executable, "-m", "citizen", "--data-dir", str(data), "init"]
            _run([*cmd, "--name", plan.name, "--device-name", socket.gethostname()])
    if account is not None:
        steps.append(f"give {o.data_dir} to {o.user}, mode 0700")
        if not dry_run:
            data.chmod(0o700)
            for path in [data, *data.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    unit = plan.at(UNIT_DIR / UNIT_NAME)
    steps.append(f"write {UNIT_DIR / UNIT_NAME}")
    wants = plan.at(WANTS_DIR / UNIT_NAME)
    if not dry_run:
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(unit_text(o))
        unit.chmod(0o644)
    if _live(plan.root):
        steps.append(f"systemctl daemon-reload; systemctl enable --now {UNIT_NAME}")
        if not dry_run:
            _run(["systemctl", "daemon-reload"])
            _run(["systemctl", "enable", "--now", UNIT_NAME])
    else:
        steps.append(f"enable it at boot: link {WANTS_DIR / UNIT_NAME} (not started)")
        if not dry_run:
            wants.parent.mkdir(parents=True, exist_ok=True)
            if wants.is_symlink() or wants.exists():
                wants.unlink()
            wants.symlink_to(UNIT_DIR / UNIT_NAME)
    return steps


def uninstall(root: Path, *, dry_run: bool) -> list[str]:
    """Stop, disable and remove the unit; the data dir and the user stay."""
    steps: list[str] = []
    unit = root / str(UNIT_DIR / UNIT_NAME).lstrip("/")
    wants = root / str(WANTS_DIR / UNIT_NAME).lstrip("/")
    if _live(root):
        steps.append(f"systemctl disable --now {UNIT_NAME}")
        if not dry_run:
            _run(["systemctl", "disable", "--now", UNIT_NAME])
    for path in (wants, unit):
        if path.is_symlink() or path.exists():
            steps.append(f"remove /{path.relative_to(root)}")
            if not dry_run:
                path.unlink()
    if _live(root) and not dry_run:
        _run(["systemctl", "daemon-reload"])
    return steps


def next_steps(o: UnitOptions, live: bool) -> str:
    """What to do once the service runs (printed by install, not scrolled away by logs)."""
    # the CLI finds the service's data dir by itself (config.default_data_dir)
    cli = (
        "sudo citizen"
        if o.data_dir == DEFAULT_DATA_DIR
        else f"sudo citizen --data-dir {o.data_dir}"
    )
    started = (
        "The daemon runs now and starts at every boot."
        if live
        else (f"The unit starts at the next boot (or now: sudo systemctl start {UNIT_NAME}).")
    )
    return "\n".join(
        [
            started,
            "Next:",
            f"  1. Check it:                 {cli} status   and   {cli} doctor",
            f"  2. Pair with a friend:       {cli} invite   (they run `citizen accept CODE`)",
            f"     or on a phone: {cli} web   (the page's address, its QR code, a login code)",
            f"  3. Back up the key, on paper: {cli} key backup --sheet recovery.txt",
            "     Without the 24 words, a lost SD card loses the household.",
            f"  Logs: {cli} logs -f      Remove: sudo citizen service uninstall",
        ]
    )


def _need_root(root: Path, dry_run: bool) -> None:
    if root == Path("/") and not dry_run and os.geteuid() != 0:
        raise ServiceError(
            "Installing a system service needs root.",
            "Run it with sudo: `sudo $(command -v citizen) service install`, "
            "or try `--dry-run` first.",
        )


def register(cli: click.Group) -> None:
    @cli.group()
    def service() -> None:
        """Run the daemon as a systemd service: install, status, uninstall."""

    root_option = click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("/"),
        show_default=True,
        help="Install into this directory instead of / (an image, a test): nothing is started.",
    )
    dry_option = click.option("--dry-run", is_flag=True, help="Say what would be done; do nothing.")

    @service.command("install")
    @click.option("--user", default=DEFAULT_USER, show_default=True, help="System user to run as.")
    @click.option(
        "--data-dir",
        "data_dir",
        default=str(DEFAULT_DATA_DIR),
        show_default=True,
        help="The service's data dir.",
    )
    @click.option("--name", default=None, help="Household name for a new identity (hostname).")
    @root_option
    @dry_option
    @click.pass_obj
    def install_cmd(
        out: Out, user: str, data_dir: str, name: str | None, root: Path, dry_run: bool
    ) -> None:
        """Install, enable and start the daemon as a systemd service."""
        root = root.absolute()
        if not PurePosixPath(data_dir).is_absolute():
            raise UsageError("--data-dir must be an absolute path.")
        _need_root(root, dry_run)
        options = UnitOptions(
            command=_command(),
            user=user,
            group=_group_of(user),
            data_dir=PurePosixPath(data_dir),
            code_paths=_code_paths(),
        )
        blocked = _closed_to(user, options.code_paths)
        if blocked is not None and not dry_run:
            raise ServiceError(
                f"The system user {user} could not start this citizen: {blocked} is closed to"
                " other users.",
                "Install citizen where every user can read it (sudo python3 -m venv /opt/citizen;"
                " sudo /opt/citizen/bin/pip install .; sudo /opt/citizen/bin/citizen service"
                " install), or run it as your own user: --user $USER.",
            )
        plan = Plan(root, options, name or socket.gethostname())
        steps = install(plan, dry_run=dry_run)
        live = _live(root)
        data = {
            "unit": str(UNIT_DIR / UNIT_NAME),
            "root": str(root),
            "user": user,
            "data_dir": data_dir,
            "exec_start": options.exec_start,
            "steps": steps,
            "dry_run": dry_run,
            "started": live and not dry_run,
        }
        head = "Would do:" if dry_run else "Done:"
        text = "\n".join([head, *(f"  - {s}" for s in steps)])
        if dry_run:
            text += f"\n\n{unit_text(options)}"
        else:
            text += "\n\n" + next_steps(options, live)
        out.emit(data, text)

    @service.command("uninstall")
    @root_option
    @dry_option
    @click.pass_obj
    def uninstall_cmd(out: Out, root: Path, dry_run: bool) -> None:
        """Stop and remove the service; the data dir and the user stay."""
        root = root.absolute()
        _need_root(root, dry_run)
        steps = uninstall(root, dry_run=dry_run)
        text = "\n".join(f"  - {s}" for s in steps) or "  (no citizen service was installed)"
        text += f"\nThe data dir stays (default {DEFAULT_DATA_DIR}); remove it yourself if you"
        text += " are sure: it holds the household key."
        out.emit({"steps": steps, "dry_run": dry_run}, text)

    @service.command("status")
    @root_option
    @click.pass_obj
    def status_cmd(out: Out, root: Path) -> None:
        """Whether the service is installed, enabled at boot, and running."""
        root = root.absolute()
        unit = root / str(UNIT_DIR / UNIT_NAME).lstrip("/")
        wants = root / str(WANTS_DIR / UNIT_NAME).lstrip("/")
        active = None
        if _live(root):
            done = subprocess.run(
                ["systemctl", "is-active", UNIT_NAME], capture_output=True, text=True, check=False
            )
            active = done.stdout.strip() or "unknown"
        data = {
            "installed": unit.exists(),
            "enabled": wants.is_symlink() or wants.exists(),
            "active": active,
            "unit": str(UNIT_DIR / UNIT_NAME),
        }
        lines = [
            f"Unit      {data['unit']} ({'installed' if data['installed'] else 'not installed'})",
            f"At boot   {'enabled' if data['enabled'] else 'not enabled'}",
            f"Running   {active if active is not None else 'unknown (systemd is not running)'}",
        ]
        out.emit(data, "\n".join(lines))

    @cli.command()
    @click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
    @click.option("-n", "--lines", default=100, show_default=True, help="How many lines.")
    @click.pass_obj
    def logs(out: Out, follow: bool, lines: int) -> None:
        """The service's log from the journal (journalctl -u citizen)."""
        if shutil.which("journalctl") is None:
            raise ServiceError(
                "journalctl is not installed, so there is no journal to read.",
                "Run the daemon in the foreground (`citizen run`) to see its log.",
            )
        argv = ["journalctl", "--unit", UNIT_NAME, "--lines", str(lines), "--no-pager"]
        if follow:
            argv.append("--follow")
        if out.as_json:
            argv += ["--output", "json"]
        os.execvp(argv[0], argv)
