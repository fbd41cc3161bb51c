"""The web app the Function App serves: the API (``functions/``, under ``/api``) and the
dashboard (``dashboard/``, at ``/``) side by side, composed by ``webapp.app.create_app``. The two
never import each other; what both need of the process is in ``web_deps/``."""
