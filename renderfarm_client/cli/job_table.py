"""How ``renderfarm jobs`` and ``renderfarm status`` show a job's name, tags and submitter: the
job's whole id, never cut, so it can be pasted into the next command."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from renderfarm_client.job_views import JobLine, JobProgress

#: A job id: 32 hex digits.
ID_WIDTH = 32


def jobs_table(lines: list[JobLine]) -> Table:
    """One row per job: its whole id with its name and tags under it (so a narrow terminal
    folds the name, never the id), then its state, frames and when it was made."""
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("job", no_wrap=False, min_width=ID_WIDTH, ratio=1, overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("frames", no_wrap=True)
    table.add_column("created", no_wrap=True)
    for line in lines:
        job = Text(line.job_id)
        if line.name:  # as plain text: a name may hold [brackets] rich would read as markup
            job.append("\n" + line.name, style="bold")
        if line.tags:
            job.append("\n" + " ".join(line.tags), style="cyan")
        frames = f"{line.frames_done}/{line.frames_total}"
        if line.frames_failed:
            frames += f" \u2717{line.frames_failed}"
        table.add_row(job, line.state, frames, f"{line.created_at:%Y-%m-%d %H:%M}")
    return table


def label_lines(progress: JobProgress) -> list[Text]:
    """The job's name, tags and submitter, as lines under its status (none from an older farm)."""
    lines: list[Text] = []
    if progress.name is not None:
        lines.append(Text(f"name: {progress.name}"))
    if progress.tags:
        lines.append(Text(f"tags: {' '.join(progress.tags)}"))
    if progress.submitted_by is not None:
        lines.append(Text(f"submitted by API key {progress.submitted_by}"))
    return lines
