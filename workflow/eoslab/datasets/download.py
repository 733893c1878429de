"""Downloads that never leave a half file, and the missing-file message every loader gives.

A download streams into a temporary file beside the target, is checked
against its expected checksum, and only then renamed into place; an
interrupted or corrupt download leaves nothing that looks finished.
Archives are unpacked with tarfile's ``data`` filter / zip member checks, so
no member can escape the target directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.request
import zipfile
from pathlib import Path

from ..arrays import DataFileError
from ..io import atomic_write


class DownloadError(RuntimeError):
    """A download failed or its checksum did not match."""


def missing_data_error(path: str | os.PathLike, layout: str, url: str | None = None,
                       command: str | None = None) -> DataFileError:
    """The one clear error for a missing raw-data file: what, where it goes, how to get it."""
    message = f"{os.fspath(path)!r} not found. Expected {layout}."
    if url:
        message += f" Download it from {url}"
        message += f" (or run `{command}`)" if command else ""
        message += f" and unpack it so that {os.fspath(path)!r} exists."
    return DataFileError(message)


def download(url: str, destination: str | os.PathLike, *, md5: str | None = None, sha256: str | None = None,
             chunk_size: int = 1 << 20) -> Path:
    """Fetch ``url`` to ``destination`` atomically, verifying ``md5``/``sha256`` when given."""
    destination = Path(destination)
    hashers = {name: hashlib.new(name) for name, expected in (("md5", md5), ("sha256", sha256)) if expected}

    def write(tmp: str) -> None:
        try:
            with urllib.request.urlopen(url) as response, open(tmp, "wb") as handle:
                while chunk := response.read(chunk_size):
                    handle.write(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
        except OSError as error:
            raise DownloadError(f"downloading {url} failed: {error}") from error
        for name, expected in (("md5", md5), ("sha256", sha256)):
            if expected and hashers[name].hexdigest() != expected:
                raise DownloadError(f"{url}: {name} {hashers[name].hexdigest()} does not match the expected "
                                    f"{expected}; the download is incomplete or corrupt and was discarded")

    return atomic_write(destination, write)


def extract(archive: str | os.PathLike, directory: str | os.PathLike) -> Path:
    """Unpack a .tar.gz or .zip into ``directory`` (via a temporary directory, then renamed members)."""
    archive, directory = Path(archive), Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / f".extract-{archive.name}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")
        elif archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    target = (staging / member).resolve()
                    if not str(target).startswith(str(staging.resolve())):
                        raise DownloadError(f"{archive}: member {member!r} would be written outside {directory}")
                zf.extractall(staging)
        else:
            raise DownloadError(f"{archive}: unknown archive type (expected .tar.gz or .zip)")
        for item in staging.iterdir():
            target = directory / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory
