"""The jobs page's search box and paging: a state, a name prefix and tags as a person types them,
checked by the API's own rules (renderfarm.jobs.naming), and the cursor of the page shown."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from renderfarm.jobs.naming import JobFilter, check_name, check_tag
from renderfarm.jobs.status import JobState

#: Tags typed into the box are separated by spaces or commas (no tag holds either).
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True, kw_only=True)
class JobSearch:
    state: JobState | None = None
    #: The name prefix and the tags as typed (stripped), shown back in the form.
    name: str = ""
    tags: str = ""
    cursor: str | None = None
    #: What is wrong with what was typed (the page then lists nothing and says so).
    error: str | None = None

    @classmethod
    def of(
        cls, *, state: str | None, name: str | None, tags: str | None, cursor: str | None
    ) -> JobSearch:
        """The search a page's query asks for; an unknown state shows every job."""
        chosen = JobState(state) if state in {s.value for s in JobState} else None
        search = cls(
            state=chosen,
            name=(name or "").strip(),
            tags=(tags or "").strip(),
            cursor=cursor or None,
        )
        return replace(search, error=search._problem())

    def _problem(self) -> str | None:
        try:
            if self.name:
                check_name(self.name)
            for tag in self.tag_list:
                check_tag(tag)
        except ValueError as error:
            return str(error)
        return None

    @property
    def tag_list(self) -> tuple[str, ...]:
        return tuple(tag for tag in _SEPARATORS.split(self.tags) if tag)

    @property
    def matching(self) -> JobFilter:
        return JobFilter(name_prefix=self.name or None, tags=self.tag_list)

    @property
    def narrowed(self) -> bool:
        """Whether the list shows only some jobs."""
        return self.state is not None or not self.matching.is_empty

    def query(self, *, cursor: str | None = None) -> str:
        """The query string of this search at ``cursor`` (None: its first page), or ""."""
        params = {
            "state": self.state.value if self.state else "",
            "name": self.name,
            "tags": self.tags,
            "cursor": cursor or "",
        }
        kept = {key: value for key, value in params.items() if value}
        return "?" + urlencode(kept) if kept else ""
