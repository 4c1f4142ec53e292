"""Open a source distribution from PyPI, pinned by its sha256 (PyPI is the one network the
CI machines reach): urllib first, `pip download` when that fails (a proxy or mirror
configured for pip). Used for data and test files that are not kept in this repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def pinned_sdist(url: str, sha256: str, requirement: str) -> Iterator[tarfile.TarFile]:
    """The sdist at `url` (file name = its last path part) as an open tar archive.

    Raises SystemExit when the download's sha256 is not the pinned one.
    """
    name = url.rsplit("/", 1)[-1]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / name
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                target.write_bytes(response.read())
        except OSError as error:
            print(f"urllib download failed ({error}); trying pip download", file=sys.stderr)
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--no-binary", ":all:", "-d", tmp, requirement],
                check=True,
            )
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        if digest != sha256:
            raise SystemExit(f"{name}: sha256 {digest} does not match the pinned {sha256}")
        with tarfile.open(target) as archive:
            yield archive
