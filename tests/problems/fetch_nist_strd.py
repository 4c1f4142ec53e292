"""Fetch the 27 NIST StRD nonlinear-regression data files into a local folder.

    python tests/problems/fetch_nist_strd.py .cache/nist_strd

The data are NIST's Statistical Reference Datasets (NIST ITL, public domain:
https://www.itl.nist.gov/div898/strd/nls/nls_main.shtml). They are not kept in this
repository; we take NIST's original .dat files (headers included) as redistributed in
the lmfit 1.3.2 source distribution on PyPI (`lmfit-1.3.2/NIST_STRD/*.dat`), pinned by
its sha256, because PyPI is the one network the CI machines reach. The sdist is
fetched with urllib from files.pythonhosted.org, or with `pip download` when that
fails (a proxy or mirror configured for pip); only the 27 .dat files are extracted.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pinned_sdist import pinned_sdist

SHA256 = "31beeae1f027c1b8c14dcd7f2e8488a80b75fb389e77fca677549bdc2fe597bb"
URL = (
    "https://files.pythonhosted.org/packages/ad/e0/"
    "e6ced7c4f7c3e7aa64057d6482bcfc798fbe731fb3226918769b7b76aba1/lmfit-1.3.2.tar.gz"
)
MEMBER_DIR = "lmfit-1.3.2/NIST_STRD/"
NAMES = (
    "Misra1a", "Chwirut2", "Chwirut1", "Lanczos3", "Gauss1", "Gauss2", "DanWood",
    "Misra1b", "Kirby2", "Hahn1", "Nelson", "MGH17", "Lanczos1", "Lanczos2", "Gauss3",
    "Misra1c", "Misra1d", "Roszman1", "ENSO", "MGH09", "Thurber", "BoxBOD", "Rat42",
    "MGH10", "Eckerle4", "Rat43", "Bennett5",
)


def fetch(destination: Path) -> None:
    """Download the pinned sdist, check its sha256, extract the 27 .dat files."""
    if all((destination / f"{name}.dat").exists() for name in NAMES):
        return
    destination.mkdir(parents=True, exist_ok=True)
    with pinned_sdist(URL, SHA256, "lmfit==1.3.2") as archive:
        for name in NAMES:
            member = archive.getmember(f"{MEMBER_DIR}{name}.dat")
            (destination / f"{name}.dat").write_bytes(archive.extractfile(member).read())
    print(f"NIST StRD: {len(NAMES)} files in {destination}")


if __name__ == "__main__":
    fetch(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/nist_strd"))
