"""What a server's text may not tell a client: the folders of files on the server.

Blender names the files it opens or writes with their absolute paths (the worker's blend cache,
its scratch folder); a chunk's error and log tail are shown to the client, so each path keeps
only its file name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# An absolute POSIX path: its folders are dropped, its last part (a file name) kept. Not a
# relative one: ``../assets/crate.blend`` and Blender's ``//../tex/wood.png`` name the user's
# files, not the server's folders.
_FOLDERS = re.compile(r"(?<![\w:/.~-])(?:/[\w.+@-]+)+/(?=[\w.+@-])")


def without_paths(text: str) -> str:
    """``text`` with every absolute path cut to its file name."""
    return _FOLDERS.sub("", text)


def without_folders(text: str, folders: Iterable[str]) -> str:
    """``text`` without ``folders`` (a server's own: its caches, its temporary folder) wherever
    they appear, even where ``without_paths`` cannot tell a path (a folder name with a space, a
    path right after a colon), then with every other absolute path cut to its file name."""
    named = sorted({f.rstrip("/") for f in folders if f.strip("/")}, key=len, reverse=True)
    if named:
        # A folder (not the start of a longer name: /tmp in /tmpfs); what was under it stays an
        # absolute path, which without_paths then cuts to its file name.
        either = "|".join(re.escape(folder) for folder in named)
        text = re.sub(rf"(?:{either})(?=/|(?![\w.+@-]))", "", text)
    return without_paths(text)
