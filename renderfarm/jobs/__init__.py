"""Jobs: the request, its plan, its manifest and status, its start and end, cost and previews."""
