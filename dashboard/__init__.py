"""The web dashboard at ``/``: server-rendered pages over the same domain services as the API.

- ``routes/``: the pages and the fragments they poll, a module per resource; ``pages``: the
  templates and how errors become pages; ``deps``: the signed-in session, forms, log tails;
  ``session``: signed session cookies and CSRF tokens; ``security``: the response headers (CSP
  and friends); ``views``: what a page shows of a job, formatted (the status itself comes from
  renderfarm.jobs.status, unchanged); ``farm``: the farm page's replicas.
"""
