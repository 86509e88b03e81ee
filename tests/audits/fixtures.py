"""Repositories the audit tests build: every planted fact is listed beside it."""

import json
import os
import subprocess
from pathlib import Path

MIT_TEXT = """MIT License

Copyright (c) 2024 Alice Example

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
"""
GPL_HEADER = """# Copyright (C) 2023 Gnu Hacker
#
# This program is free software: you can redistribute it and/or modify
# it under the terms of the GNU General Public License as published by
# the Free Software Foundation, either version 3 of the License, or
# (at your option) any later version.

def gpl_helper():
    return 42
"""
# An AWS access key id in AWS's documented example shape (not a live key).
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_FILE = f'''"""Settings."""

AWS_ACCESS_KEY_ID = "{AWS_KEY}"
REGION = "eu-west-1"
'''
CLEAN_MAIN = '''# SPDX-License-Identifier: MIT
# Copyright (c) 2024 Alice Example
"""The application."""


def main():
    total = 0
    for number in range(10):
        total += number
    return total
'''
BOB_MODULE = '''# Copyright (c) 2024 Bob Builder
"""Bob's utilities."""


def double(value):
    return value * 2


def triple(value):
    return value * 3
'''
VENDORED = """/* tinylib 1.0 - SPDX-License-Identifier: MIT
 * Copyright (c) 2020 Tiny Lib Authors */
function tiny(a) { return a + 1; }
module.exports = tiny;
"""
PACKAGE_JSON = {
    "name": "planted-app",
    "version": "1.0.0",
    "license": "MIT",
    "dependencies": {"apache-widget": "^2.1.0", "agpl-server": "^3.0.0"},
    "devDependencies": {"mit-tester": "1.2.3"},
}
PACKAGE_LOCK = {
    "name": "planted-app",
    "lockfileVersion": 3,
    "packages": {
        "": {"name": "planted-app", "version": "1.0.0", "license": "MIT"},
        "node_modules/apache-widget": {"version": "2.1.4", "license": "Apache-2.0"},
        "node_modules/agpl-server": {"version": "3.0.1", "license": "AGPL-3.0-only"},
        "node_modules/mit-tester": {"version": "1.2.3", "license": "MIT", "dev": True},
    },
}
PYPROJECT = """[project]
name = "planted-app"
version = "1.0.0"
license = "MIT"
dependencies = ["requests>=2.31", "pyyaml==6.0.1"]
"""
_BSD_CLAUSES = """ * Redistribution and use in source and binary forms, with or without
 * modification, are permitted provided that the following conditions
 * are met:
 *
 *   1. Redistributions of source code must retain the above copyright
 *   notice, this list of conditions and the following disclaimer.
 *
 *   2. Redistributions in binary form must reproduce the above copyright
 *   notice, this list of conditions and the following disclaimer in the
 *   documentation and/or other materials provided with the distribution.
"""
# License phrasings found in published packages, each in a file of its own, and mentions of the
# same words that name no license.
LICENSE_PHRASINGS = {
    "asyncpg_style.pyx": "# This module is part of asyncpg and is released under\n"
    "# the Apache 2.0 License: http://www.apache.org/licenses/LICENSE-2.0\n",
    "apache_short.py": '"""Distributed under the terms of the Apache License 2.0."""\n',
    "dual.py": "# This file is dual licensed under the terms of the Apache License, Version\n"
    "# 2.0, and the BSD License. See the LICENSE file in the root of this repository\n",
    "dns_style.py": "# Copyright (C) Dnspython Contributors, see LICENSE for text of ISC license\n",
    "isc_notice.py": "# Permission to use, copy, modify, and distribute this software and its\n"
    "# documentation for any purpose with or without fee is hereby granted,\n"
    "# provided that the above copyright notice and this permission notice\n"
    "# appear in all copies.\n",
    "mt19937.h": "/*\n" + _BSD_CLAUSES + " *\n"
    " *   3. The names of its contributors may not be used to endorse or promote\n"
    " *   products derived from this software without specific prior written\n"
    " *   permission.\n */\n",
    "two_clause.c": "/*\n" + _BSD_CLAUSES + " */\nint x;\n",
    "pygments_style.py": '"""\n    :copyright: Copyright 2006 by the Pygments team.\n'
    '    :license: BSD, see LICENSE for details.\n"""\n',
    "module_field.py": '__license__ = "BSD-2-Clause or Apache-2.0"\n',
    "jsdoc.js": "/**\n * @license MIT\n */\nexport const one = 1;\n",
    "apache_server.py": "# Reload the Apache 2.4 web server after the configuration changes.\n",
    "isc_dhcp.py": "# Parses leases written by the ISC DHCP server.\n",
    "license_variable.py": "license = read_license_file(path)\n",
    "docstring_prose.py": '"""Each package declares a :license: field that we read."""\n',
}
ALICE = ("Alice Example", "alice@example.com")
BOB = ("Bob Builder", "bob@example.com")


def _git(root: Path, *args: str, author: tuple[str, str] = ALICE) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": author[0],
        "GIT_COMMITTER_EMAIL": author[1],
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(root),
    }
    subprocess.run(["git", "-C", str(root), *args], check=True, env=env, capture_output=True)


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def planted_repository(root: Path) -> Path:
    """An MIT project by Alice and Bob with one GPL-3.0 file, an Apache-2.0 and an AGPL
    dependency, a committed AWS key, a vendored MIT library, a package.json and a pyproject."""
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    write(
        root,
        {
            "LICENSE": MIT_TEXT,
            "app/main.py": CLEAN_MAIN,
            "app/settings.py": SECRET_FILE,
            "package.json": json.dumps(PACKAGE_JSON, indent=2),
            "package-lock.json": json.dumps(PACKAGE_LOCK, indent=2),
            "pyproject.toml": PYPROJECT,
            "vendor/tinylib/tiny.js": VENDORED,
            "README.md": "# Planted app\n\nA fixture.\n",
        },
    )
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "Alice's first commit")
    write(root, {"app/bob.py": BOB_MODULE, "app/gpl_part.py": GPL_HEADER})
    _git(root, "add", "-A", author=BOB)
    _git(root, "commit", "-q", "-m", "Bob adds his module and a GPL helper", author=BOB)
    return root


def clean_repository(root: Path) -> Path:
    """An MIT project with nothing to report."""
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    write(root, {"LICENSE": MIT_TEXT, "app/main.py": CLEAN_MAIN, "app/bob.py": BOB_MODULE})
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "clean")
    return root


def wait_for_audits(run, app, timeout: float = 120.0) -> None:
    """Until every audit's job has finished (its row, reports and notifications written)."""
    import asyncio

    from sqlalchemy import func, select

    from atrium.audits.tables import Audit
    from atrium.jobs.tables import Job

    async def idle() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with app.state.db.sessions() as session:
                busy = await session.scalar(
                    select(func.count())
                    .select_from(Audit)
                    .join(Job, Job.id == Audit.job_id)
                    .where(Job.status.in_(("queued", "running")))
                )
            if not busy:
                return
            if loop.time() > deadline:
                raise AssertionError(f"{busy} audits still running after {timeout} s")
            await asyncio.sleep(0.05)

    run(idle)
