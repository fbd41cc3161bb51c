import json
import logging
import sys

from renderfarm.shared.json_logging import JsonFormatter


def test_a_log_line_is_one_json_object_with_the_job_and_tenant() -> None:
    record = logging.LogRecord("renderfarm.api", logging.INFO, __file__, 1, "job %s", ("ok",), None)
    job_id = "0123456789abcdef0123456789abcdef"
    record.__dict__.update(job_id=job_id, tenant="acme")  # what logging's extra= does
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "job ok"
    assert line["level"] == "INFO"
    assert (line["job_id"], line["tenant"]) == (job_id, "acme")
    assert "request_id" not in line


def test_an_exception_is_kept_inside_the_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"]
