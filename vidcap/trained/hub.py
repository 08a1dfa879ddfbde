"""Model folders on the Hugging Face Hub: ``hf:org/name[@revision]`` ids, download through the Hub's cache,
and upload.

Downloads go through ``huggingface_hub.snapshot_download``, so its cache (``HF_HUB_CACHE`` / ``HF_HOME``),
offline mode (``HF_HUB_OFFLINE=1``: the cache only, never the network) and revision pinning (a branch, a
tag or a commit hash after ``@``) work as for any Hub library. Only the model folder's files are fetched.
What comes back is read like any local model folder (:func:`vidcap.trained.folder.read_model_folder`):
as untrusted data.

Example:
    >>> parse_hub_id("hf:vidcap/sa-lstm-msrvtt@v1.0")
    ('vidcap/sa-lstm-msrvtt', 'v1.0')
    >>> is_hub_id("runs/sa/best.pt"), is_hub_id("hf:vidcap/sa-lstm-msrvtt")
    (False, True)
    >>> download("hf:vidcap/sa-lstm-msrvtt")                     # doctest: +SKIP
    PosixPath('/root/.cache/huggingface/hub/models--vidcap--sa-lstm-msrvtt/snapshots/3f2a…')
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vidcap.errors import InputError, UsageError
from vidcap.version import __version__

__all__ = ["PREFIX", "download", "is_hub_id", "parse_hub_id", "push"]

PREFIX = "hf:"


def is_hub_id(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` names a Hub model (``hf:org/name``) rather than a local path."""
    return str(source).startswith(PREFIX)


def parse_hub_id(source: str | os.PathLike[str]) -> tuple[str, str | None]:
    """``hf:org/name[@revision]`` → ``(repo_id, revision or None)``; UsageError for a malformed id."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    text = str(source)
    repo_id, _, revision = text[len(PREFIX):].partition("@")
    try:
        if not is_hub_id(text) or repo_id.count("/") != 1:
            raise HFValidationError("write it as org/name")
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise UsageError(f"{text!r}: not a Hub model id; write hf:org/name or hf:org/name@revision "
                         f"({str(err).splitlines()[0]})") from None
    if "@" in text and not revision:
        raise UsageError(f"{text!r}: nothing after '@'; give a branch, tag or commit hash, or leave out the '@'")
    return repo_id, revision or None


def download(source: str | os.PathLike[str], *, revision: str | None = None,
             cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The local folder of Hub model ``source`` (``hf:org/name[@revision]``), from the cache or downloaded.
    ``revision`` names the revision as ``@revision`` does; giving both, differing, is a UsageError.

    Example:
        >>> download("hf:vidcap/sa-lstm-msrvtt@3f2a9c1d0e4b5a6978c1d2e3f4a5b6c7d8e9f0a1")   # doctest: +SKIP
        >>> download("hf:vidcap/sa-lstm-msrvtt", revision="v1.0")                           # doctest: +SKIP
        >>> download("hf:vidcap/sa-lstm-msrvtt@v1.0", revision="v2.0")
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: hf:vidcap/sa-lstm-msrvtt@v1.0: names revision 'v1.0' and revision='v2.0' asks for another; give the revision once
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub import errors as hub_errors

    from vidcap.trained.folder import FILES

    repo_id, named = parse_hub_id(source)
    if named is not None and revision is not None and named != revision:
        raise UsageError(f"{source}: names revision {named!r} and revision={revision!r} asks for another; "
                         "give the revision once")
    revision = revision or named
    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=list(FILES),
                                   library_name="vidcap", library_version=__version__)
    except hub_errors.RevisionNotFoundError:
        raise InputError(f"{source}: the Hub repository {repo_id} has no revision {revision!r}") from None
    except (hub_errors.RepositoryNotFoundError, hub_errors.GatedRepoError) as err:
        raise InputError(f"{source}: no such Hub model, or it needs a login you do not have "
                         f"({type(err).__name__})") from None
    except hub_errors.LocalEntryNotFoundError:
        from huggingface_hub import constants

        where = cache_dir or constants.HF_HUB_CACHE
        raise InputError(f"{source}: not in the Hugging Face cache ({where}) for revision "
                         f"{revision or 'main'!r}, and the Hub cannot be reached"
                         f"{' (HF_HUB_OFFLINE is set)' if _offline(constants) else ''}; download it "
                         f"where the Hub can be reached, or use a model folder path") from None
    except hub_errors.HfHubHTTPError as err:
        raise InputError(f"{source}: the Hub answered {str(err).splitlines()[0]}") from None
    return Path(folder)


def _offline(constants: Any) -> bool:
    # is_offline_mode() reads the environment now; older huggingface_hub only has the import-time constant
    return bool(getattr(constants, "is_offline_mode", lambda: constants.HF_HUB_OFFLINE)())


def push(folder: str | os.PathLike[str], repo_id: str, *, revision: str | None = None, private: bool = False,
         token: str | None = None, message: str | None = None) -> str:
    """Upload model folder ``folder`` to the Hub repository ``repo_id`` (created when missing); returns the
    commit URL. The folder is read and checked first, so a broken folder is never uploaded.

    Example:
        >>> push("models/sa", "vidcap/sa-lstm-msrvtt")                     # doctest: +SKIP
        'https://huggingface.co/vidcap/sa-lstm-msrvtt/commit/…'
    """
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hub_errors

    from vidcap.trained.folder import FILES, read_model_folder

    parse_hub_id(PREFIX + repo_id)  # the same rules as for downloading
    read_model_folder(folder)
    api = HfApi(token=token, library_name="vidcap", library_version=__version__)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info: Any = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision,
                                      allow_patterns=list(FILES),
                                      commit_message=message or f"Upload vidcap model ({__version__})")
    except hub_errors.OfflineModeIsEnabled:
        raise UsageError(f"cannot push {folder} to {repo_id}: HF_HUB_OFFLINE is set (unset it to upload)") from None
    except hub_errors.HfHubHTTPError as err:
        raise InputError(f"pushing {folder} to {repo_id}: the Hub answered {str(err).splitlines()[0]} "
                         f"(log in with `hf auth login` or set HF_TOKEN)") from None
    except Exception as err:  # the HTTP client's own errors (connection refused, timeouts) vary by version
        raise InputError(f"pushing {folder} to {repo_id}: the Hub could not be reached "
                         f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    return str(getattr(info, "commit_url", info))
