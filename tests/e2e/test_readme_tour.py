"""The README's two-minute tour, run as written against the installed service: every
curl line of its block answers as the README says."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.install import ROOT, Installed
from tests.support.server_process import migrate, start
from tests.support.tokens import SECRET, token
from users_service.entrypoints.commands.token import DEFAULT_SCOPES

TOUR_MARKER = "<!-- tour:"


def _tour() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split(TOUR_MARKER, 1)[1]
    block = re.search(r"```sh\n(.*?)```", after, re.S)
    assert block is not None, "the README has no tour block"
    return [c.strip() for c in block.group(1).replace("\\\n", " ").splitlines() if c.strip()]


def test_the_readme_tour_runs(installed: Installed, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{installed.writable_dir('tour') / 'users.db'}"
    env = installed.environment(DATABASE_URL=url, AUTH_JWT_SECRET=SECRET)
    migrate(installed, env)
    server = start(installed, env, log=tmp_path / "server.log")
    try:
        commands = _tour()
        assert len(commands) == 10
        outputs = []
        for command in commands:
            shell = {"PATH": "/usr/bin:/bin", "TOKEN": token(ttl=600, scope=DEFAULT_SCOPES)}
            result = subprocess.run(  # noqa: S602 - the README's own shell lines
                command.replace("localhost:8000", f"127.0.0.1:{server.port}"),
                shell=True,
                env=shell,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert result.returncode == 0, (command, result.stdout, result.stderr)
            outputs.append(result.stdout)
    finally:
        assert server.terminate() == 0
    created, read, patched, batch, page, group, joined, expanded, deleted, gone = outputs
    assert '"email":"ada@example.com"' in created
    assert '"version":1' in created
    assert read == created
    assert '"name":"Ada King"' in patched
    assert '"version":2' in patched
    assert batch.count('"email"') == 2
    assert '"next_cursor"' in page
    assert page.count('"id"') == 2
    assert '"id":4' in group
    assert '"member_count":0' in group
    assert joined == ""
    assert '"groups":[{"id":4,"name":"Engineering"}]' in expanded
    assert '"groups_complete":true' in expanded
    assert deleted == ""
    assert '"code":"user_not_found"' in gone
