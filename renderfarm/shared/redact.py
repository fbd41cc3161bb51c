"""What a server's text may not tell a client: the folders of files on the server.

Blender names the files it opens or writes with their absolute paths (the worker's blend cache,
its scratch folder); a chunk's error and log tail are shown to the client, so each path keeps
only its file name.
"""

from __future__ import annotations

import re

# An absolute POSIX path: its folders are dropped, its last part (a file name) kept. Not a
# relative one: ``../assets/crate.blend`` and Blender's ``//../tex/wood.png`` name the user's
# files, not the server's folders.
_FOLDERS = re.compile(r"(?<![\w:/.~-])(?:/[\w.+@-]+)+/(?=[\w.+@-])")


def without_paths(text: str) -> str:
    """``text`` with every absolute path cut to its file name."""
    return _FOLDERS.sub("", text)
